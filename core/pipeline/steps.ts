// The protocol's steps (DESIGN.md §2), each an idempotent artifact-producing function that one
// Temporal activity wraps and the direct runner calls in a loop. Inputs are small JSON; outputs
// are store keys; tensors stay in the store as safetensors.
import { loadCoco } from "../data/coco.js";
import { relativeName } from "../data/identity.js";
import { checkCaptions, checkOverlap, otherMasks, type ConstraintResult } from "../data/select.js";
import { mentions, words } from "../data/concepts.js";
import { encodePng, loadImage } from "../image/io.js";
import { objectMask, teleaInpainter } from "../image/inpaint.js";
import { renderHeatmap } from "../image/heatmap.js";
import { type LayerTensor, type ScoredNeuron } from "../method/tensor.js";
import { activationDrop, gradcam, twoStage } from "../method/two-stage.js";
import { pan, panAtPosition, schwettmann } from "../method/baselines.js";
import { noiseDelta } from "../method/noise.js";
import { randomGroup } from "../method/random.js";
import { decodeNeuron, heatmapValues, targetContribution } from "../method/decode.js";
import { evaluationSets, meanDefined, selectivity, setScores, type EvalSets, type SuppressionRetention } from "../eval/scores.js";
import { bleu, rouge1F, rougeLF } from "../eval/metrics/index.js";
import { decodeSafetensors, encodeSafetensors } from "../store/index.js";
import { type Method, type SweepSpec, CONTROL_METHODS, rulesFor } from "../spec.js";

export type PanPosition = "image" | "predicting-token";

function predictingAct(t: IdentifyTensors, record: SampleRecord): Float32Array {
  if (!t.actPredicting) throw new Error(`${record.sample.id}: pan.position "predicting-token" needs the identify step run with it (no act_predicting tensor)`);
  return t.actPredicting;
}
import type { ThresholdRule } from "../method/thresholds.js";
import type { ModelRuntime } from "../model/runtime.js";
import { cachedStep, json, readBytes, readJson, type PipelineContext } from "./context.js";
import type { EvalImage, SampleRef, SweepPlan } from "./plan.js";

/** Dataset + model identity: part of every step key, so a new bundle or dataset recomputes. */
const identity = (plan: SweepPlan) => ({ dataset: plan.dataset.sha256, bundle: plan.bundle.sha256 });
/** A file as its name under the dataset root: no step key holds an absolute path (the same data elsewhere, same keys). */
const located = (plan: SweepPlan, file: string) => relativeName(plan.dataset.dir, file);
/** A sample as it enters a step key (its file by relative name). */
export const sampleInKey = (plan: SweepPlan, s: SampleRef): SampleRef => ({ ...s, file: located(plan, s.file) });

// ------------------------------------------------------------------------------------ inpaint

export interface InpaintResult { key: string; overlap: ConstraintResult }

/** Step 1 (cpu): object mask (dilated) → Telea inpainting; constraint 3 (mask covers no other object). */
export async function inpaintSample(ctx: PipelineContext, plan: SweepPlan, spec: SweepSpec, sample: SampleRef, instances = plan.dataset.instances): Promise<InpaintResult> {
  const inputs = { ...identity(plan), instances: located(plan, instances), sample: sampleInKey(plan, sample), dilation: spec.maskDilation, radius: spec.inpaintRadius, maxOtherOverlap: spec.maxOtherOverlap };
  const key = await cachedStep(ctx, "inpaint", inputs, async () => {
    const coco = await loadCoco({ instancesPath: instances });
    const ann = coco.annotation(sample.annotationId);
    const img = await loadImage(sample.file);
    const mask = objectMask(ann, img.height, img.width, spec.maskDilation);
    const overlap = checkOverlap(mask, otherMasks(coco, ann), spec.maxOtherOverlap);
    const inpainter = teleaInpainter({ radius: spec.inpaintRadius });
    const filled = await inpainter.inpaint(img, mask);
    const maskImg = { data: new Uint8Array(mask.length * 3), width: img.width, height: img.height };
    mask.forEach((m, i) => { if (m) maskImg.data.fill(255, i * 3, i * 3 + 3); });
    return {
      "inpainted.png": await encodePng(filled),
      "mask.png": await encodePng(maskImg),
      "inpaint.json": json({ inpainter: inpainter.name, overlap }),
    };
  });
  const { overlap } = await readJson<{ overlap: ConstraintResult }>(ctx, key, "inpaint.json");
  return { key, overlap };
}

