// The causal tests of a sample's neuron groups (docs/METHOD.md "Causal tests"): heatmap
// localisation (cpu, pure) and deterministic ablation (gpu): the teacher-forced drop of log p(t)
// and z_t per group and along each method's ranking, captions under ablation scored like the
// noise runs, and the exhaustive single-neuron ground truth. Idempotent steps like steps.ts.
import { loadCoco } from "../data/coco.js";
import { loadImage } from "../image/io.js";
import { objectMask } from "../image/inpaint.js";
import { ablationRow, curveSizes, fullRanking, permutation, scoreAgainstTruth, type GroundTruthScore } from "../method/ablation.js";
import { heatmapValues } from "../method/decode.js";
import { localise, type Localisation } from "../method/localise.js";
import { flatIndex } from "../method/tensor.js";
import { selectivity, setScores } from "../eval/scores.js";
import { encodeSafetensors } from "../store/index.js";
import { CONTROL_METHODS, type Method, type SweepSpec } from "../spec.js";
import type { ModelRuntime, TargetItem } from "../model/runtime.js";
import { cachedStep, json, readJson, type PipelineContext } from "./context.js";
import type { EvalImage, SweepPlan } from "./plan.js";
import { mentionFn, readActivationStats, readCleanCaptions, readIdentify, scoredSets, type SampleRecord, type Selection } from "./steps.js";

const identity = (plan: SweepPlan) => ({ dataset: plan.dataset.sha256, bundle: plan.bundle.sha256 });

/** What an ablation step reports for a bundle exported before the ffn_scale input. */
export const NO_ABLATION_INPUT = "skipped: this bundle has no ablation input — re-export it";

// ------------------------------------------------------------------------------- localisation

export interface GroupLocalisation extends Localisation { method: Method; group: string }

export interface LocalisationResult {
  sampleId: string;
  concept: string;
  /** Each group's top-5 heatmap (best first; a control's first five) against the object's mask. */
  groups: GroupLocalisation[];
  /** The report's heatmap (top-5 two-stage neurons by activation drop). */
  heatmap: Localisation | null;
}

/** Step (cpu): IoU at the 95th percentile and the pointing game for every group's top-5 heatmap. */
export async function localiseSample(ctx: PipelineContext, plan: SweepPlan, record: SampleRecord, identifyKey: string, selectionKey: string): Promise<{ key: string; result: LocalisationResult }> {
  const inputs = { ...identity(plan), sample: record.sample.id, annotation: record.sample.annotationId, identify: identifyKey, selection: selectionKey, q: 0.95 };
  const key = await cachedStep(ctx, "localise", inputs, async () => {
    const sel = await readJson<Selection>(ctx, selectionKey, "selection.json");
    const { act } = await readIdentify(ctx, identifyKey);
    const manifest = await bundleImage(plan);
    const coco = await loadCoco({ instancesPath: plan.dataset.instances });
    const img = await loadImage(record.sample.file);
    const mask = objectMask(coco.annotation(record.sample.annotationId), img.height, img.width, 0);
    const score = (neurons: { layer: number; index: number }[]): Localisation | null => neurons.length === 0 ? null
      : localise(heatmapValues(act, neurons).subarray(manifest.clsTokens), manifest.tokenGrid, mask, img.height, img.width);
    const groups = sel.groups.flatMap((g) => {
      const s = score(g.neurons.slice(0, 5));
      return s ? [{ method: g.method, group: g.name, ...s }] : [];
    });
    const result: LocalisationResult = { sampleId: record.sample.id, concept: record.sample.concept, groups, heatmap: score(sel.heatmapNeurons) };
    return { "localise.json": json(result) };
  });
  return { key, result: await readJson<LocalisationResult>(ctx, key, "localise.json") };
}

async function bundleImage(plan: SweepPlan): Promise<{ tokenGrid: [number, number]; clsTokens: number }> {
  const { loadBundleManifest } = await import("../model/bundle.js");
  const m = await loadBundleManifest(plan.bundle.dir, { verifyHashes: false });
  return { tokenGrid: m.image.tokenGrid as [number, number], clsTokens: m.image.clsTokens };
}

// ---------------------------------------------------------------------------------- ablation

export interface TargetEffect { logp: number; z: number; drop: number; dz: number }

export interface GroupAblation extends TargetEffect {
  method: Method;
  group: string;
  neurons: number;
  /** Captions of the evaluation images under this one deterministic ablation, scored on the same sets. */
  captions?: { pSame: number; pOther: number; suppression: number; retention: number; dSame: number; dOther: number; selectivity: number };
}

