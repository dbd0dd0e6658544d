/**
 * One knowledge of a sweep (child workflow `<sweepId>/<concept>`): auto thresholds if asked, then
 * the samples in parallel through the protocol (the same sequence as core/pipeline/direct.ts
 * runSample): inpaint → check → if accepted: identify → select → interpret and, per method
 * group, perturb → score. A failed sample is recorded with its reason; the others go on.
 *
 * Bounded history (patch `bounded-history`): a run takes at most `samplesPerRun` samples (≈ 120
 * events each), stores their outcomes and continues as new with the rest, carrying its progress,
 * the calibration and the outcome keys; the progress is queried, never signalled to the parent.
 */
import { continueAsNew, isCancellation, patched } from "@temporalio/workflow";
import type { SampleOutcome } from "../core/pipeline/aggregate.js";
import type { CalibrationResult } from "../core/pipeline/calibrate.js";
import type { SweepSpec } from "../core/spec.js";
import { sweepActivities, type SweepTimeouts, type TaskQueues } from "./options.js";
import type { ConceptProgress, ItemFailure } from "./progress.js";
import { ConceptTracker } from "./tracking.js";

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
  /** Samples per run before a continue-as-new (default SAMPLES_PER_RUN). */
  samplesPerRun?: number;
  /** What a run hands the next one. */
  carry?: { next: number; outcomeKeys: string[]; progress: ConceptProgress; calibration?: CalibrationResult };
}

export const BOUNDED_HISTORY = "bounded-history";
export const CAUSAL_TESTS = "causal-tests";
/** ≈ 120 events a sample with 9 groups: 40 samples keep a run near 5,000 events, under the 10,240 warning. */
export const SAMPLES_PER_RUN = 40;

export interface ConceptWorkflowResult {
  concept: string;
  /** One per sample in plan order; null where the sample failed. Empty where outcomeKeys are given. */
  outcomes: (SampleOutcome | null)[];
  /** Bounded runs: the store keys of each run's outcomes (failed samples left out), in plan order. */
  outcomeKeys?: string[];
  failures: ItemFailure[];
  rejected: number;
  calibration?: CalibrationResult["summary"];
  steps: ConceptProgress["steps"];
  /** The final progress (a parent must not rely on the last signal having arrived first). */
  progress: ConceptProgress;
}

export async function conceptWorkflow(input: ConceptWorkflowInput): Promise<ConceptWorkflowResult> {
  const { spec, planKey, concept } = input;
  const acts = sweepActivities(input.taskQueues, input.timeouts);
  // Histories from before the patch signal their parent and run every sample in one run.
  const bounded = patched(BOUNDED_HISTORY);
  const { carry } = input;
  const t = new ConceptTracker(concept, input.samples.length, { signalParent: !bounded, carried: carry?.progress });
  try {
    let calibration = carry?.calibration;
    if (!carry && spec.thresholds.mode === "auto") {
      t.phase("calibrate");
      t.expect("calibrate", 1);
      try {
        const cal = { planKey, spec, concept, cleanKey: input.cleanCalibrationKey };
        calibration = t.done("calibrate", await acts.long("calibrateConcept", `calibrate thresholds of ${concept}`, cal));
      } catch (e) {
        return t.failConcept(e);
      }
    }
    t.phase("samples");
    if (!carry) {
      t.expect("inpaint", input.samples.length);
      t.expect("check", input.samples.length);
    }
    const first = carry?.next ?? 0;
    const ids = bounded ? input.samples.slice(first, first + Math.max(1, input.samplesPerRun ?? SAMPLES_PER_RUN)) : input.samples;
    const outcomes = await Promise.all(ids.map((id, k) => t.sample(k, id, () => runSample(acts, t, input, id, calibration))));
    if (!bounded) return t.finish(outcomes, calibration?.summary);
    return await nextRun(acts, t, input, first + ids.length, outcomes, calibration);
  } catch (e) {
    if (isCancellation(e)) t.phase("cancelled");
    throw e;
  }
}