// ----------------------------------------------------------------------------------- captions

/**
 * Clean greedy captions of every evaluation image (gpu): the no-noise reference, and the drafts
 * of the noisy captions. Beside them, each neuron's mean and standard deviation over the image
 * positions of these images (stats.safetensors): the unit of `noise.unit: "std"`.
 */
export async function captionImages(ctx: PipelineContext, plan: SweepPlan, spec: SweepSpec, images: EvalImage[] = plan.evalImages): Promise<string> {
  const inputs = { ...identity(plan), images: images.map((i) => i.imageId), files: images.map((i) => located(plan, i.file)), maxNewTokens: spec.eval.maxNewTokens, stats: 1 };
  return cachedStep(ctx, "captions", inputs, async () => {
    const model = await ctx.model();
    const pixels = await Promise.all(images.map((i) => model.preprocess(i.file)));
    const caps = await model.caption(pixels.map((p) => ({ pixels: p })), {
      maxNewTokens: spec.eval.maxNewTokens,
      onProgress: (done, total) => ctx.progress?.({ step: "captions", done, total }),
    });
    const { layers, ffnDim } = model.manifest;
    const sum = new Float64Array(layers * ffnDim), sum2 = new Float64Array(layers * ffnDim);
    let positions = 0;
    for (let i = 0; i < pixels.length; i += 16) {
      for (const a of await model.activate(pixels.slice(i, i + 16))) {
        const [L, P, D] = a.dims;
        positions += P;
        for (let l = 0; l < L; l++) for (let p = 0; p < P; p++) {
          const base = (l * P + p) * D;
          for (let j = 0; j < D; j++) { const v = a.data[base + j]; sum[l * D + j] += v; sum2[l * D + j] += v * v; }
        }
      }
    }
    const mean = new Float32Array(layers * ffnDim), std = new Float32Array(layers * ffnDim);
    for (let k = 0; k < mean.length; k++) {
      const m = sum[k] / Math.max(1, positions);
      mean[k] = m;
      std[k] = Math.sqrt(Math.max(0, sum2[k] / Math.max(1, positions) - m * m));
    }
    return {
      "captions.json": json(Object.fromEntries(images.map((img, k) => [img.imageId, caps[k].text]))),
      "stats.safetensors": encodeSafetensors({
        mean: { dtype: "F32", shape: [layers, ffnDim], data: mean },
        std: { dtype: "F32", shape: [layers, ffnDim], data: std },
      }),
    };
  });
}

/** Per-neuron activation statistics over the evaluation images' image positions, [L*D] each. */
export async function readActivationStats(ctx: PipelineContext, cleanKey: string): Promise<{ mean: Float32Array; std: Float32Array }> {
  const { tensors } = decodeSafetensors(await readBytes(ctx, cleanKey, "stats.safetensors"));
  return { mean: tensors.mean.data as Float32Array, std: tensors.std.data as Float32Array };
}

export const readCleanCaptions = (ctx: PipelineContext, cleanKey: string) => readJson<Record<string, string>>(ctx, cleanKey, "captions.json");

export interface SampleRecord {
  sample: SampleRef;
  status: "accepted" | "rejected";
  reasons: string[];
  details: string[];
  caption: string;
  captionIds: number[];
  inpaintedCaption: string;
  /** The target token t: first token of the first mention of k, at caption position `position`. */
  target?: { word: string; tokenId: number; token: string; position: number };
  inpaintKey: string;
}

/** Token position in `ids` where word `wordIndex` of the decoded caption starts. */
export function tokenPositionOfWord(ids: number[], wordIndex: number, decode: (ids: number[]) => string): number {
  for (let j = 0; j < ids.length; j++) if (words(decode(ids.slice(0, j + 1))).length > wordIndex) return j;
  return -1;
}