export interface CurvePoint extends TargetEffect { method: string; k: number }

export interface GroundTruth {
  neurons: number;
  /** Per group: precision@k (k = the group's size), Spearman ρ of the ranking, captured share, against the drops of log p(t). */
  scores: ({ method: Method; group: string; k: number } & GroundTruthScore)[];
  /** The same against the drops of z_t (log p(t) saturates when p(t) ≈ 1; the logit does not). */
  scoresZ?: ({ method: Method; group: string; k: number } & GroundTruthScore)[];
  /** The largest single-neuron effects (flat index l·D + i, drop of log p(t)). */
  top: { layer: number; index: number; drop: number }[];
}

export interface AblationResult {
  sampleId: string;
  concept: string;
  /** Set when nothing was measured (e.g. NO_ABLATION_INPUT). */
  skipped?: string;
  value?: "mean" | "zero";
  scope?: "image" | "prompt";
  clean?: { logp: number; z: number };
  /** Captions σ = 0 rates on the scored sets (the reference of the captions' Δ). */
  cleanRates?: { pSame: number; pOther: number };
  groups?: GroupAblation[];
  /** Each method's ranking ablated k = 1, 2, 4, … 4·|N_k|; method `random-uniform` = the band's groups (`group` g). */
  curve?: (CurvePoint & { group?: number })[];
  groundTruth?: GroundTruth | { skipped: string };
}

/** Whether this sample gets the exhaustive ground truth (`causal.groundTruth`: first sample of each knowledge, all, off). */
export function wantsGroundTruth(plan: SweepPlan, spec: SweepSpec, sampleId: string, concept: string): boolean {
  const mode = spec.causal.groundTruth;
  if (mode === "off") return false;
  if (mode === "all") return true;
  return plan.samples.find((s) => s.concept === concept)?.id === sampleId;
}

const effect = (clean: { logp: number; z: number }, r: { logp: number; z: number }): TargetEffect =>
  ({ logp: r.logp, z: r.z, drop: clean.logp - r.logp, dz: clean.z - r.z });

/**
 * The exhaustive ground truth: for every FFN neuron alone, the drop of log p(t) when it is
 * ablated (set to `mean` or 0), [L·D] indexed l·D + i. One batched teacher-forced row per neuron.
 */
export async function singleNeuronEffects(model: ModelRuntime, base: Omit<TargetItem, "scale" | "delta">, opts: { mean?: Float32Array; scope?: "image" | "prompt"; onProgress?(done: number, total: number): void } = {}): Promise<{ logp: Float32Array; z: Float32Array }> {
  const { layers: L, ffnDim: D } = model.manifest;
  const [clean] = await model.target([base], { deltaScope: opts.scope });
  const effects = new Float32Array(L * D), effectsZ = new Float32Array(L * D);
  const chunk = model.maxBatch; // rows of one batch: their [L·D] interventions are built per batch
  for (let f = 0; f < L * D; f += chunk) {
    const flats = Array.from({ length: Math.min(chunk, L * D - f) }, (_, k) => f + k);
    const rows = flats.map((x) => ({ ...base, ...ablationRow([{ layer: Math.floor(x / D), index: x % D }], L, D, opts.mean) }));
    const res = await model.target(rows, { deltaScope: opts.scope });
    res.forEach((r, k) => { effects[f + k] = clean.logp - r.logp; effectsZ[f + k] = clean.z - r.z; });
    opts.onProgress?.(f + flats.length, L * D);
  }
  return { logp: effects, z: effectsZ };
}

/**
 * Step (gpu): the deterministic ablations of one sample. Every row of a batch carries its own
 * ablation (ffn_scale 0, ffn_delta = the neuron's mean over the evaluation images' image positions,
 * or 0), at the image positions (or every prompt position), teacher-forced on caption(x)[<j].
 */
