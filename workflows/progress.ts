/**
 * What a sweep shows while it runs: the `progress` query (done/total per phase, failures with
 * reasons, reused vs computed steps) and the signal a concept workflow sends its parent. Shared
 * by the workflows (workflows/tracking.ts keeps the counts) and `kneuron sweep watch`.
 * Workflow-safe: no Node APIs, types only from elsewhere.
 */
import { defineQuery, defineSignal } from "@temporalio/workflow";
import type { ItemFailure } from "../core/errors.js";
import type { StepStats } from "../core/pipeline/context.js";

export type { ItemFailure, StepStats };

export interface Count {
  done: number;
  total: number;
}

/** The phases of a sweep, in order (the progress bars of `kneuron sweep watch`). */
export const PHASES = ["plan", "captions", "calibrate", "inpaint", "check", "identify", "select", "interpret", "perturb", "score", "causal", "aggregate", "report"] as const;
export type Phase = (typeof PHASES)[number];

export interface ConceptProgress {
  concept: string;
  /** calibrate | samples | done | failed | cancelled */
  phase: string;
  phases: Partial<Record<Phase, Count>>;
  samples: Count;
  /** Samples the paper's constraints rejected (not failures: they are reported as such). */
  rejected: number;
  failures: ItemFailure[];
  steps: StepStats;
}

export interface SweepProgress {
  sweepId: string;
  /** plan | captions | concepts | aggregate | report | done | failed | cancelled */
  phase: string;
  phases: Record<Phase, Count>;
  concepts: Record<string, { phase: string; samples: Count; rejected: number; failures: number }>;
  samples: Count;
  rejected: number;
  failures: ItemFailure[];
  steps: StepStats;
  resultsKey?: string;
  reportKey?: string | null;
  /**
   * Concepts still running: the sweep holds only their start (phase "start", sample totals) and
   * reads nothing more until they finish, so its history stays bounded. A client adds their own
   * `conceptProgress` (workflows/watch.ts sweepProgress); absent in sweeps from before that.
   */
  live?: string[];
}

export const progressQuery = defineQuery<SweepProgress>("progress");
export const conceptProgressQuery = defineQuery<ConceptProgress>("conceptProgress");
/**
 * The old way a concept workflow told its parent how far it was, after every step (≈ 9 signals a
 * sample in the parent's history). Sent only by concept workflows recorded before the
 * `bounded-history` patch; the handler stays so that their replay and running sweeps keep it.
 */
export const conceptProgressSignal = defineSignal<[ConceptProgress]>("conceptProgress");

export const emptyStats = (): StepStats => ({ computed: 0, reused: 0 });
export function addStats(into: StepStats, s?: StepStats): void {
  if (!s) return;
  into.computed += s.computed;
  into.reused += s.reused;
}

/**
 * The sweep's progress with the live concepts' own progress added in (the placeholders of
 * running concepts carry their sample totals and zeros otherwise, so their counts add up).
 */
export function withLive(p: SweepProgress, live: ConceptProgress[]): SweepProgress {
  const out: SweepProgress = { ...p, phases: { ...p.phases }, concepts: { ...p.concepts }, samples: { ...p.samples }, failures: [...p.failures], steps: { ...p.steps }, live: [] };
  for (const c of live) {
    for (const [k, n] of Object.entries(c.phases)) {
      const o = out.phases[k as Phase];
      out.phases[k as Phase] = { done: o.done + n.done, total: o.total + n.total };
    }
    addStats(out.steps, c.steps);
    out.failures.push(...c.failures);
    out.samples.done += c.samples.done;
    out.rejected += c.rejected;
    out.concepts[c.concept] = { phase: c.phase, samples: c.samples, rejected: c.rejected, failures: c.failures.length };
  }
  return out;
}

/** `<sweepId>/<concept>` with whitespace as `_`: the concept workflow's id. */
export const conceptWorkflowId = (sweepId: string, concept: string) => `${sweepId}/${concept.trim().replace(/\s+/g, "_")}`;