/** Step 2 (gpu): caption x and x~, check the paper's constraints, choose the target token. */
export async function checkSample(ctx: PipelineContext, plan: SweepPlan, spec: SweepSpec, sample: SampleRef, inpaint: InpaintResult): Promise<{ key: string; record: SampleRecord }> {
  const inputs = { ...identity(plan), sample: sampleInKey(plan, sample), inpaint: inpaint.key, maxNewTokens: spec.eval.maxNewTokens };
  const key = await cachedStep(ctx, "sample", inputs, async () => {
    const model = await ctx.model();
    const inpainted = await loadImage(await readBytes(ctx, inpaint.key, "inpainted.png"), `${sample.id} inpainted`);
    const pixels = [await model.preprocess(sample.file), await model.preprocess(inpainted)];
    const [orig, filled] = await model.caption(pixels.map((p) => ({ pixels: p })), { maxNewTokens: spec.eval.maxNewTokens });
    const c = checkCaptions(sample.concept, orig.text, filled.text);
    const reasons = [...c.reasons, ...inpaint.overlap.reasons];
    const details = [...c.details, ...inpaint.overlap.details];
    let target: SampleRecord["target"];
    if (c.mentionIndex !== undefined) {
      const position = tokenPositionOfWord(orig.ids, c.mentionIndex, (ids) => model.tokenizer.decode(ids));
      if (position >= 0) {
        const tokenId = orig.ids[position];
        target = { word: words(orig.text)[c.mentionIndex], tokenId, token: model.tokenizer.idToToken(tokenId) ?? String(tokenId), position };
      }
    }
    const record: SampleRecord = {
      sample, status: reasons.length === 0 && target ? "accepted" : "rejected", reasons, details,
      caption: orig.text, captionIds: orig.ids, inpaintedCaption: filled.text, target, inpaintKey: inpaint.key,
    };
    return { "sample.json": json(record) };
  });
  return { key, record: await readJson<SampleRecord>(ctx, key, "sample.json") };
}

// ----------------------------------------------------------------------------------- identify

const tensorEntry = (t: LayerTensor) => ({ dtype: "F32" as const, shape: [...t.dims], data: t.data });
const asTensor = (e: { shape: number[]; data: unknown }): LayerTensor => ({ data: e.data as Float32Array, dims: e.shape as [number, number, number] });

/**
 * Step 3 (gpu): A(x), A(x~), and z_t's gradient wrt A(x) at the image positions; Pan's c[l,i];
 * with `panPosition: "predicting-token"` also A at the text position that predicts t (Pan et al.'s own).
 */
export async function identifySample(ctx: PipelineContext, plan: SweepPlan, record: SampleRecord, opts: { panPosition?: PanPosition } = {}): Promise<string> {
  if (!record.target) throw new Error(`${record.sample.id}: no target token (sample was rejected)`);
  const predicting = opts.panPosition === "predicting-token";
  // The key gains a field only when it is asked for, so existing identify steps stay valid.
  const inputs = { ...identity(plan), sample: sampleInKey(plan, record.sample), inpaint: record.inpaintKey, captionIds: record.captionIds, target: record.target, ...(predicting ? { panPosition: opts.panPosition } : {}) };
  return cachedStep(ctx, "identify", inputs, async () => {
    const model = await ctx.model();
    const inpainted = await loadImage(await readBytes(ctx, record.inpaintKey, "inpainted.png"));
    const [px, pxInp] = [await model.preprocess(record.sample.file), await model.preprocess(inpainted)];
    // A(x) comes with the gradient (image positions are causal, so it equals the prefill's).
    const [actInp] = await model.activate([pxInp]);
    const g = await model.gradient(px, record.captionIds.slice(0, record.target!.position), record.target!.tokenId);
    const contribution = targetContribution(await model.readout(), record.target!.tokenId);
    const extra: Record<string, { dtype: "F32"; shape: number[]; data: Float32Array }> = {};
    if (predicting) {
      const [r] = await model.target([{ pixels: px, captionIds: record.captionIds.slice(0, record.target!.position), targetId: record.target!.tokenId }], { tap: true });
      extra.act_predicting = { dtype: "F32", shape: [model.manifest.layers, model.manifest.ffnDim], data: r.act! };
    }
    return {
      "tensors.safetensors": encodeSafetensors({
        act: tensorEntry(g.act), act_inpainted: tensorEntry(actInp), grad: tensorEntry(g.grad),
        contribution: { dtype: "F32", shape: [contribution.length], data: contribution }, ...extra,
      }),
      "identify.json": json({ z: g.z, target: record.target }),
    };
  });
}

