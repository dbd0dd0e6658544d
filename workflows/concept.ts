/**
 * One knowledge of a sweep (child workflow `<sweepId>/<concept>`): auto thresholds if asked, then
 * every sample in parallel through the protocol (the same sequence as core/pipeline/direct.ts
 * runSample): inpaint → check → if accepted: identify → select → interpret and, per method
 * group, perturb → score. A failed sample is recorded with its reason; the others go on.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  ChildWorkflowFailure,
  getExternalWorkflowHandle,
  isCancellation,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from "@temporalio/workflow";
import type { CpuSweepActivities, ModelSweepActivities } from "../activities/sweep.js";
import type { SampleOutcome } from "../core/pipeline/aggregate.js";
import type { CalibrationResult } from "../core/pipeline/calibrate.js";
import type { SweepSpec } from "../core/spec.js";
import { PhaseKey } from "./search-attributes.js";
import {
  activityOptions,
  addStats,
  type ConceptProgress,
  conceptProgressQuery,
  conceptProgressSignal,
  emptyStats,
  type ItemFailure,
  type Phase,
  type SweepTimeouts,
  type TaskQueues,
} from "./progress.js";

export interface ConceptWorkflowInput {
  sweepId: string;
  concept: string;
  planKey: string;
  spec: SweepSpec;
  /** Sample ids of this concept, in plan order. */
  samples: string[];
  cleanKey: string;
  cleanCalibrationKey?: string;
  taskQueues: TaskQueues;
  timeouts?: SweepTimeouts;
}

export interface ConceptWorkflowResult {
  concept: string;
  /** One per sample in plan order; null where the sample failed. */
  outcomes: (SampleOutcome | null)[];
  failures: ItemFailure[];
  rejected: number;
  calibration?: CalibrationResult["summary"];
  steps: ConceptProgress["steps"];
  /** The final progress (a parent must not rely on the last signal having arrived first). */
  progress: ConceptProgress;
}

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