export async function ablateSample(ctx: PipelineContext, plan: SweepPlan, spec: SweepSpec, record: SampleRecord, identifyKey: string, selectionKey: string, images: EvalImage[], cleanKey: string): Promise<{ key: string; result: AblationResult }> {
  const c = spec.causal;
  const gt = wantsGroundTruth(plan, spec, record.sample.id, record.sample.concept);
  const inputs = {
    ...identity(plan), sample: record.sample.id, identify: identifyKey, selection: selectionKey, clean: cleanKey, target: record.target,
    value: c.value, scope: c.scope, curve: c.curve, captions: c.captions, groundTruth: gt, maxNeurons: c.groundTruthMaxNeurons,
    images: images.map((i) => i.imageId), maxNewTokens: spec.eval.maxNewTokens, seed: spec.seed, randomGroups: spec.randomGroups, sets: spec.eval.sets,
  };
  // Wall times go to the step's manifest (meta), not its payload: results stay byte-identical across
  // retries and hosts, and the cost stays readable (`seconds`, `groundTruthSeconds`).
  const timing: { seconds?: number; groundTruthSeconds?: number } = {};
  const key = await cachedStep(ctx, "ablate", inputs, async () => {
    const model = await ctx.model();
    const base = { sampleId: record.sample.id, concept: record.sample.concept };
    if (!model.hasAblation) return { "ablate.json": json({ ...base, skipped: NO_ABLATION_INPUT } satisfies AblationResult) };
    const t0 = performance.now();
    const result = await ablate(ctx, model, plan, spec, record, identifyKey, selectionKey, images, cleanKey, gt, timing);
    timing.seconds = (performance.now() - t0) / 1000;
    const files: Record<string, string | Uint8Array> = { "ablate.json": json({ ...base, ...result.json }) };
    const shape = [model.manifest.layers, model.manifest.ffnDim];
    if (result.effects) files["groundtruth.safetensors"] = encodeSafetensors({ drop: { dtype: "F32", shape, data: result.effects.logp }, drop_z: { dtype: "F32", shape, data: result.effects.z } });
    return files;
  }, timing);
  return { key, result: await readJson<AblationResult>(ctx, key, "ablate.json") };
}

