/**
 * The workflows' progress bookkeeping, kept out of their orchestration: counts per phase, failed
 * items with their reasons, steps computed vs reused, the `KneuronPhase` search attribute, the
 * details shown in the Web UI, the `progress` queries and the concept → sweep signal.
 * Workflow code only (deterministic; every call here runs inside a workflow).
 */
import {
  ActivityFailure,
  ApplicationFailure,
  ChildWorkflowFailure,
  getExternalWorkflowHandle,
  isCancellation,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from "@temporalio/workflow";
import type { SampleOutcome } from "../core/pipeline/aggregate.js";
import type { ConceptWorkflowResult } from "./concept.js";
import type { StoredOutcomes } from "../activities/sweep.js";
import {
  addStats,
  type ConceptProgress,
  conceptProgressQuery,
  conceptProgressSignal,
  emptyStats,
  type ItemFailure,
  type Phase,
  PHASES,
  progressQuery,
  type StepStats,
  type SweepProgress,
} from "./progress.js";
import { PhaseKey } from "./search-attributes.js";

/** The bare reason of a failed activity or child (bad-input failures carry it in details[0]). */
export function failureReason(e: unknown): string {
  let c = e as Error | undefined;
  while ((c instanceof ActivityFailure || c instanceof ChildWorkflowFailure) && c.cause) c = c.cause;
  if (c instanceof ApplicationFailure) {
    const d = c.details?.[0] as { reason?: unknown } | undefined;
    if (typeof d?.reason === "string") return d.reason;
  }
  return c?.message ?? String(e);
}

/** A failure of `item`, unless it is a cancellation (rethrown: a cancelled sweep stops). */
function recordable(item: string, e: unknown): ItemFailure {
  if (isCancellation(e)) throw e;
  return { item, reason: failureReason(e) };
}

/**
 * One concept workflow's progress, answered by its `conceptProgress` query and shown in the UI.
 * Signalled to the parent sweep after every change only by runs from before the bounded-history
 * patch (`signalParent`); a run after a continue-as-new starts from the progress it was handed.
 */
export class ConceptTracker {
  readonly progress: ConceptProgress;
  private readonly parent: ReturnType<typeof workflowInfo>["parent"];
  /** Failed samples of this run by position (the results step hashes them in plan order). */
  private readonly failed: (ItemFailure | null)[];
  /** Failures of earlier runs, in plan order. */
  private readonly before: ItemFailure[];

  constructor(concept: string, samples: number, o: { signalParent: boolean; carried?: ConceptProgress }) {
    this.progress = o.carried ?? { concept, phase: "start", phases: {}, samples: { done: 0, total: samples }, rejected: 0, failures: [], steps: emptyStats() };
    this.before = [...this.progress.failures];
    this.parent = o.signalParent ? workflowInfo().parent : undefined;
    this.failed = Array.from({ length: samples }, () => null);
    setHandler(conceptProgressQuery, () => this.progress);
  }

  phase(phase: string): void {
    this.progress.phase = phase;
    upsertSearchAttributes([{ key: PhaseKey, value: phase }]);
    this.report();
  }

  expect(phase: Phase, n: number): void {
    this.count(phase).total += n;
  }

  /** Counts a finished step of a phase (and the steps the activity computed or reused). */
  done<T extends { steps?: StepStats }>(phase: Phase, r: T): T {
    this.count(phase).done++;
    addStats(this.progress.steps, r.steps);
    this.report();
    return r;
  }

  /** Counts the steps of an activity that is no phase of its own (storing outcomes). */
  stats<T extends { steps?: StepStats }>(r: T): T {
    addStats(this.progress.steps, r.steps);
    return r;
  }

  rejected(): void {
    this.progress.rejected++;
  }

  /** Runs sample `k`: a failure is recorded with its reason (null outcome), a cancellation goes on up. */
  async sample<T>(k: number, id: string, run: () => Promise<T>): Promise<T | null> {
    try {
      return await run();
    } catch (e) {
      this.failed[k] = recordable(`sample ${id}`, e);
      this.progress.failures.push(this.failed[k]!);
      return null;
    } finally {
      this.progress.samples.done++;
      this.report();
    }
  }

  /** The concept as a whole failed (calibration): every sample's outcome is null. */
  failConcept(e: unknown): ConceptWorkflowResult {
    this.progress.failures.push(recordable(`concept ${this.progress.concept}`, e));
    this.phase("failed");
    return this.result(this.failed.map(() => null));
  }

  /** Failures in plan order, whatever order they happened in (the progress a next run carries on from). */
  ordered(): ConceptProgress {
    this.progress.failures = [...this.before, ...this.failed.filter((f): f is ItemFailure => f !== null)];
    return this.progress;
  }

  /** Failures in plan order; phase done. The outcomes inline, or (bounded) the store keys of each run's outcomes. */
  finish(outcomes: (SampleOutcome | null)[], calibration?: ConceptWorkflowResult["calibration"], outcomeKeys?: string[]): ConceptWorkflowResult {
    this.ordered();
    this.phase("done");
    return this.result(outcomes, calibration, outcomeKeys);
  }

  private result(outcomes: (SampleOutcome | null)[], calibration?: ConceptWorkflowResult["calibration"], outcomeKeys?: string[]): ConceptWorkflowResult {
    const p = this.progress;
    return { concept: p.concept, outcomes, outcomeKeys, failures: p.failures, rejected: p.rejected, calibration, steps: p.steps, progress: p };
  }

  private count(phase: Phase) {
    return (this.progress.phases[phase] ??= { done: 0, total: 0 });
  }

  private report(): void {
    const p = this.progress;
    setCurrentDetails([
      `**${p.concept}** — ${p.phase}: samples ${p.samples.done}/${p.samples.total}, rejected ${p.rejected}, failed ${p.failures.length}`,
      ...Object.entries(p.phases).map(([k, c]) => `- ${k}: ${c.done}/${c.total}`),
    ].join("\n"));
    if (this.parent) void getExternalWorkflowHandle(this.parent.workflowId, this.parent.runId).signal(conceptProgressSignal, p).catch(() => undefined);
  }
}

type OwnPhase = "plan" | "captions" | "aggregate" | "report";

/** The sweep workflow's progress: its own steps plus the latest snapshot each concept workflow signalled. */
export class SweepTracker {
  resultsKey?: string;
  reportKey?: string | null;
  /** Plan failures (unknown concepts, short datasets). */
  readonly planFailures: ItemFailure[] = [];
  private current = "plan";
  private readonly own = Object.fromEntries(PHASES.map((p) => [p, { done: 0, total: 0 }])) as SweepProgress["phases"];
  private readonly ownStats = emptyStats();
  private readonly children = new Map<string, ConceptProgress>();
  /** Concepts running whose progress this workflow does not hold (they answer their own query). */
  private readonly live = new Set<string>();

  constructor(readonly sweepId: string) {
    setHandler(progressQuery, () => this.snapshot());
    // Only concept workflows from before the bounded-history patch signal.
    setHandler(conceptProgressSignal, (p) => {
      this.children.set(p.concept, p);
      this.live.delete(p.concept);
      this.show();
    });
  }

  phase(phase: string): void {
    this.current = phase;
    upsertSearchAttributes([{ key: PhaseKey, value: phase }]);
    this.show();
  }

  /** Runs one of the sweep's own steps, counted under `name`. */
  async step<T extends { steps?: StepStats }>(name: OwnPhase, run: () => Promise<T>): Promise<T> {
    this.own[name].total++;
    this.show();
    const r = await run();
    this.own[name].done++;
    addStats(this.ownStats, r.steps);
    this.show();
    return r;
  }

  /** Runs one concept workflow; its failure is recorded against the concept (null result). */
  async concept(concept: string, samples: number, run: () => Promise<ConceptWorkflowResult>): Promise<ConceptWorkflowResult | null> {
    this.children.set(concept, { concept, phase: "start", phases: {}, samples: { done: 0, total: samples }, rejected: 0, failures: [], steps: emptyStats() });
    this.live.add(concept);
    try {
      const r = await run();
      this.children.set(concept, r.progress);
      return r;
    } catch (e) {
      const c = this.children.get(concept)!;
      this.children.set(concept, { ...c, phase: "failed", failures: [...c.failures, recordable(`concept ${concept}`, e)] });
      return null;
    } finally {
      this.live.delete(concept);
      this.show();
    }
  }

  /** Outcomes and failures in plan order (concept, then sample), exactly as the direct runner. */
  collect(concepts: string[], results: (ConceptWorkflowResult | null)[]) {
    const outcomes: (SampleOutcome | StoredOutcomes)[] = [];
    const failures: ItemFailure[] = [];
    let rejected = 0;
    concepts.forEach((concept, k) => {
      const r = results[k];
      if (!r) {
        failures.push(...this.children.get(concept)!.failures);
        return;
      }
      // A child's final result is the truth (its last progress signal may not have arrived).
      this.children.set(concept, r.progress);
      if (r.outcomeKeys) outcomes.push(...r.outcomeKeys.map((stored) => ({ stored })));
      else outcomes.push(...r.outcomes.filter((o): o is SampleOutcome => o !== null));
      failures.push(...r.failures);
      rejected += r.rejected;
    });
    return { outcomes, failures, rejected };
  }

  /** This workflow's own counts plus the latest snapshot of every concept workflow. */
  snapshot(): SweepProgress {
    const phases = Object.fromEntries(PHASES.map((k) => [k, { ...this.own[k] }])) as SweepProgress["phases"];
    const steps = { ...this.ownStats };
    const concepts: SweepProgress["concepts"] = {};
    const failures = [...this.planFailures];
    const samples = { done: 0, total: 0 };
    let rejected = 0;
    for (const c of this.children.values()) {
      for (const [k, n] of Object.entries(c.phases)) {
        phases[k as Phase].done += n.done;
        phases[k as Phase].total += n.total;
      }
      addStats(steps, c.steps);
      concepts[c.concept] = { phase: c.phase, samples: c.samples, rejected: c.rejected, failures: c.failures.length };
      failures.push(...c.failures);
      samples.done += c.samples.done;
      samples.total += c.samples.total;
      rejected += c.rejected;
    }
    return { sweepId: this.sweepId, phase: this.current, phases, concepts, samples, rejected, failures, steps, resultsKey: this.resultsKey, reportKey: this.reportKey, live: [...this.live] };
  }

  private show(): void {
    const s = this.snapshot();
    const bar = (k: Phase) => `${k} ${s.phases[k].done}/${s.phases[k].total}`;
    setCurrentDetails([
      `**${s.sweepId}** — phase **${s.phase}**`,
      `samples ${s.samples.done}/${s.samples.total} (rejected ${s.rejected}), failures ${s.failures.length}, steps computed ${s.steps.computed} / reused ${s.steps.reused}`,
      PHASES.filter((k) => s.phases[k].total > 0).map(bar).join(" · "),
      ...s.failures.slice(0, 10).map((f) => `- ✗ ${f.item}: ${f.reason}`),
    ].join("\n\n"));
  }
}