export async function conceptWorkflow(input: ConceptWorkflowInput): Promise<ConceptWorkflowResult> {
  const { spec, planKey, concept, taskQueues, timeouts } = input;
  const cpu = proxyActivities<CpuSweepActivities>(activityOptions(taskQueues.cpu, "short", timeouts));
  const gpu = proxyActivities<ModelSweepActivities>(activityOptions(taskQueues.gpu, "short", timeouts));
  const gpuLong = proxyActivities<ModelSweepActivities>(activityOptions(taskQueues.gpu, "long", timeouts));

  const progress: ConceptProgress = {
    concept, phase: "start", phases: {}, samples: { done: 0, total: input.samples.length }, rejected: 0, failures: [], steps: emptyStats(),
  };
  const count = (phase: Phase) => (progress.phases[phase] ??= { done: 0, total: 0 });
  const parent = workflowInfo().parent;
  const report = () => {
    const p = progress.phases;
    setCurrentDetails([
      `**${concept}** — ${progress.phase}: samples ${progress.samples.done}/${progress.samples.total}, rejected ${progress.rejected}, failed ${progress.failures.length}`,
      ...Object.entries(p).map(([k, c]) => `- ${k}: ${c.done}/${c.total}`),
    ].join("\n"));
    if (parent) void getExternalWorkflowHandle(parent.workflowId, parent.runId).signal(conceptProgressSignal, progress).catch(() => undefined);
  };
  setHandler(conceptProgressQuery, () => progress);
  const setPhase = (phase: string) => {
    progress.phase = phase;
    upsertSearchAttributes([{ key: PhaseKey, value: phase }]);
    report();
  };
  /** Count a finished step of a phase (and the steps the activity computed or reused). */
  const done = <T extends { steps?: ConceptProgress["steps"] }>(phase: Phase, r: T): T => {
    count(phase).done++;
    addStats(progress.steps, r.steps);
    report();
    return r;
  };
  const expect = (phase: Phase, n: number) => (count(phase).total += n);

  let calibration: CalibrationResult | undefined;
  const result = (outcomes: (SampleOutcome | null)[]): ConceptWorkflowResult => ({
    concept, outcomes, failures: progress.failures, rejected: progress.rejected, calibration: calibration?.summary, steps: progress.steps, progress,
  });

  try {
    if (spec.thresholds.mode === "auto") {
      setPhase("calibrate");
      expect("calibrate", 1);
      try {
        calibration = done("calibrate", await gpuLong.calibrateConcept.executeWithOptions(
          { ...activityOptions(taskQueues.gpu, "long", timeouts), summary: `calibrate thresholds of ${concept}` },
          [{ planKey, spec, concept, cleanKey: input.cleanCalibrationKey }],
        ));
      } catch (e) {
        if (isCancellation(e)) throw e;
        progress.failures.push({ item: `concept ${concept}`, reason: failureReason(e) });
        setPhase("failed");
        return result(input.samples.map(() => null));
      }
    }

    setPhase("samples");
    expect("inpaint", input.samples.length);
    expect("check", input.samples.length);

    const runSample = async (sampleId: string): Promise<SampleOutcome> => {
      const inpaint = done("inpaint", await cpu.inpaintSample({ planKey, spec, sampleId }));
      const check = done("check", await gpu.checkSample({ planKey, spec, sampleId, inpaint: { key: inpaint.key, overlap: inpaint.overlap } }));
      const outcome: SampleOutcome = { sampleKey: check.sampleKey, scoreKeys: [], perturbKeys: {}, calibration: calibration?.summary };
      if (check.status !== "accepted") {
        progress.rejected++;
        return outcome;
      }
      const sampleKey = check.sampleKey;
      expect("identify", 1);
      expect("select", 1);
      expect("interpret", 1);
      expect("perturb", spec.methods.length);
      expect("score", spec.methods.length);
      const { identifyKey } = done("identify", await gpu.identifySample({ planKey, sampleId, sampleKey }));
      const sel = done("select", await cpu.selectNeurons({ spec, sampleId, sampleKey, identifyKey, rules: calibration?.rules }));
      outcome.selectionKey = sel.selectionKey;
      const group = async (method: string) => {
        const { perturbKeys } = done("perturb", await gpuLong.perturbGroup.executeWithOptions(
          { ...activityOptions(taskQueues.gpu, "long", timeouts), summary: `noise runs: ${sampleId} ${method}` },
          [{ planKey, spec, sampleId, sampleKey, identifyKey, selectionKey: sel.selectionKey, method, cleanKey: input.cleanKey }],
        ));
        const { scoreKey } = done("score", await cpu.scoreGroup({ planKey, spec, sampleId, sampleKey, identifyKey, selectionKey: sel.selectionKey, method, perturbKeys }));
        return { perturbKeys, scoreKey };
      };
      const [interpret, groups] = await Promise.all([
        gpu.interpretSample({ planKey, sampleId, sampleKey, identifyKey, selectionKey: sel.selectionKey }).then((r) => done("interpret", r)),
        Promise.all(sel.groups.map((g) => group(g.method))),
      ]);
      outcome.interpretKey = interpret.interpretKey;
      // Same key order as the direct runner: the results step hashes the outcomes.
      sel.groups.forEach((g, k) => {
        outcome.perturbKeys[g.method] = groups[k].perturbKeys;
        outcome.scoreKeys.push(groups[k].scoreKey);
      });
      return outcome;
    };

    const failures: (ItemFailure | null)[] = input.samples.map(() => null);
    const outcomes = await Promise.all(input.samples.map(async (id, k) => {
      try {
        return await runSample(id);
      } catch (e) {
        if (isCancellation(e)) throw e;
        failures[k] = { item: `sample ${id}`, reason: failureReason(e) };
        progress.failures.push(failures[k]!);
        return null;
      } finally {
        progress.samples.done++;
        report();
      }
    }));
    // Failures in plan order, whatever order they happened in (the results step hashes them).
    progress.failures = failures.filter((f): f is ItemFailure => f !== null);
    setPhase("done");
    return result(outcomes);
  } catch (e) {
    if (isCancellation(e)) setPhase("cancelled");
    throw e;
  }
}