export interface IdentifyTensors {
  act: LayerTensor; actInpainted: LayerTensor; grad: LayerTensor; contribution: Float32Array;
  /** A [L*D] at the position that predicts t (identify with panPosition "predicting-token"). */
  actPredicting?: Float32Array;
}

export async function readIdentify(ctx: PipelineContext, key: string): Promise<IdentifyTensors> {
  const { tensors } = decodeSafetensors(await readBytes(ctx, key, "tensors.safetensors"));
  return {
    act: asTensor(tensors.act), actInpainted: asTensor(tensors.act_inpainted), grad: asTensor(tensors.grad), contribution: tensors.contribution.data as Float32Array,
    ...(tensors.act_predicting ? { actPredicting: tensors.act_predicting.data as Float32Array } : {}),
  };
}

// ------------------------------------------------------------------------------------- select

export interface NeuronGroup {
  method: Method;
  /** Unique within a sample: the method, or `random-3` for a control's fourth group. */
  name: string;
  neurons: ScoredNeuron[];
}

export interface Selection {
  sampleId: string;
  concept: string;
  thresholds: { act: ThresholdRule; grad: ThresholdRule; tauAct: number; tauGrad: number };
  candidates: number;
  groups: NeuronGroup[];
  /** Top-5 two-stage neurons by activation drop: the heatmap's neurons. */
  heatmapNeurons: ScoredNeuron[];
}

/** Step 4 (cpu, pure): stage 1 + stage 2 and the baselines at matched k, from stored tensors. */
export async function selectNeurons(ctx: PipelineContext, spec: SweepSpec, record: SampleRecord, identifyKey: string, rules?: { act: ThresholdRule; grad: ThresholdRule }): Promise<{ key: string; selection: Selection }> {
  const r = rules ?? rulesFor(spec.thresholds, record.sample.concept);
  const controls = spec.methods.some((m) => CONTROL_METHODS.includes(m)) ? { randomGroups: spec.randomGroups, seed: spec.seed } : null;
  const panPosition = spec.pan?.position ?? "image";
  const inputs = { identify: identifyKey, rules: r, aggregate: spec.aggregate, methods: spec.methods, baselineK: spec.baselineK, schwettmann: spec.schwettmann, controls, ...(panPosition !== "image" ? { panPosition } : {}) };
  const key = await cachedStep(ctx, "select", inputs, async () => {
    const t = await readIdentify(ctx, identifyKey);
    const drop = activationDrop(t.act, t.actInpainted, spec.aggregate);
    const ts = twoStage(drop, gradcam(t.act, t.grad, spec.aggregate), r.act, r.grad);
    const k = spec.baselineK === "matched" ? ts.selected.length : spec.baselineK;
    const [layers, , width] = t.act.dims;
    const groups: NeuronGroup[] = spec.methods.flatMap((method): NeuronGroup[] => {
      if (CONTROL_METHODS.includes(method)) {
        // The control: seeded groups of the two-stage group's size (and per-layer counts).
        return Array.from({ length: spec.randomGroups }, (_, g) => {
          const name = `${method}-${g}`;
          const neurons = randomGroup(ts.selected, { key: `${spec.seed}|${record.sample.id}/${name}`, layers, width, layerMatched: method === "random" });
          return { method, name, neurons };
        });
      }
      const neurons = method === "two-stage" ? ts.selected
        : method === "schwettmann" ? schwettmann(t.act, t.grad, k, spec.schwettmann.aggregate, spec.schwettmann.pairsPerImage)
        : panPosition === "predicting-token" ? panAtPosition(predictingAct(t, record), t.contribution, k, layers, width)
        : pan(t.act, t.contribution, k);
      return [{ method, name: method, neurons }];
    });
    const byDrop = ts.selected.map((n) => ({ ...n, score: drop.scores[n.layer * drop.width + n.index] })).sort((a, b) => b.score - a.score).slice(0, 5);
    const selection: Selection = {
      sampleId: record.sample.id, concept: record.sample.concept,
      thresholds: { ...r, tauAct: ts.tauAct, tauGrad: ts.tauGrad }, candidates: ts.candidates.length, groups, heatmapNeurons: byDrop,
    };
    return { "selection.json": json(selection) };
  });
  return { key, selection: await readJson<Selection>(ctx, key, "selection.json") };
}

