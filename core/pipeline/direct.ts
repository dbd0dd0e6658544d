// The direct runner: the whole protocol in one process, no Temporal. The sweep workflows call
// the same steps through activities; this runner is also the orchestration benchmark's baseline.
import { isBadInput } from "../errors.js";
import { StoreAccessError } from "../store/errors.js";
import { rulesFor, type SweepSpec } from "../spec.js";
import { aggregateSweep, type SampleOutcome } from "./aggregate.js";
import { calibrateConcept, type CalibrationResult } from "./calibrate.js";
import type { PipelineContext } from "./context.js";
import { planSweep, type PlanFailure, type SampleRef, type SweepPlan } from "./plan.js";
import { writeLatest, writeSweepSpec } from "./records.js";
import { ablateSample, localiseSample } from "./causal.js";
import { captionImages, checkSample, evaluationImages, identifySample, inpaintSample, interpretSample, perturbGroup, scoreGroup, selectNeurons } from "./steps.js";

/**
 * One bad item never takes the run down: any error inside a sample's (or a concept's) steps fails
 * that item with its message, except a store that stopped answering, which every later step needs.
 */
const failsOnlyItsItem = (e: unknown) => !(e instanceof StoreAccessError);
/** Bad input says what is wrong with the item; anything else also says what kind of error it was. */
const reasonOf = (e: unknown) => (isBadInput(e) ? e.message : e instanceof Error ? `${e.name}: ${e.message}` : `thrown: ${String(e)}`);

/** Steps 1–7 for one sample; the Temporal concept workflow runs the same sequence as activities. */
export async function runSample(ctx: PipelineContext, plan: SweepPlan, spec: SweepSpec, sample: SampleRef, cleanKey: string, calibration?: CalibrationResult): Promise<SampleOutcome> {
  const inpaint = await inpaintSample(ctx, plan, spec, sample);
  const { key: sampleKey, record } = await checkSample(ctx, plan, spec, sample, inpaint);
  const outcome: SampleOutcome = { sampleKey, scoreKeys: [], perturbKeys: {}, calibration: calibration?.summary };
  if (record.status === "accepted") outcome.cleanKey = cleanKey;
  if (record.status !== "accepted") return outcome;
  const identifyKey = await identifySample(ctx, plan, record, { panPosition: spec.pan.position });
  const rules = calibration?.rules ?? rulesFor(spec.thresholds, sample.concept);
  const { key: selectionKey, selection } = await selectNeurons(ctx, spec, record, identifyKey, rules);
  outcome.selectionKey = selectionKey;
  outcome.interpretKey = await interpretSample(ctx, plan, record, identifyKey, selectionKey);
  const images = await evaluationImages(ctx, plan, spec, sample.concept, cleanKey);
  for (const group of selection.groups) {
    const keys = await perturbGroup(ctx, plan, spec, record, group, images, cleanKey);
    outcome.perturbKeys[group.name] = keys;
    outcome.scoreKeys.push((await scoreGroup(ctx, spec, record, group, images, keys, cleanKey)).key);
  }
  if (spec.causal.enabled) {
    outcome.localiseKey = (await localiseSample(ctx, plan, record, identifyKey, selectionKey)).key;
    outcome.ablateKey = (await ablateSample(ctx, plan, spec, record, identifyKey, selectionKey, images, cleanKey)).key;
  }
  return outcome;
}

export interface DirectRunResult {
  sweepId: string;
  planKey: string;
  resultsKey: string;
  failures: PlanFailure[];
}

export async function runDirect(ctx: PipelineContext, sweepId: string, spec: SweepSpec, log: (m: string) => void = () => {}): Promise<DirectRunResult> {
  // Beside the results, so a report (or a resume) knows what was asked.
  await writeSweepSpec(ctx.store, sweepId, spec);
  const { key: planKey, plan } = await planSweep(ctx, sweepId, spec);
  log(`plan: ${plan.concepts.length} concepts, ${plan.samples.length} samples, ${plan.evalImages.length} evaluation images`);
  const cleanKey = await captionImages(ctx, plan, spec);
  const cleanCalKey = plan.calibration ? await captionImages(ctx, plan, spec, plan.calibration.images) : undefined;
  const outcomes: SampleOutcome[] = [];
  const failures: PlanFailure[] = [];
  for (const concept of plan.concepts) {
    let calibration: CalibrationResult | undefined;
    try {
      if (spec.thresholds.mode === "auto") calibration = await calibrateConcept(ctx, plan, spec, concept, cleanCalKey!);
      for (const sample of plan.samples.filter((s) => s.concept === concept)) {
        try {
          outcomes.push(await runSample(ctx, plan, spec, sample, cleanKey, calibration));
        } catch (e) {
          if (!failsOnlyItsItem(e)) throw e;
          failures.push({ item: `sample ${sample.id}`, reason: reasonOf(e) });
        }
      }
    } catch (e) {
      if (!failsOnlyItsItem(e)) throw e;
      failures.push({ item: `concept ${concept}`, reason: reasonOf(e) });
    }
    log(`${concept}: done`);
  }
  const model = await ctx.model();
  const encoder = (await ctx.bertScorer()).identity;
  const resultsKey = await aggregateSweep(ctx, plan, spec, outcomes, failures, model.manifest.layers, encoder);
  await writeLatest(ctx.store, sweepId, { resultsKey, planKey });
  return { sweepId, planKey, resultsKey, failures: [...plan.failures, ...failures] };
}
