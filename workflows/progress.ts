/**
 * What a sweep shows while it runs: the `progress` query (done/total per phase, failures with
 * reasons, reused vs computed steps), the signal a concept workflow sends its parent, and the
 * options every sweep activity shares. Workflow-safe: no Node APIs, types only from elsewhere.
 */
import { defineQuery, defineSignal, type ActivityOptions } from "@temporalio/workflow";
import type { Duration } from "@temporalio/common";

export interface Count {
  done: number;
  total: number;
}

export interface ItemFailure {
  item: string;
  reason: string;
}

export interface StepStats {
  computed: number;
  reused: number;
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

/** Timeouts a caller may shorten (tests use seconds, to see lost workers quickly). */
export interface SweepTimeouts {
  /** A running activity must heartbeat this often (activities heartbeat every second while they run). */
  heartbeat?: Duration;
  /** Longest a single model step may run (perturb, clean captions, calibration). */
  long?: Duration;
  /** Longest any other step may run. */
  short?: Duration;
}

export interface TaskQueues {
  cpu: string;
  gpu: string;
}

/** Transient errors (S3 down, worker lost, server restart) are retried with backoff for ~3 minutes. */
export const RETRY = { initialInterval: "1 second", backoffCoefficient: 2, maximumInterval: "10 seconds", maximumAttempts: 20 } as const;

export function activityOptions(queue: string, kind: "short" | "long", t: SweepTimeouts = {}): ActivityOptions {
  return {
    taskQueue: queue,
    startToCloseTimeout: kind === "long" ? (t.long ?? "2 hours") : (t.short ?? "20 minutes"),
    heartbeatTimeout: t.heartbeat ?? "1 minute",
    retry: RETRY,
  };
}

export const emptyStats = (): StepStats => ({ computed: 0, reused: 0 });
export function addStats(into: StepStats, s?: StepStats): void {
  if (!s) return;
  into.computed += s.computed;
  into.reused += s.reused;
}

/** `<sweepId>/<concept>` with whitespace as `_`: the concept workflow's id. */
export const conceptWorkflowId = (sweepId: string, concept: string) => `${sweepId}/${concept.trim().replace(/\s+/g, "_")}`;