// ------------------------------------------------------------------------------------ perturb

export interface PerturbLevel {
  sigma: number;
  /** captions[draw][imageId] */
  captions: Record<string, string>[];
}

/**
 * Evaluation images of a knowledge: all of them, or the images of k plus a seeded sample of others.
 * With `eval.sets: "faithful"` and the clean captions, only images that can count are kept: images
 * of k whose clean caption names k, and images without k whose clean caption names one of theirs.
 */
export function evaluationSet(plan: SweepPlan, spec: SweepSpec, concept: string, images: EvalImage[] = plan.evalImages, clean?: Record<string, string>): EvalImage[] {
  const faithful = spec.eval.sets === "faithful" && clean !== undefined;
  const named = (i: EvalImage, k: string) => !faithful || mentions(clean![i.imageId] ?? "", k).mentioned;
  const own = images.filter((i) => i.concepts.includes(concept) && named(i, concept));
  const others = images.filter((i) => !i.concepts.includes(concept) && i.concepts.some((k) => named(i, k)));
  if (spec.eval.otherImages === "all") return [...own, ...others].sort((a, b) => a.imageId - b.imageId);
  const rank = (i: EvalImage) => hashUnit(`${spec.seed}|${concept}|${i.imageId}`);
  const picked = others.sort((a, b) => rank(a) - rank(b)).slice(0, spec.eval.otherImages as number);
  return [...own, ...picked].sort((a, b) => a.imageId - b.imageId);
}

/** evaluationSet with the clean captions read from the store. */
export async function evaluationImages(ctx: PipelineContext, plan: SweepPlan, spec: SweepSpec, concept: string, cleanKey: string, images: EvalImage[] = plan.evalImages): Promise<EvalImage[]> {
  return evaluationSet(plan, spec, concept, images, await readCleanCaptions(ctx, cleanKey));
}

function hashUnit(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
  return h / 4294967296;
}

const embedCache = new WeakMap<ModelRuntime, Map<string, Float32Array>>();

/** Vision embeddings per image file, computed once per model process and reused by every noise run. */
async function imageEmbeds(model: ModelRuntime, files: string[]): Promise<Float32Array[]> {
  let cache = embedCache.get(model);
  if (!cache) embedCache.set(model, (cache = new Map()));
  const missing = [...new Set(files.filter((f) => !cache!.has(f)))];
  if (missing.length) {
    const px = await Promise.all(missing.map((f) => model.preprocess(f)));
    const emb = await model.embedImages(px);
    missing.forEach((f, k) => cache!.set(f, emb[k]));
  }
  return files.map((f) => cache!.get(f)!);
}

/**
 * Step 5 (gpu): the noise runs of one group: for every level, `draws` seeded deltas on the
 * group's neurons at every image position, greedy captions of every evaluation image. One
 * artifact per level, so a retried activity resumes at the first unfinished level.
 */
