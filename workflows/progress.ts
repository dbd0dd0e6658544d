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
export const PHASES = ["plan", "captions", "calibrate", "inpaint", "check", "identify", "select", "interpret", "perturb", "score", "aggregate", "report"] as const;
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
}

export const progressQuery = defineQuery<SweepProgress>("progress");
export const conceptProgressQuery = defineQuery<ConceptProgress>("conceptProgress");
/** A concept workflow tells its parent sweep how far it is, after every step. */
export const conceptProgressSignal = defineSignal<[ConceptProgress]>("conceptProgress");

export const emptyStats = (): StepStats => ({ computed: 0, reused: 0 });
export function addStats(into: StepStats, s?: StepStats): void {
  if (!s) return;
  into.computed += s.computed;
  into.reused += s.reused;
}

/** `<sweepId>/<concept>` with whitespace as `_`: the concept workflow's id. */
export const conceptWorkflowId = (sweepId: string, concept: string) => `${sweepId}/${concept.trim().replace(/\s+/g, "_")}`;
