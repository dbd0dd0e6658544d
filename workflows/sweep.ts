/**
 * A whole sweep (workflow id = the sweep id): plan → clean captions of the evaluation images
 * (and of the calibration images for `auto` thresholds) → one child conceptWorkflow per concept,
 * in parallel → aggregate → report. Orchestration only: every step is an activity over
 * core/pipeline, so a retry, a resume or a second worker reuses whatever is already in the store.
 */
import {
  executeChild,
  isCancellation,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
} from "@temporalio/workflow";
import type { CpuSweepActivities, ModelSweepActivities } from "../activities/sweep.js";
import type { SampleOutcome } from "../core/pipeline/aggregate.js";
import type { SweepSpec } from "../core/spec.js";
import { conceptWorkflow, failureReason, type ConceptWorkflowResult } from "./concept.js";
import { ConceptKey, PhaseKey, SweepIdKey } from "./search-attributes.js";
import {
  activityOptions,
  addStats,
  type ConceptProgress,
  conceptProgressSignal,
  conceptWorkflowId,
  emptyStats,
  type ItemFailure,
  PHASES,
  progressQuery,
  type SweepProgress,
  type SweepTimeouts,
  type TaskQueues,
} from "./progress.js";

export interface SweepWorkflowInput {
  sweepId: string;
  /** A parsed spec (core/spec.ts parseSpec); the plan activity validates it again. */
  spec: SweepSpec;
  /** Workflows cannot read config: the starter passes the queues. */
  taskQueues: TaskQueues;
  timeouts?: SweepTimeouts;
}

export interface SweepWorkflowResult {
  sweepId: string;
  planKey: string;
  resultsKey: string;
  reportKey: string | null;
  samples: number;
  rejected: number;
  /** Plan failures (unknown concepts, short datasets) and failed samples/concepts, with reasons. */
  failures: ItemFailure[];
  steps: SweepProgress["steps"];
}

/** One line per setting that shapes the results: the workflow's memo and the UI's summary. */
export function specSummary(spec: SweepSpec): Record<string, string> {
  const t = spec.thresholds;
  return {
    dataset: spec.dataset.kind === "synthetic" ? `synthetic (seed ${spec.dataset.seed})` : `coco ${spec.dataset.dir} (${spec.dataset.split})`,
    bundle: spec.bundle,
    concepts: spec.concepts.length ? spec.concepts.join(", ") : "all",
    samplesPerConcept: String(spec.samplesPerConcept),
    methods: spec.methods.join(", "),
    noise: `levels ${spec.noise.levels.join("/")}${spec.noise.relative ? " (relative)" : ""}, ${spec.noise.draws} draws`,
    thresholds: t.mode === "auto" ? `auto (${t.actQuantiles.length}x${t.gradQuantiles.length} grid)` : `rules (act ${JSON.stringify(t.default.act)}, grad ${JSON.stringify(t.default.grad)})`,
    seed: String(spec.seed),
  };
}

