/**
 * How the sweep workflows call their activities: task queues, timeouts, the retry policy and the
 * activity proxies. Workflow-safe: no Node APIs, activity types only.
 */
import { proxyActivities, type ActivityOptions } from "@temporalio/workflow";
import type { Duration } from "@temporalio/common";
import type { CpuSweepActivities, ModelSweepActivities } from "../activities/sweep.js";

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

type Model = ModelSweepActivities;

/**
 * The sweep's activity proxies: `cpu` and `gpu` for short steps, and `long(name, summary, input)`
 * for a long model step with a one-line summary shown beside it in the Web UI.
 */
export function sweepActivities(queues: TaskQueues, timeouts?: SweepTimeouts) {
  const longOptions = activityOptions(queues.gpu, "long", timeouts);
  const gpuLong = proxyActivities<Model>(longOptions);
  return {
    cpu: proxyActivities<CpuSweepActivities>(activityOptions(queues.cpu, "short", timeouts)),
    gpu: proxyActivities<Model>(activityOptions(queues.gpu, "short", timeouts)),
    long<K extends "captionImages" | "calibrateConcept" | "perturbGroup" | "ablateSample">(name: K, summary: string, input: Parameters<Model[K]>[0]): ReturnType<Model[K]> {
      const fn = gpuLong[name] as unknown as { executeWithOptions(o: ActivityOptions, args: unknown[]): ReturnType<Model[K]> };
      return fn.executeWithOptions({ ...longOptions, summary }, [input]);
    },
  };
}