async function ablate(ctx: PipelineContext, model: ModelRuntime, plan: SweepPlan, spec: SweepSpec, record: SampleRecord, identifyKey: string, selectionKey: string,
  images: EvalImage[], cleanKey: string, gt: boolean, timing: { groundTruthSeconds?: number }): Promise<{ json: AblationResult; effects?: { logp: Float32Array; z: Float32Array } }> {
  const c = spec.causal;
  const { layers: L, ffnDim: D } = model.manifest;
  const sel = await readJson<Selection>(ctx, selectionKey, "selection.json");
  const mean = c.value === "mean" ? (await readActivationStats(ctx, cleanKey)).mean : undefined;
  const [embeds] = await model.embedImages([await model.preprocess(record.sample.file)]);
  const target = record.target!;
  const prefix = record.captionIds.slice(0, target.position);
  const item = (flats: readonly number[]): TargetItem => {
    const neurons = flats.map((f) => ({ layer: Math.floor(f / D), index: f % D }));
    return { imageEmbeds: embeds, captionIds: prefix, targetId: target.tokenId, ...ablationRow(neurons, L, D, mean) };
  };
  const run = (rows: TargetItem[], step: string) => model.target(rows, { deltaScope: c.scope }).then((r) => { ctx.progress?.({ step, done: rows.length, total: rows.length }); return r; });
  const [clean] = await model.target([{ imageEmbeds: embeds, captionIds: prefix, targetId: target.tokenId }]);
  const flatsOf = (g: Selection["groups"][number]) => g.neurons.map((n) => flatIndex(n, D));

  // Each group of the selection.
  const groupRes = await run(sel.groups.map((g) => item(flatsOf(g))), `ablate ${record.sample.id}`);
  const groups: GroupAblation[] = sel.groups.map((g, k) => ({ method: g.method, group: g.name, neurons: g.neurons.length, ...effect(clean, groupRes[k]) }));

  // Captions under each group's ablation, scored on the sets of the noise runs.
  let cleanRates: AblationResult["cleanRates"];
  if (c.captions) {
    const cleanCaps = await readCleanCaptions(ctx, cleanKey);
    const sets = scoredSets(spec, record.sample.concept, images, cleanCaps); // the noise runs' sets
    const cl = setScores(record.sample.concept, sets, (id) => cleanCaps[id] ?? "", mentionFn);
    cleanRates = { pSame: cl.pSame, pOther: cl.pOther };
    const embs = await model.embedImages(await Promise.all(images.map((i) => model.preprocess(i.file))));
    const drafts = images.map((i) => model.tokenizer.encode(cleanCaps[i.imageId] ?? ""));
    const withNeurons = sel.groups.map((g, k) => [g, k] as const).filter(([g]) => g.neurons.length > 0);
    const rows = withNeurons.flatMap(([g]) => {
      const ab = ablationRow(g.neurons, L, D, mean);
      return embs.map((e, k) => ({ imageEmbeds: e, draft: drafts[k], delta: ab.delta, scale: ab.scale }));
    });
    const caps = rows.length ? await model.caption(rows, { maxNewTokens: spec.eval.maxNewTokens, deltaScope: c.scope }) : [];
    sel.groups.forEach((g, k) => {
      const at = withNeurons.findIndex(([, j]) => j === k);
      const text = (id: number) => at < 0 ? cleanCaps[id] ?? "" : caps[at * images.length + images.findIndex((i) => i.imageId === id)].text;
      const sr = setScores(record.sample.concept, sets, text, mentionFn);
      groups[k].captions = { pSame: sr.pSame, pOther: sr.pOther, suppression: 1 - sr.pSame, retention: sr.pOther, ...selectivity(cleanRates!, sr) };
    });
  }

  // The curve: each method's ranking cut at k = 1, 2, 4, … 4·|N_k|, and as many uniform random groups per k.
  const t = await readIdentify(ctx, identifyKey);
  const twoStage = sel.groups.find((g) => g.method === "two-stage")?.neurons ?? [];
  const rankIn = { ...t, aggregate: spec.aggregate, twoStage, panAct: spec.pan.position === "predicting-token" ? t.actPredicting : undefined };
  const rankings = new Map<string, number[]>();
  for (const g of sel.groups) {
    if (CONTROL_METHODS.includes(g.method)) {
      // A control's ranking: its own group, then the other neurons in a seeded order.
      const head = flatsOf(g), inHead = new Set(head);
      rankings.set(g.name, [...head, ...permutation(L * D, `${spec.seed}|${record.sample.id}/${g.name}/rank`).filter((f) => !inHead.has(f))]);
    } else rankings.set(g.name, fullRanking(g.method, rankIn, ""));
  }
  const curve: AblationResult["curve"] = [];
  if (c.curve) {
    const n = Math.max(1, twoStage.length);
    const sizes = curveSizes(n, L * D);
    const methods = sel.groups.filter((g) => !CONTROL_METHODS.includes(g.method));
    const rows: { method: string; k: number; group?: number; flats: number[] }[] = [];
    for (const g of methods) for (const k of sizes) rows.push({ method: g.method, k, flats: rankings.get(g.name)!.slice(0, k) });
    for (let r = 0; r < spec.randomGroups; r++) {
      const perm = permutation(L * D, `${spec.seed}|${record.sample.id}/curve-random-${r}`);
      for (const k of sizes) rows.push({ method: "random-uniform", k, group: r, flats: perm.slice(0, k) });
    }
    const res = await run(rows.map((r) => item(r.flats)), `ablation curve ${record.sample.id}`);
    rows.forEach((r, k) => curve.push({ method: r.method, k: r.k, ...(r.group !== undefined ? { group: r.group } : {}), ...effect(clean, res[k]) }));
  }

  // Ground truth: every neuron alone.
  let groundTruth: AblationResult["groundTruth"];
  let effects: { logp: Float32Array; z: Float32Array } | undefined;
  if (gt && L * D > c.groundTruthMaxNeurons) {
    groundTruth = { skipped: `the bundle has ${L * D} FFN neurons, above causal.groundTruthMaxNeurons = ${c.groundTruthMaxNeurons}` };
  } else if (gt) {
    const g0 = performance.now();
    effects = await singleNeuronEffects(model, { imageEmbeds: embeds, captionIds: prefix, targetId: target.tokenId }, { mean, scope: c.scope,
      onProgress: (done, total) => ctx.progress?.({ step: `ground truth ${record.sample.id}`, done, total }) });
    const score = (e: Float32Array) => sel.groups.map((g) => ({ method: g.method, group: g.name, k: g.neurons.length, ...scoreAgainstTruth(rankings.get(g.name)!, g.neurons.length, e) }));
    const lp = effects.logp;
    const top = Array.from(lp.keys()).sort((a, b) => lp[b] - lp[a]).slice(0, 10).map((f) => ({ layer: Math.floor(f / D), index: f % D, drop: lp[f] }));
    timing.groundTruthSeconds = (performance.now() - g0) / 1000;
    groundTruth = { neurons: L * D, scores: score(lp), scoresZ: score(effects.z), top };
  }
  return { json: { sampleId: record.sample.id, concept: record.sample.concept, value: c.value, scope: c.scope, clean, cleanRates, groups, curve, groundTruth }, effects };
}