export async function sweepWorkflow(input: SweepWorkflowInput): Promise<SweepWorkflowResult> {
  const { sweepId, spec, taskQueues, timeouts } = input;
  const cpu = proxyActivities<CpuSweepActivities>(activityOptions(taskQueues.cpu, "short", timeouts));
  const gpuLong = proxyActivities<ModelSweepActivities>(activityOptions(taskQueues.gpu, "long", timeouts));

  const own = Object.fromEntries(PHASES.map((p) => [p, { done: 0, total: 0 }])) as SweepProgress["phases"];
  const children = new Map<string, ConceptProgress>();
  const planFailures: ItemFailure[] = [];
  const ownStats = emptyStats();
  let phase = "plan";
  let resultsKey: string | undefined;
  let reportKey: string | null | undefined;

  /** This workflow's own counts plus the latest snapshot of every concept workflow. */
  const snapshot = (): SweepProgress => {
    const phases = Object.fromEntries(PHASES.map((k) => [k, { ...own[k] }])) as SweepProgress["phases"];
    const steps = { ...ownStats };
    const concepts: SweepProgress["concepts"] = {};
    const failures = [...planFailures];
    const samples = { done: 0, total: 0 };
    let rejected = 0;
    for (const c of children.values()) {
      for (const [k, n] of Object.entries(c.phases)) {
        phases[k as keyof typeof phases].done += n.done;
        phases[k as keyof typeof phases].total += n.total;
      }
      addStats(steps, c.steps);
      concepts[c.concept] = { phase: c.phase, samples: c.samples, rejected: c.rejected, failures: c.failures.length };
      failures.push(...c.failures);
      samples.done += c.samples.done;
      samples.total += c.samples.total;
      rejected += c.rejected;
    }
    return { sweepId, phase, phases, concepts, samples, rejected, failures, steps, resultsKey, reportKey };
  };
  const show = () => {
    const s = snapshot();
    const bar = (k: keyof typeof s.phases) => `${k} ${s.phases[k].done}/${s.phases[k].total}`;
    setCurrentDetails([
      `**${sweepId}** — phase **${s.phase}**`,
      `samples ${s.samples.done}/${s.samples.total} (rejected ${s.rejected}), failures ${s.failures.length}, steps computed ${s.steps.computed} / reused ${s.steps.reused}`,
      PHASES.filter((k) => s.phases[k].total > 0).map(bar).join(" · "),
      ...s.failures.slice(0, 10).map((f) => `- ✗ ${f.item}: ${f.reason}`),
    ].join("\n\n"));
  };
  setHandler(progressQuery, snapshot);
  setHandler(conceptProgressSignal, (p) => {
    children.set(p.concept, p);
    show();
  });
  const setPhase = (p: string) => {
    phase = p;
    upsertSearchAttributes([{ key: PhaseKey, value: p }]);
    show();
  };
  const step = async <T extends { steps?: SweepProgress["steps"] }>(name: keyof typeof own, run: () => Promise<T>): Promise<T> => {
    own[name].total++;
    show();
    const r = await run();
    own[name].done++;
    addStats(ownStats, r.steps);
    show();
    return r;
  };

  try {
    setPhase("plan");
    const plan = await step("plan", () => cpu.planSweep({ sweepId, spec }));
    planFailures.push(...plan.failures);

    setPhase("captions");
    const { cleanKey } = await step("captions", () => gpuLong.captionImages.executeWithOptions(
      { ...activityOptions(taskQueues.gpu, "long", timeouts), summary: `clean captions of ${plan.evalImages} evaluation images` },
      [{ planKey: plan.planKey, spec, set: "eval" }],
    ));
    const cleanCalibrationKey = plan.calibration
      ? (await step("captions", () => gpuLong.captionImages.executeWithOptions(
        { ...activityOptions(taskQueues.gpu, "long", timeouts), summary: "clean captions of the calibration images" },
        [{ planKey: plan.planKey, spec, set: "calibration" }],
      ))).cleanKey
      : undefined;

    setPhase("concepts");
    const results: (ConceptWorkflowResult | null)[] = await Promise.all(plan.concepts.map(async (concept) => {
      const samples = plan.samples.filter((s) => s.concept === concept).map((s) => s.id);
      children.set(concept, { concept, phase: "start", phases: {}, samples: { done: 0, total: samples.length }, rejected: 0, failures: [], steps: emptyStats() });
      try {
        return await executeChild(conceptWorkflow, {
          workflowId: conceptWorkflowId(sweepId, concept),
          args: [{ sweepId, concept, planKey: plan.planKey, spec, samples, cleanKey, cleanCalibrationKey, taskQueues, timeouts }],
          taskQueue: taskQueues.cpu,
          typedSearchAttributes: [{ key: SweepIdKey, value: sweepId }, { key: ConceptKey, value: concept }, { key: PhaseKey, value: "start" }],
          staticSummary: `${concept}: ${samples.length} sample(s) of sweep ${sweepId}`,
          memo: { sweepId, concept },
        });
      } catch (e) {
        if (isCancellation(e)) throw e;
        const c = children.get(concept)!;
        children.set(concept, { ...c, phase: "failed", failures: [...c.failures, { item: `concept ${concept}`, reason: failureReason(e) }] });
        return null;
      }
    }));

    // Outcomes and failures in plan order (concept, then sample), exactly as the direct runner.
    const outcomes: SampleOutcome[] = [];
    const failures: ItemFailure[] = [];
    let rejected = 0;
    plan.concepts.forEach((concept, k) => {
      const r = results[k];
      if (!r) {
        failures.push(...children.get(concept)!.failures);
        return;
      }
      // A child's final result is the truth (its last progress signal may not have arrived).
      children.set(concept, r.progress);
      outcomes.push(...r.outcomes.filter((o): o is SampleOutcome => o !== null));
      failures.push(...r.failures);
      rejected += r.rejected;
    });

    setPhase("aggregate");
    const agg = await step("aggregate", () => cpu.aggregateSweep({ planKey: plan.planKey, spec, outcomes, failures }));
    resultsKey = agg.resultsKey;

    setPhase("report");
    const rep = await step("report", () => cpu.reportSweep({ sweepId, planKey: plan.planKey, resultsKey: agg.resultsKey }));
    reportKey = rep.reportKey;

    setPhase("done");
    return {
      sweepId, planKey: plan.planKey, resultsKey: agg.resultsKey, reportKey: rep.reportKey,
      samples: plan.samples.length, rejected, failures: [...plan.failures, ...failures], steps: snapshot().steps,
    };
  } catch (e) {
    setPhase(isCancellation(e) ? "cancelled" : "failed");
    throw e;
  }
}