export async function perturbGroup(ctx: PipelineContext, plan: SweepPlan, spec: SweepSpec, record: SampleRecord, group: NeuronGroup, images: EvalImage[], cleanKey: string): Promise<string[]> {
  const groupId = `${record.sample.id}/${group.name}`;
  const keys: string[] = [];
  const std = spec.noise.unit === "std" ? (await readActivationStats(ctx, cleanKey)).std : undefined;
  for (const [levelIndex, sigma] of spec.noise.levels.entries()) {
    const inputs = {
      ...identity(plan), groupId, neurons: group.neurons.map((n) => [n.layer, n.index]), sigma, unit: spec.noise.unit, scope: spec.noise.scope,
      stats: spec.noise.unit === "std" ? cleanKey : null, draws: spec.noise.draws, seed: spec.seed,
      images: images.map((i) => i.imageId), maxNewTokens: spec.eval.maxNewTokens,
    };
    keys.push(await cachedStep(ctx, "perturb", inputs, async () => {
      const draws: Record<string, string>[] = [];
      if (group.neurons.length === 0) {
        // No neurons: noise changes nothing, the clean captions are the answer (no model work).
        const clean = await readJson<Record<string, string>>(ctx, cleanKey, "captions.json");
        const row = Object.fromEntries(images.map((i) => [i.imageId, clean[i.imageId]]));
        for (let r = 0; r < spec.noise.draws; r++) draws.push(row);
      } else {
        const model = await ctx.model();
        const { layers, ffnDim } = model.manifest;
        const embeds = await imageEmbeds(model, images.map((i) => i.file));
        const deltas = Array.from({ length: spec.noise.draws }, (_, draw) =>
          noiseDelta(group.neurons, { seed: spec.seed, groupId, sigma, draw, layers, width: ffnDim, scale: std }));
        // Each image's clean caption is the draft its noisy captions are verified against (same
        // greedy captions, far fewer decode steps: docs/RUNTIME.md).
        const clean = await readJson<Record<string, string>>(ctx, cleanKey, "captions.json");
        const drafts = images.map((i) => model.tokenizer.encode(clean[i.imageId] ?? ""));
        const items = deltas.flatMap((delta) => embeds.map((e, k) => ({ imageEmbeds: e, delta, draft: drafts[k] })));
        const total = items.length * spec.noise.levels.length;
        const caps = await model.caption(items, {
          maxNewTokens: spec.eval.maxNewTokens,
          deltaScope: spec.noise.scope,
          onProgress: (done) => ctx.progress?.({ step: `perturb ${groupId}`, done: levelIndex * items.length + done, total }),
        });
        for (let r = 0; r < spec.noise.draws; r++) {
          draws.push(Object.fromEntries(images.map((img, k) => [img.imageId, caps[r * images.length + k].text])));
        }
      }
      const level: PerturbLevel = { sigma, captions: draws };
      return { "perturb.json": json(level) };
    }, { groupId, sigma }));
  }
  return keys;
}

// -------------------------------------------------------------------------------------- score

export interface DrawRates { pSame: number; pOther: number }

export interface LevelScore extends Omit<SuppressionRetention, "counts"> {
  sigma: number;
  /** P_same / P_other of every noise draw (the bootstrap resamples them). */
  draws: DrawRates[];
  /** Δsame, Δother and their difference against σ = 0 (mean over draws). */
  dSame: number;
  dOther: number;
  selectivity: number;
  bleu: number;
  rouge1: number;
  rougeL: number;
  bertscore: number;
}

export interface GroupScore {
  concept: string;
  sampleId: string;
  method: Method;
  /** Unique within the sample (`random-3`). */
  group: string;
  neurons: number;
  /** Which images / pairs were scored ("faithful" or "all") and how many. */
  sets: "faithful" | "all";
  counts: { same: number; other: number };
  /** σ = 0: the clean captions over the same sets (no model work). */
  clean: DrawRates;
  levels: LevelScore[];
}

const mean = meanDefined;
/** Whether a caption mentions knowledge k (the scorers' mention test). */
export const mentionFn = (c: string, k: string) => mentions(c, k).mentioned;

/** The scored sets of one knowledge: faithful ones need the clean captions. */
export function scoredSets(spec: SweepSpec, concept: string, images: EvalImage[], clean: Record<string, string>): EvalSets {
  return evaluationSets(concept, images, spec.eval.sets === "faithful" ? (id) => clean[id] ?? "" : null, mentionFn);
}

/**
 * Step 6 (cpu): suppression / retention / selectivity per level and draw over fixed sets, the
 * σ = 0 rates from the clean captions, caption quality of the sample's own image vs caption(x~).
 */