/** Stores this run's outcomes, then continues as new with the samples left, or finishes with the keys of every run. */
async function nextRun(acts: ReturnType<typeof sweepActivities>, t: ConceptTracker, input: ConceptWorkflowInput, next: number, outcomes: (SampleOutcome | null)[], calibration?: CalibrationResult): Promise<ConceptWorkflowResult> {
  const kept = outcomes.filter((o): o is SampleOutcome => o !== null);
  const { outcomesKey } = t.stats(await acts.cpu.saveOutcomes({ outcomes: kept }));
  const outcomeKeys = [...(input.carry?.outcomeKeys ?? []), outcomesKey];
  if (next < input.samples.length) {
    return continueAsNew<typeof conceptWorkflow>({ ...input, carry: { next, outcomeKeys, progress: t.ordered(), calibration } });
  }
  return t.finish([], calibration?.summary, outcomeKeys);
}

/** One sample's steps as activities; a rejected sample stops after the check. */
async function runSample(acts: ReturnType<typeof sweepActivities>, t: ConceptTracker, input: ConceptWorkflowInput, sampleId: string, calibration?: CalibrationResult): Promise<SampleOutcome> {
  const { cpu, gpu } = acts;
  const { planKey, spec } = input;
  const inpaint = t.done("inpaint", await cpu.inpaintSample({ planKey, spec, sampleId }));
  const check = t.done("check", await gpu.checkSample({ planKey, spec, sampleId, inpaint: { key: inpaint.key, overlap: inpaint.overlap } }));
  const outcome: SampleOutcome = { sampleKey: check.sampleKey, scoreKeys: [], perturbKeys: {}, calibration: calibration?.summary };
  if (check.status === "accepted") outcome.cleanKey = input.cleanKey;
  if (check.status !== "accepted") {
    t.rejected();
    return outcome;
  }
  const sampleKey = check.sampleKey;
  t.expect("identify", 1);
  t.expect("select", 1);
  t.expect("interpret", 1);
  const panPosition = spec.pan?.position === "predicting-token" ? { panPosition: spec.pan.position } : {};
  const { identifyKey } = t.done("identify", await gpu.identifySample({ planKey, sampleId, sampleKey, ...panPosition }));
  const sel = t.done("select", await cpu.selectNeurons({ spec, sampleId, sampleKey, identifyKey, rules: calibration?.rules }));
  // One group per method, several per control method (`random-0` …).
  t.expect("perturb", sel.groups.length);
  t.expect("score", sel.groups.length);
  const selectionKey = sel.selectionKey;
  outcome.selectionKey = selectionKey;
  const group = async (name: string) => {
    const ref = { planKey, spec, sampleId, sampleKey, identifyKey, selectionKey, group: name, cleanKey: input.cleanKey };
    const { perturbKeys } = t.done("perturb", await acts.long("perturbGroup", `noise runs: ${sampleId} ${name}`, ref));
    const { scoreKey } = t.done("score", await cpu.scoreGroup({ ...ref, perturbKeys }));
    return { perturbKeys, scoreKey };
  };
  const [interpret, groups] = await Promise.all([
    gpu.interpretSample({ planKey, sampleId, sampleKey, identifyKey, selectionKey }).then((r) => t.done("interpret", r)),
    Promise.all(sel.groups.map((g) => group(g.name))),
  ]);
  outcome.interpretKey = interpret.interpretKey;
  // Same key order as the direct runner: the results step hashes the outcomes.
  sel.groups.forEach((g, k) => {
    outcome.perturbKeys[g.name] = groups[k].perturbKeys;
    outcome.scoreKeys.push(groups[k].scoreKey);
  });
  // The causal tests (histories from before the patch never ran them).
  if (spec.causal?.enabled && patched(CAUSAL_TESTS)) {
    t.expect("causal", 2);
    const ref = { planKey, spec, sampleId, sampleKey, identifyKey, selectionKey, cleanKey: input.cleanKey };
    const [loc, abl] = await Promise.all([
      cpu.localiseSample(ref).then((r) => t.done("causal", r)),
      acts.long("ablateSample", `ablation: ${sampleId}`, ref).then((r) => t.done("causal", r)),
    ]);
    outcome.localiseKey = loc.localiseKey;
    outcome.ablateKey = abl.ablateKey;
  }
  return outcome;
}
