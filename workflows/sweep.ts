/**
 * A whole sweep (workflow id = the sweep id): plan → clean captions of the evaluation images
 * (and of the calibration images for `auto` thresholds) → one child conceptWorkflow per concept,
 * in parallel → aggregate → report. Orchestration only: every step is an activity over
 * core/pipeline, so a retry, a resume or a second worker reuses whatever is already in the store.
 */
import { executeChild, isCancellation } from "@temporalio/workflow";
import type { SweepSpec } from "../core/spec.js";
import { conceptWorkflow, type ConceptWorkflowResult } from "./concept.js";
import { sweepActivities, type SweepTimeouts, type TaskQueues } from "./options.js";
import { conceptWorkflowId, type ItemFailure, type SweepProgress } from "./progress.js";
import { ConceptKey, PhaseKey, SweepIdKey } from "./search-attributes.js";
import { SweepTracker } from "./tracking.js";

export interface SweepWorkflowInput {
  sweepId: string;
  /** A parsed spec (core/spec.ts parseSpec); the plan activity validates it again. */
  spec: SweepSpec;
  /** Workflows cannot read config: the starter passes the queues. */
  taskQueues: TaskQueues;
  timeouts?: SweepTimeouts;
  /** Samples per concept-workflow run before it continues as new (tests and the scale bench). */
  samplesPerRun?: number;
  /** The dataset and bundle pushed to the store (core/pipeline/push.ts): workers read their cached copies. */
  data?: { dataset: string; bundle: string };
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
    noise: `levels ${spec.noise.levels.join("/")} (${spec.noise.unit}, ${spec.noise.scope} positions), ${spec.noise.draws} draws`,
    sets: spec.eval.sets,
    thresholds: t.mode === "auto" ? `auto (${t.actQuantiles.length}x${t.gradQuantiles.length} grid)` : `rules (act ${JSON.stringify(t.default.act)}, grad ${JSON.stringify(t.default.grad)})`,
    seed: String(spec.seed),
  };
}

export async function sweepWorkflow(input: SweepWorkflowInput): Promise<SweepWorkflowResult> {
  const { sweepId, spec, taskQueues, timeouts, samplesPerRun } = input;
  const { cpu, long } = sweepActivities(taskQueues, timeouts);
  const t = new SweepTracker(sweepId);
  try {
    t.phase("plan");
    const plan = await t.step("plan", () => cpu.planSweep({ sweepId, spec, data: input.data }));
    const { planKey } = plan;
    t.planFailures.push(...plan.failures);

    t.phase("captions");
    const { cleanKey } = await t.step("captions", () => long("captionImages", `clean captions of ${plan.evalImages} evaluation images`, { planKey, spec, set: "eval" }));
    const cleanCalibrationKey = plan.calibration
      ? (await t.step("captions", () => long("captionImages", "clean captions of the calibration images", { planKey, spec, set: "calibration" }))).cleanKey
      : undefined;

    t.phase("concepts");
    // allSettled: on a cancel every child finishes cancelling before the sweep closes (closing
    // first would terminate the children still cleaning up).
    const settled = await Promise.allSettled(plan.concepts.map((concept) => {
      const samples = plan.samples.filter((s) => s.concept === concept).map((s) => s.id);
      return t.concept(concept, samples.length, () => executeChild(conceptWorkflow, {
        workflowId: conceptWorkflowId(sweepId, concept),
        args: [{ sweepId, concept, planKey, spec, samples, cleanKey, cleanCalibrationKey, taskQueues, timeouts, samplesPerRun }],
        taskQueue: taskQueues.cpu,
        typedSearchAttributes: [{ key: SweepIdKey, value: sweepId }, { key: ConceptKey, value: concept }, { key: PhaseKey, value: "start" }],
        staticSummary: `${concept}: ${samples.length} sample(s) of sweep ${sweepId}`,
        memo: { sweepId, concept },
      }));
    }));
    const refused = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (refused) throw refused.reason;
    const results = settled.map((r) => (r as PromiseFulfilledResult<ConceptWorkflowResult | null>).value);
    const { outcomes, failures, rejected } = t.collect(plan.concepts, results);

    t.phase("aggregate");
    const { resultsKey } = await t.step("aggregate", () => cpu.aggregateSweep({ planKey, spec, outcomes, failures }));
    t.resultsKey = resultsKey;

    t.phase("report");
    const { reportKey } = await t.step("report", () => cpu.reportSweep({ sweepId, planKey, resultsKey }));
    t.reportKey = reportKey;

    t.phase("done");
    return { sweepId, planKey, resultsKey, reportKey, samples: plan.samples.length, rejected, failures: [...plan.failures, ...failures], steps: t.snapshot().steps };
  } catch (e) {
    t.phase(isCancellation(e) ? "cancelled" : "failed");
    throw e;
  }
}