export async function scoreGroup(ctx: PipelineContext, spec: SweepSpec, record: SampleRecord, group: NeuronGroup, images: EvalImage[], perturbKeys: string[], cleanKey: string): Promise<{ key: string; score: GroupScore }> {
  const inputs = { sample: record.sample.id, group: group.name, perturb: perturbKeys, inpaintedCaption: record.inpaintedCaption, images: images.map((i) => [i.imageId, i.concepts]), clean: cleanKey, sets: spec.eval.sets };
  const key = await cachedStep(ctx, "score", inputs, async () => {
    const scorer = await ctx.bertScorer();
    const concept = record.sample.concept;
    const cleanCaps = await readCleanCaptions(ctx, cleanKey);
    const sets = scoredSets(spec, concept, images, cleanCaps);
    const clean = setScores(concept, sets, (id) => cleanCaps[id] ?? "", mentionFn);
    const levels: LevelScore[] = [];
    for (const pk of perturbKeys) {
      const level = await readJson<PerturbLevel>(ctx, pk, "perturb.json");
      const sr = level.captions.map((caps) => setScores(concept, sets, (id) => caps[id] ?? "", mentionFn));
      const own = level.captions.map((caps) => caps[record.sample.imageId] ?? "");
      const ref = record.inpaintedCaption;
      const bert = await scorer.score(own, own.map(() => ref));
      const pSame = mean(sr.map((s) => s.pSame)), pOther = mean(sr.map((s) => s.pOther));
      const suppression = 1 - pSame, retention = pOther;
      levels.push({
        sigma: level.sigma, draws: sr.map((s) => ({ pSame: s.pSame, pOther: s.pOther })),
        pSame, pOther, suppression, retention, score: (suppression + retention) / 2,
        ...selectivity(clean, { pSame, pOther }),
        bleu: mean(own.map((c) => bleu(c, ref))), rouge1: mean(own.map((c) => rouge1F(c, ref))), rougeL: mean(own.map((c) => rougeLF(c, ref))), bertscore: mean(bert),
      });
    }
    const score: GroupScore = {
      concept, sampleId: record.sample.id, method: group.method, group: group.name, neurons: group.neurons.length,
      sets: spec.eval.sets, counts: clean.counts, clean: { pSame: clean.pSame, pOther: clean.pOther }, levels,
    };
    return { "score.json": json(score) };
  });
  return { key, score: await readJson<GroupScore>(ctx, key, "score.json") };
}

// ---------------------------------------------------------------------------------- interpret

export interface Interpretation {
  sampleId: string;
  concept: string;
  /** Decoded top-5 tokens of each method's top-5 neurons. */
  decoded: Record<string, { layer: number; index: number; tokens: string[] }[]>;
}

/** Step 7 (gpu for the readout): heatmap over x (top-5 neurons by drop), neuron decoding. */
export async function interpretSample(ctx: PipelineContext, plan: SweepPlan, record: SampleRecord, identifyKey: string, selectionKey: string): Promise<string> {
  return cachedStep(ctx, "interpret", { ...identity(plan), identify: identifyKey, selection: selectionKey }, async () => {
    const model = await ctx.model();
    const sel = await readJson<Selection>(ctx, selectionKey, "selection.json");
    const { act } = await readIdentify(ctx, identifyKey);
    const { tokenGrid, clsTokens } = model.manifest.image;
    const values = heatmapValues(act, sel.heatmapNeurons).subarray(clsTokens);
    const readout = await model.readout();
    const decoded: Interpretation["decoded"] = {};
    for (const g of sel.groups) {
      decoded[g.method] = g.neurons.slice(0, 5).map((n) => ({
        layer: n.layer, index: n.index,
        tokens: decodeNeuron(readout, n, 5).map((t) => model.tokenizer.idToToken(t.id) ?? String(t.id)),
      }));
    }
    const interp: Interpretation = { sampleId: record.sample.id, concept: record.sample.concept, decoded };
    const files: Record<string, Uint8Array | string> = { "interpret.json": json(interp) };
    if (sel.heatmapNeurons.length) files["heatmap.png"] = await renderHeatmap({ image: record.sample.file, values, grid: tokenGrid });
    return files;
  });
}
