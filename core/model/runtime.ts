// The model runtime: a bundle (docs/BUNDLE.md) run with onnxruntime-node. One InferenceSession per
// graph, created once and reused; captions are greedy, batched, with a KV cache, per-row FFN
// deltas (30 noise runs of an image are one batch) and finished rows dropped from the batch.
import { readFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { type Readout } from "../method/decode.js";
import { type LayerTensor } from "../method/tensor.js";
import { decodeSafetensors } from "../store/safetensors.js";
import { type BundleManifest, BundleError, loadBundleManifest } from "./bundle.js";
import { ModelError } from "./errors.js";
import { batchBytes, checkBatchFits, defaultBudget, type Geometry, geometryOf } from "./memory.js";
import { LOOKUP_TOKENS, lookupDraft, NEAR_TIE, walkDraft } from "./draft.js";
import { buildPrompt } from "./prompt.js";
import { type ImageSettings, preprocessImage, type RgbImage } from "./preprocess.js";
import { type BundleTokenizer, loadTokenizer } from "./tokenizer.js";

export type { RgbImage } from "./preprocess.js";
export { type DraftStats, emptyDraftStats } from "./draft.js";
import { type DraftStats } from "./draft.js";

export interface LoadModelOptions {
  /** onnxruntime execution providers, in order of preference (default ["cpu"]; "cuda" on GPU hosts). */
  executionProviders?: string[];
  /** Threads per graph run (default: all cores). */
  intraOpThreads?: number;
  /** Rows per graph run (default DEFAULT_MAX_BATCH, the bench's pick for the tiny model, or less if it would not fit). */
  maxBatch?: number;
  /** Memory a batch may use on top of the weights (default: half the machine, see memory.ts). */
  memoryBudgetBytes?: number;
  /** Hash every bundle file on load (default true). */
  verifyHashes?: boolean;
  /** A prompt template with one `<image>` slot instead of the bundle's own. */
  prompt?: string;
}

export interface PrefillItem {
  /** Normalised pixels [3,S,S] (from preprocess). */
  pixels?: Float32Array;
  /** Image embeddings [P*H] (from embedImages); preferred over pixels, saves the vision pass. */
  imageEmbeds?: Float32Array;
  /** ffn_delta [L*D], added to A at every image position during the prefill. */
  delta?: Float32Array;
  /**
   * ffn_scale [L*D]: A = A·scale + delta at the same positions (0 with delta 0 = zero-ablation,
   * 0 with delta = mean: mean-ablation). Only bundles whose decoder has the `ffn_scale` input
   * (`hasAblation`); default 1.
   */
  scale?: Float32Array;
}

export interface TargetItem extends PrefillItem {
  /** The caption prefix teacher-forced after the prompt (the target's position predicts from its end). */
  captionIds: number[];
  targetId: number;
}

export interface TargetResult {
  /** z_t: the target's logit at the position that predicts it. */
  z: number;
  /** log p(t) at that position (log-softmax over the vocabulary). */
  logp: number;
  /** A at the position that predicts t, [L*D] (only with `tap`). */
  act?: Float32Array;
}

export interface CaptionItem extends PrefillItem {
  /**
   * A guess of the caption's ids (e.g. the clean caption of the same image, without EOS). It is
   * verified in one teacher-forced pass; the result is the plain greedy caption either way, a
   * good draft only makes it cheaper (draft.ts).
   */
  draft?: number[];
}

export interface PrefillResult {
  /** Logits [T0,V] at every prompt position (the last one predicts the first caption token). */
  logits: Float32Array;
  /** A at the image positions, [L,P,D]. */
  act: LayerTensor;
}

export type DeltaScope = "image" | "prompt";

export interface CaptionOptions {
  /** Default 32 (the paper's max_new_tokens). */
  maxNewTokens?: number;
  /** Rows per batch (default: the runtime's maxBatch). */
  batchSize?: number;
  onProgress?(done: number, total: number): void;
  /** Decode with the KV cache (default). false re-runs the whole sequence each step: benchmarks only. */
  kvCache?: boolean;
  /** Stop a row at EOS (default). false always generates maxNewTokens: benchmarks only. */
  stopAtEos?: boolean;
  /**
   * Where each row's delta is added: the image positions (default, the paper) or every position
   * of the prompt (bos, text and image tokens; never the generated ones).
   */
  deltaScope?: DeltaScope;
  /** Counters of the draft path, added to (rows, accepted tokens, near-tie fallbacks). */
  draftStats?: DraftStats;
  /** Top-two logit gap below which a drafted row falls back to plain greedy (default NEAR_TIE): tests only. */
  nearTie?: number;
  /** Tokens re-drafted per step after a row leaves its draft (default LOOKUP_TOKENS; 0: none). */
  lookupTokens?: number;
}

export interface Caption {
  /** Generated ids, without the EOS. */
  ids: number[];
  text: string;
}

export interface GradientResult {
  /** z_t: the logit of the target at the last position. */
  z: number;
  act: LayerTensor;
  /** ∂z_t/∂A at image positions. */
  grad: LayerTensor;
}

export interface ModelRuntime {
  manifest: BundleManifest;
  tokenizer: Pick<BundleTokenizer, "encode" | "decode" | "idToToken">;
  /** Default rows per batch. */
  readonly maxBatch: number;
  preprocess(image: RgbImage | string): Promise<Float32Array>;
  embedImages(pixels: Float32Array[]): Promise<Float32Array[]>;
  activate(pixels: Float32Array[]): Promise<LayerTensor[]>;
  /** One prefill per item (optionally with its delta): logits and A at image positions. */
  prefill(items: PrefillItem[]): Promise<PrefillResult[]>;
  caption(items: CaptionItem[], opts?: CaptionOptions): Promise<Caption[]>;
  gradient(pixels: Float32Array, captionIds: number[], targetId: number): Promise<GradientResult>;
  /** Teacher-forced z_t and log p(t) per row, each row with its own intervention (batched). */
  target(items: TargetItem[], opts?: { deltaScope?: DeltaScope; tap?: boolean }): Promise<TargetResult[]>;
  /** Whether the bundle's decoder has the `ffn_scale` input (deterministic ablation); older bundles do not. */
  readonly hasAblation: boolean;
  /** Whether the decoder takes `logits_positions` (logits only where a call needs them); older bundles return every position. */
  readonly hasLogitsPositions: boolean;
  readout(): Promise<Readout>;
  estimateBatchBytes(batch: number): number;
  close(): Promise<void>;
}

/** bench (d) on the tiny model: captions/s flat from 16 to 64 rows, best at 64, lower at 128. */
export const DEFAULT_MAX_BATCH = 64;
export const DEFAULT_MAX_NEW_TOKENS = 32;

export async function loadModel(bundleDir: string, opts: LoadModelOptions = {}): Promise<ModelRuntime> {
  const manifest = await loadBundleManifest(bundleDir, { verifyHashes: opts.verifyHashes });
  const tokPath = join(bundleDir, "tokenizer.json");
  const tokenizer = loadTokenizer(JSON.parse(await readFile(tokPath, "utf8")), tokPath);
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: opts.executionProviders ?? ["cpu"],
    intraOpNumThreads: opts.intraOpThreads ?? availableParallelism(),
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
  };
  const open = async (name: string) => {
    const path = join(bundleDir, name);
    try {
      return await ort.InferenceSession.create(path, options);
    } catch (e) {
      throw new BundleError(path, `onnxruntime cannot load it (${(e as Error).message})`);
    }
  };
  const opened = await Promise.allSettled(["vision.onnx", "embed.onnx", "decoder.onnx", "gradient.onnx"].map(open));
  const sessions = opened.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  try {
    const failed = opened.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
    const [vision, embed, decoder, gradient] = sessions;
    const rt = new Runtime(bundleDir, manifest, tokenizer, { vision, embed, decoder, gradient }, opts);
    await rt.init();
    return rt;
  } catch (e) {
    await Promise.all(sessions.map((s) => s.release())); // sessions hold native memory
    throw e;
  }
}

type Sessions = Record<"vision" | "embed" | "decoder" | "gradient", ort.InferenceSession>;

const f32 = (data: Float32Array, dims: number[]) => new ort.Tensor("float32", data, dims);
const i64 = (data: BigInt64Array, dims: number[]) => new ort.Tensor("int64", data, dims);
const f32Data = (t: ort.Tensor) => t.data as Float32Array;

/** Index of the largest value in v[off, off+n) (the first one on ties, like torch.argmax). */
function argmax(v: Float32Array, off: number, n: number): number {
  let best = 0;
  let bv = v[off];
  for (let k = 1; k < n; k++) if (v[off + k] > bv) { bv = v[off + k]; best = k; }
  return best;
}

/** Rows `keep` of a [B, ...] tensor, as a new tensor (a view when every row is kept). */
function takeRows(t: ort.Tensor, keep: number[]): ort.Tensor {
  if (keep.length === t.dims[0]) return t;
  const row = t.dims.slice(1).reduce((a, b) => a * b, 1);
  const src = f32Data(t);
  const out = new Float32Array(keep.length * row);
  keep.forEach((r, k) => out.set(src.subarray(r * row, (r + 1) * row), k * row));
  return f32(out, [keep.length, ...t.dims.slice(1)]);
}

class Runtime implements ModelRuntime {
  readonly maxBatch: number;
  readonly hasAblation: boolean;
  readonly hasLogitsPositions: boolean;
  private readonly geo: Geometry;
  private readonly image: ImageSettings;
  private readonly budget: number;
  private readonly prefix: number[];
  private readonly suffix: number[];
  /** Token embeddings [H] by id, filled on demand from embed.onnx (prompt ids, generated ids). */
  private readonly tokenEmbeds = new Map<number, Float32Array>();
  private readoutCache?: Promise<Readout>;
  private closed = false;
  /** Graph runs are serialised: a model worker does one thing at a time with all its threads. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly dir: string,
    readonly manifest: BundleManifest,
    readonly tokenizer: BundleTokenizer,
    private readonly s: Sessions,
    opts: LoadModelOptions,
  ) {
    const m = manifest;
    const prompt = opts.prompt === undefined ? m.prompt : buildPrompt(tokenizer, opts.prompt, m.bosId);
    this.prefix = prompt.prefixIds;
    this.suffix = prompt.suffixIds;
    this.image = { size: m.image.size, mean: m.image.mean, std: m.image.std, resample: m.image.resample, resize: m.image.resize };
    // Feature-detected from the graph, so bundles exported before these inputs keep working:
    // without ablation, and with logits at every position of a call.
    this.hasAblation = s.decoder.inputNames.includes("ffn_scale");
    this.hasLogitsPositions = s.decoder.inputNames.includes("logits_positions");
    this.geo = { ...geometryOf(m, this.prefix.length + m.imageTokens + this.suffix.length), logitsEverywhere: !this.hasLogitsPositions };
    [...this.prefix, ...this.suffix].forEach((id, k) => this.checkToken(id, `prompt id ${k}`));
    this.budget = opts.memoryBudgetBytes ?? defaultBudget();
    // An explicit maxBatch must fit the budget; the default shrinks to what fits (big models).
    const maxBatch = opts.maxBatch ?? Math.max(1, Math.min(DEFAULT_MAX_BATCH, Math.floor(this.budget / batchBytes(this.geo, 1))));
    if (!(Number.isInteger(maxBatch) && maxBatch >= 1)) throw new ModelError("batch-too-large", "maxBatch", `must be a positive integer, got ${maxBatch}`);
    checkBatchFits(this.geo, maxBatch, this.budget);
    this.maxBatch = maxBatch;
  }

  /**
   * The logits_positions feed of a call whose rows are `T` positions long, asking for `positions`
   * (ascending), and where each one lands in the returned [B, K, V]: `at(t)` is its index along K.
   * Older decoders return every position (K = T, at(t) = t).
   */
  private logitsAt(positions: number[], T: number): { feed: Record<string, ort.Tensor>; K: number; at: (t: number) => number } {
    if (!this.hasLogitsPositions) return { feed: {}, K: T, at: (t) => t };
    const first = positions[0];
    return {
      feed: { logits_positions: i64(BigInt64Array.from(positions, BigInt), [positions.length]) },
      K: positions.length,
      // positions are consecutive wherever the runtime asks for more than one, except target()'s set
      at: positions.every((t, k) => t === first + k) ? (t) => t - first : (t) => positions.indexOf(t),
    };
  }

  /** The ffn_scale feed where the graph has it: `scales` rows [L*D] or ones. */
  /** Zeros shared by every call (onnxruntime only reads its inputs): no allocation per decode step. */
  private zeroBuffer = new Float32Array(0);
  private zeros(length: number): Float32Array {
    if (this.zeroBuffer.length < length) this.zeroBuffer = new Float32Array(length);
    return this.zeroBuffer.subarray(0, length);
  }

  /**
   * Feeds of a decode call: k new tokens for each of n rows on the cache of the previous call's
   * rows `keep`, with no intervention (deltas and scales act on the prompt only).
   */
  private decodeFeeds(emb: Float32Array, attention: BigInt64Array, positions: BigInt64Array, n: number, k: number,
                      prev: ort.InferenceSession.OnnxValueMapType, keep: number[]): Record<string, ort.Tensor> {
    const { hidden: H, layers: L, ffn: D } = this.geo;
    const feeds: Record<string, ort.Tensor> = {
      inputs_embeds: f32(emb, [n, k, H]),
      attention_mask: i64(attention, [n, attention.length / n]),
      position_ids: i64(positions, [n, k]),
      delta_mask: f32(this.zeros(n * k), [n, k]),
      ffn_delta: f32(this.zeros(n * L * D), [n, L, D]),
      ...this.scaleFeed(n),
      tap_positions: i64(new BigInt64Array(0), [0]),
      ...this.logitsAt(Array.from({ length: k }, (_, j) => j), k).feed,
    };
    for (let l = 0; l < L; l++) {
      feeds[`past_key_values.${l}.key`] = takeRows(prev[`present.${l}.key`], keep);
      feeds[`past_key_values.${l}.value`] = takeRows(prev[`present.${l}.value`], keep);
    }
    return feeds;
  }

  private scaleFeed(n: number, scales: (Float32Array | undefined)[] = []): Record<string, ort.Tensor> {
    const { layers: L, ffn: D } = this.geo;
    if (!this.hasAblation) {
      if (scales.some((x) => x)) throw new ModelError("no-ablation-input", this.dir, "this bundle's decoder has no ffn_scale input (exported before deterministic ablation); re-export it");
      return {};
    }
    const out = new Float32Array(n * L * D).fill(1);
    scales.forEach((x, b) => { if (x) out.set(x, b * L * D); });
    return { ffn_scale: f32(out, [n, L, D]) };
  }

  async init(): Promise<void> {
    await this.embedTokens([...this.prefix, ...this.suffix]);
  }

  /** Serialise graph runs: one model worker runs one thing at a time, with all its threads. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new ModelError("closed", this.dir, "the model runtime was closed"));
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  estimateBatchBytes(batch: number): number {
    return batchBytes(this.geo, batch);
  }

  preprocess(image: RgbImage | string): Promise<Float32Array> {
    return preprocessImage(image, this.image);
  }

  // ------------------------------------------------------------------------------ checks

  private checkPixels(px: unknown, item: string): asserts px is Float32Array {
    const S = this.image.size;
    if (!(px instanceof Float32Array)) throw new ModelError("bad-image", item, "pixels must be a Float32Array [3,S,S] from preprocess()");
    if (px.length !== 3 * S * S) {
      const hw = px.length / 3;
      const side = Math.sqrt(hw);
      throw new ModelError("bad-image", item, `expected 3x${S}x${S} = ${3 * S * S} values, got ${px.length}` +
        (Number.isInteger(side) ? ` (a 3x${side}x${side} image? resize it with preprocess())` : px.length % (S * S) === 0 ? ` (${px.length / (S * S)} channels?)` : ""));
    }
  }

  private checkBatch(n: number, what: string, batch: number, maxNewTokens = DEFAULT_MAX_NEW_TOKENS): void {
    if (n === 0) throw new ModelError("empty-batch", what, "no items given");
    if (!(Number.isInteger(batch) && batch >= 1)) throw new ModelError("batch-too-large", what, `batch size must be a positive integer, got ${batch}`);
    checkBatchFits(this.geo, batch, this.budget, maxNewTokens);
  }

  private checkToken(id: number, item: string): void {
    if (!(Number.isInteger(id) && id >= 0 && id < this.geo.vocab)) {
      throw new ModelError("bad-token", item, `token id ${id} is outside the vocabulary [0, ${this.geo.vocab})`);
    }
  }

  // ------------------------------------------------------------------------------ embeddings

  private async embedTokens(ids: number[]): Promise<void> {
    const missing = [...new Set(ids)].filter((id) => !this.tokenEmbeds.has(id));
    if (missing.length === 0) return;
    const H = this.geo.hidden;
    const out = await this.s.embed.run({ input_ids: i64(BigInt64Array.from(missing, BigInt), [1, missing.length]) });
    const data = f32Data(out.inputs_embeds);
    missing.forEach((id, k) => this.tokenEmbeds.set(id, data.subarray(k * H, (k + 1) * H)));
  }

  /** inputs_embeds [B,T,H] of prompt(image b) ++ extra[b] (rows' extras all the same length). */
  private promptEmbeds(images: Float32Array[], extra: number[][] = []): Float32Array {
    const { hidden: H, imageTokens: P } = this.geo;
    const T = this.geo.promptLength + (extra[0]?.length ?? 0);
    const out = new Float32Array(images.length * T * H);
    images.forEach((img, b) => {
      let t = b * T;
      for (const id of this.prefix) out.set(this.tokenEmbeds.get(id)!, H * t++);
      out.set(img, H * t);
      t += P;
      for (const id of this.suffix) out.set(this.tokenEmbeds.get(id)!, H * t++);
      for (const id of extra[b] ?? []) out.set(this.tokenEmbeds.get(id)!, H * t++);
    });
    return out;
  }

  async embedImages(pixels: Float32Array[]): Promise<Float32Array[]> {
    pixels.forEach((px, k) => this.checkPixels(px, `image ${k}`));
    this.checkBatch(pixels.length, "embedImages", Math.min(pixels.length, this.maxBatch));
    return this.exclusive(() => this.runVision(pixels));
  }

  private async runVision(pixels: Float32Array[]): Promise<Float32Array[]> {
    const S = this.image.size;
    const n = 3 * S * S;
    const per = this.geo.imageTokens * this.geo.hidden;
    const out: Float32Array[] = [];
    for (let i = 0; i < pixels.length; i += this.maxBatch) {
      const chunk = pixels.slice(i, i + this.maxBatch);
      const x = new Float32Array(chunk.length * n);
      chunk.forEach((px, k) => x.set(px, k * n));
      const res = await this.s.vision.run({ pixel_values: f32(x, [chunk.length, 3, S, S]) });
      const e = f32Data(res.image_embeds);
      chunk.forEach((_, k) => out.push(e.subarray(k * per, (k + 1) * per)));
    }
    return out;
  }

  // ------------------------------------------------------------------------------ decoder

  private emptyPast(batch: number): Record<string, ort.Tensor> {
    const { layers, kvHeads, headDim } = this.geo;
    const feeds: Record<string, ort.Tensor> = {};
    const empty = new Float32Array(0);
    for (let l = 0; l < layers; l++) {
      feeds[`past_key_values.${l}.key`] = f32(empty, [batch, kvHeads, 0, headDim]);
      feeds[`past_key_values.${l}.value`] = f32(empty, [batch, kvHeads, 0, headDim]);
    }
    return feeds;
  }

  /** Prefill feeds for B prompts; delta rows [L*D] or undefined (zeros); taps at the image positions if asked. */
  private prefillFeeds(embeds: Float32Array, B: number, deltas: (Float32Array | undefined)[], taps = false, scope: DeltaScope = "image", scales: (Float32Array | undefined)[] = []): Record<string, ort.Tensor> {
    const { hidden: H, layers: L, ffn: D, imageTokens: P, promptLength: T0 } = this.geo;
    const T = embeds.length / (B * H);
    const start = this.prefix.length;
    const mask = new BigInt64Array(B * T).fill(1n);
    const pos = new BigInt64Array(B * T);
    const dmask = new Float32Array(B * T);
    const delta = new Float32Array(B * L * D);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) pos[b * T + t] = BigInt(t);
      if (scope === "image") dmask.fill(1, b * T + start, b * T + start + P);
      else dmask.fill(1, b * T, b * T + T0);
      const d = deltas[b];
      if (d) delta.set(d, b * L * D);
    }
    const tapPos = taps ? BigInt64Array.from({ length: P }, (_, p) => BigInt(start + p)) : new BigInt64Array(0);
    return {
      inputs_embeds: f32(embeds, [B, T, H]),
      attention_mask: i64(mask, [B, T]),
      position_ids: i64(pos, [B, T]),
      delta_mask: f32(dmask, [B, T]),
      ffn_delta: f32(delta, [B, L, D]),
      ...this.scaleFeed(B, scales),
      tap_positions: i64(tapPos, [tapPos.length]),
      ...this.emptyPast(B),
    };
  }

  private presentNames(): string[] {
    const names: string[] = [];
    for (let l = 0; l < this.geo.layers; l++) names.push(`present.${l}.key`, `present.${l}.value`);
    return names;
  }

  async activate(pixels: Float32Array[]): Promise<LayerTensor[]> {
    return this.prefillRows(pixels.map((px) => ({ pixels: px })), false).then((rows) => rows.map((r) => r.act));
  }

  async prefill(items: PrefillItem[]): Promise<PrefillResult[]> {
    return this.prefillRows(items, true);
  }

  /** Prefill with taps; logits at every position (`allLogits`, the API's promise) or the last only. */
  private async prefillRows(items: PrefillItem[], allLogits: boolean): Promise<PrefillResult[]> {
    this.checkItems(items, "prefill", Math.min(items.length, this.maxBatch));
    return this.exclusive(async () => {
      const embeds = await this.imageEmbedsOf(items);
      const { layers: L, ffn: D, vocab: V, imageTokens: P, promptLength: T } = this.geo;
      const out: PrefillResult[] = [];
      for (let i = 0; i < items.length; i += this.maxBatch) {
        const chunk = embeds.slice(i, i + this.maxBatch);
        const part = items.slice(i, i + this.maxBatch);
        const want = this.logitsAt(allLogits ? Array.from({ length: T }, (_, t) => t) : [T - 1], T);
        const feeds = { ...this.prefillFeeds(this.promptEmbeds(chunk), chunk.length, part.map((it) => it.delta), true, "image", part.map((it) => it.scale)), ...want.feed };
        const res = await this.s.decoder.run(feeds, ["logits", "ffn_act"]);
        const logits = f32Data(res.logits); // [B,K,V]
        const act = f32Data(res.ffn_act); // [B,L,P,D]: each row's [L,P,D] is one contiguous block, returned as a view
        const n = L * P * D;
        chunk.forEach((_, b) => out.push({
          logits: logits.subarray(b * want.K * V, (b + 1) * want.K * V),
          act: { data: act.subarray(b * n, (b + 1) * n), dims: [L, P, D] },
        }));
      }
      return out;
    });
  }

  /** Validate caption/prefill items: an image (pixels or embeddings) and an optional delta each. */
  private checkItems(items: PrefillItem[], what: string, batch: number, maxNewTokens?: number): void {
    if (!Array.isArray(items)) throw new ModelError("bad-item", what, "items must be an array");
    this.checkBatch(items.length, what, batch, maxNewTokens);
    const { imageTokens: P, hidden: H, layers: L, ffn: D } = this.geo;
    items.forEach((it, k) => {
      if (it.imageEmbeds !== undefined) {
        if (!(it.imageEmbeds instanceof Float32Array) || it.imageEmbeds.length !== P * H) {
          throw new ModelError("bad-item", `item ${k}`, `imageEmbeds must be a Float32Array of P*H = ${P * H} values, got ${(it.imageEmbeds as { length?: number }).length}`);
        }
      } else if (it.pixels !== undefined) this.checkPixels(it.pixels, `item ${k}`);
      else throw new ModelError("bad-item", `item ${k}`, "needs pixels or imageEmbeds");
      if (it.delta !== undefined) {
        if (!(it.delta instanceof Float32Array) || it.delta.length !== L * D) {
          throw new ModelError("bad-delta", `delta of item ${k}`, `expected a Float32Array of L*D = ${L}*${D} = ${L * D} values, got ${(it.delta as { length?: number }).length}`);
        }
        for (let i = 0; i < it.delta.length; i++) {
          if (!Number.isFinite(it.delta[i])) throw new ModelError("bad-delta", `delta of item ${k}`, `value ${i} is ${it.delta[i]}`);
        }
      }
      if (it.scale !== undefined) {
        if (!(it.scale instanceof Float32Array) || it.scale.length !== L * D) {
          throw new ModelError("bad-delta", `scale of item ${k}`, `expected a Float32Array of L*D = ${L}*${D} = ${L * D} values, got ${(it.scale as { length?: number }).length}`);
        }
        if (!this.hasAblation) throw new ModelError("no-ablation-input", this.dir, "this bundle's decoder has no ffn_scale input (exported before deterministic ablation); re-export it");
        for (let i = 0; i < it.scale.length; i++) {
          if (!Number.isFinite(it.scale[i])) throw new ModelError("bad-delta", `scale of item ${k}`, `value ${i} is ${it.scale[i]}`);
        }
      }
    });
  }

  /** Image embeddings of every item; one vision pass per distinct pixel array (noise rows share it). */
  private async imageEmbedsOf(items: PrefillItem[]): Promise<Float32Array[]> {
    const needed = [...new Set(items.filter((it) => !it.imageEmbeds).map((it) => it.pixels!))];
    const embedded = new Map<Float32Array, Float32Array>();
    if (needed.length) (await this.runVision(needed)).forEach((e, k) => embedded.set(needed[k], e));
    return items.map((it) => it.imageEmbeds ?? embedded.get(it.pixels!)!);
  }

  async caption(items: CaptionItem[], opts: CaptionOptions = {}): Promise<Caption[]> {
    const maxNew = opts.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS;
    if (!(Number.isInteger(maxNew) && maxNew >= 1)) throw new ModelError("bad-item", "maxNewTokens", `must be a positive integer, got ${maxNew}`);
    if (this.geo.promptLength + maxNew > this.manifest.maxPositions) {
      throw new ModelError("bad-item", "maxNewTokens", `prompt ${this.geo.promptLength} + ${maxNew} new tokens exceeds the model's ${this.manifest.maxPositions} positions`);
    }
    // A drafted row's cache holds its draft (< maxNew slots), the tokens decoded after it (< maxNew)
    // and re-draft slots (≤ maxNew in all, see greedyDraft); the default batch shrinks to fit that.
    const cacheTokens = Array.isArray(items) && items.some((it) => it?.draft) ? 3 * maxNew : maxNew;
    const batch = opts.batchSize ?? Math.max(1, Math.min(this.maxBatch, Math.floor(this.budget / batchBytes(this.geo, 1, cacheTokens))));
    this.checkItems(items, "caption", Math.min(batch, items.length), cacheTokens);
    items.forEach((it, k) => {
      if (it.draft === undefined) return;
      if (!Array.isArray(it.draft)) throw new ModelError("bad-item", `draft of item ${k}`, "must be an array of token ids");
      it.draft.forEach((id, j) => this.checkToken(id, `draft of item ${k}, token ${j}`));
    });
    return this.exclusive(async () => {
      const embeds = await this.imageEmbedsOf(items);
      const out: Caption[] = new Array(items.length);
      const drafted = items.some((it) => it.draft) && opts.kvCache !== false && opts.stopAtEos !== false;
      // Drafted rows are batched by draft length (a batch's drafts are padded to its longest).
      const order = items.map((_, k) => k);
      if (drafted) order.sort((a, b) => (items[a].draft?.length ?? 0) - (items[b].draft?.length ?? 0) || a - b);
      for (let i = 0; i < items.length; i += batch) {
        const idx = order.slice(i, i + batch);
        const ids = drafted
          ? await this.greedyDraft(idx.map((k) => embeds[k]), idx.map((k) => items[k].delta), idx.map((k) => items[k].draft ?? []), maxNew, opts, idx.map((k) => items[k].scale))
          : await this.greedy(idx.map((k) => embeds[k]), idx.map((k) => items[k].delta), maxNew, opts, idx.map((k) => items[k].scale));
        ids.forEach((row, j) => (out[idx[j]] = { ids: row, text: this.tokenizer.decode(row) }));
        opts.onProgress?.(Math.min(i + batch, items.length), items.length);
      }
      return out;
    });
  }

  /**
   * Greedy decoding of one batch; rows that emit EOS leave the batch. With `kvCache: false`
   * every step re-runs the whole sequence (the baseline of bench (b), same graph, same answers).
   */
  private async greedy(images: Float32Array[], deltas: (Float32Array | undefined)[], maxNew: number,
                       { kvCache = true, stopAtEos = true, deltaScope = "image" }: CaptionOptions = {}, scales: (Float32Array | undefined)[] = []): Promise<number[][]> {
    const { hidden: H, vocab: V, layers: L, ffn: D, promptLength: T0 } = this.geo;
    const eos = stopAtEos ? this.manifest.eosId : -1;
    const B = images.length;
    const outIds: number[][] = images.map(() => []);
    const fetch = kvCache ? ["logits", ...this.presentNames()] : ["logits"];

    const last = this.logitsAt([T0 - 1], T0);
    let res = await this.s.decoder.run({ ...this.prefillFeeds(this.promptEmbeds(images), B, deltas, false, deltaScope, scales), ...last.feed }, fetch);
    let rows = Array.from({ length: B }, (_, b) => b); // original row of each batch row
    let logits = f32Data(res.logits);
    let lastOffset = (b: number) => (b * last.K + last.at(T0 - 1)) * V;

    for (let step = 0; step < maxNew; step++) {
      // Pick the next token of every live row; keep those that did not end.
      const keep: number[] = [];
      const next: number[] = [];
      rows.forEach((r, b) => {
        const tok = argmax(logits, lastOffset(b), V);
        if (tok === eos) return;
        outIds[r].push(tok);
        keep.push(b);
        next.push(tok);
      });
      if (keep.length === 0 || step === maxNew - 1) break;
      rows = keep.map((b) => rows[b]);
      const n = rows.length;
      await this.embedTokens(next);
      if (!kvCache) {
        const T = T0 + step + 1;
        const want = this.logitsAt([T - 1], T);
        const feeds = { ...this.prefillFeeds(this.promptEmbeds(rows.map((r) => images[r]), rows.map((r) => outIds[r])), n, rows.map((r) => deltas[r]), false, deltaScope, rows.map((r) => scales[r])), ...want.feed };
        res = await this.s.decoder.run(feeds, fetch);
        logits = f32Data(res.logits);
        lastOffset = (b: number) => (b * want.K + want.at(T - 1)) * V;
        continue;
      }
      const past = T0 + step; // cache length
      const emb = new Float32Array(n * H);
      next.forEach((tok, k) => emb.set(this.tokenEmbeds.get(tok)!, k * H));
      const feeds = this.decodeFeeds(emb, new BigInt64Array(n * (past + 1)).fill(1n), new BigInt64Array(n).fill(BigInt(past)), n, 1, res, keep);
      res = await this.s.decoder.run(feeds, fetch);
      logits = f32Data(res.logits);
      lastOffset = (b: number) => b * V;
    }
    return outIds;
  }

  /**
   * Greedy decoding of one batch with drafts (draft.ts): one pass of prompt ++ draft per row
   * (drafts right-padded to the longest; causal attention keeps padding out of earlier
   * positions), then steps for the rows that left their draft, each step feeding a row's last
   * token plus a re-draft looked up in its draft (lookupDraft) and accepting what greedy agrees
   * with. The KV cache is kept; rejected and padded positions stay in it, masked out per row.
   * Near-tie rows are redone by greedy().
   */
  private async greedyDraft(images: Float32Array[], deltas: (Float32Array | undefined)[], drafts: number[][], maxNew: number,
                            { draftStats: stats, nearTie = NEAR_TIE, lookupTokens = LOOKUP_TOKENS, deltaScope = "image" }: CaptionOptions, scales: (Float32Array | undefined)[] = []): Promise<number[][]> {
    const { hidden: H, vocab: V, layers: L, ffn: D, promptLength: T0 } = this.geo;
    const eos = this.manifest.eosId;
    const B = images.length;
    // Token j of the caption is predicted from draft[<j]; the last token never needs feeding.
    const fed = drafts.map((d) => Math.min(d.length, maxNew - 1));
    const N = Math.max(...fed);
    const padded = drafts.map((d, b) => [...d.slice(0, fed[b]), ...new Array<number>(N - fed[b]).fill(eos)]);
    await this.embedTokens([eos, ...padded.flat()]);
    const fetch = ["logits", ...this.presentNames()];
    const Tv = T0 + N;
    // Logits at the positions that predict caption tokens 0..N: the prompt's last and the draft's.
    const verify = this.logitsAt(Array.from({ length: N + 1 }, (_, j) => T0 - 1 + j), Tv);
    let res = await this.s.decoder.run({ ...this.prefillFeeds(this.promptEmbeds(images, padded), B, deltas, false, deltaScope, scales), ...verify.feed }, fetch);
    const out: number[][] = images.map(() => []);
    const tied: number[] = [];
    // Rows still decoding (in the batch order of `res`'s rows `keep`), each with its attention
    // mask over the physical cache and the logical position of its next input (its last token).
    let rows: number[] = [], keep: number[] = [];
    const mask: Uint8Array[] = [];
    const pos: number[] = [];
    const first = f32Data(res.logits);
    for (let b = 0; b < B; b++) {
      const w = walkDraft(first, (j) => (b * verify.K + verify.at(T0 - 1 + j)) * V, V, drafts[b], fed[b], maxNew, eos, nearTie);
      if (stats) stats.rows++;
      if (w.kind === "tie") { tied.push(b); continue; }
      out[b] = w.ids;
      if (stats) stats.acceptedTokens += w.accepted;
      if (w.kind === "done") { if (stats) stats.fullyAccepted++; continue; }
      rows.push(b);
      keep.push(b);
      pos[b] = T0 + w.ids.length - 1;
      mask[b] = new Uint8Array(Tv).fill(1, 0, pos[b]); // prompt + accepted draft
    }

    let lookupSlots = 0; // extra cache slots spent on re-drafts, at most maxNew (bounds memory)
    while (rows.length > 0) {
      const n = rows.length;
      let props = rows.map((r) => lookupDraft(out[r], drafts[r], Math.min(lookupTokens, maxNew - out[r].length - 1)));
      let k = 1 + Math.max(...props.map((p) => p.length));
      if (lookupSlots + k - 1 > maxNew) { props = rows.map(() => []); k = 1; }
      lookupSlots += k - 1;
      const inputs = rows.map((r, i) => [out[r][out[r].length - 1], ...props[i], ...new Array<number>(k - 1 - props[i].length).fill(eos)]);
      await this.embedTokens(inputs.flat());
      const C = mask[rows[0]].length;
      const emb = new Float32Array(n * k * H);
      const am = new BigInt64Array(n * (C + k));
      const pid = new BigInt64Array(n * k);
      rows.forEach((r, i) => {
        inputs[i].forEach((tok, j) => emb.set(this.tokenEmbeds.get(tok)!, (i * k + j) * H));
        mask[r].forEach((v, t) => (am[i * (C + k) + t] = BigInt(v)));
        am.fill(1n, i * (C + k) + C, (i + 1) * (C + k));
        for (let j = 0; j < k; j++) pid[i * k + j] = BigInt(pos[r] + j);
      });
      res = await this.s.decoder.run(this.decodeFeeds(emb, am, pid, n, k, res, keep), fetch);
      if (stats) stats.decodeSteps++;
      const logits = f32Data(res.logits);
      const alive: number[] = [];
      keep = [];
      rows.forEach((r, i) => {
        const w = walkDraft(logits, (j) => (i * k + j) * V, V, props[i], props[i].length, maxNew - out[r].length, eos, nearTie);
        if (w.kind === "tie") { tied.push(r); return; }
        out[r].push(...w.ids);
        if (stats) stats.acceptedTokens += w.accepted;
        if (w.kind === "done") return;
        // This step's slots: the last token and the accepted re-draft are kept, the rest masked.
        const m = new Uint8Array(C + k);
        m.set(mask[r]);
        m.fill(1, C, C + w.ids.length);
        mask[r] = m;
        pos[r] += w.ids.length;
        alive.push(r);
        keep.push(i);
      });
      rows = alive;
    }

    if (tied.length) {
      if (stats) stats.ties += tied.length;
      const redo = await this.greedy(tied.map((b) => images[b]), tied.map((b) => deltas[b]), maxNew, { deltaScope }, tied.map((b) => scales[b]));
      tied.forEach((b, k) => (out[b] = redo[k]));
    }
    return out;
  }

  // ------------------------------------------------------------------------------ teacher-forced target

  async target(items: TargetItem[], { deltaScope = "image", tap = false }: { deltaScope?: DeltaScope; tap?: boolean } = {}): Promise<TargetResult[]> {
    this.checkItems(items, "target", Math.min(items.length, this.maxBatch));
    items.forEach((it, k) => {
      if (!Array.isArray(it.captionIds)) throw new ModelError("bad-token", `captionIds of item ${k}`, "must be an array of token ids");
      it.captionIds.forEach((id, j) => this.checkToken(id, `captionIds of item ${k}, token ${j}`));
      this.checkToken(it.targetId, `targetId of item ${k}`);
      if (this.geo.promptLength + it.captionIds.length > this.manifest.maxPositions) {
        throw new ModelError("bad-item", `captionIds of item ${k}`, `sequence of ${this.geo.promptLength + it.captionIds.length} exceeds the model's ${this.manifest.maxPositions} positions`);
      }
    });
    return this.exclusive(async () => {
      const embeds = await this.imageEmbedsOf(items);
      const { vocab: V, promptLength: T0 } = this.geo;
      const eos = this.manifest.eosId;
      await this.embedTokens([eos, ...items.flatMap((it) => it.captionIds)]);
      const out: TargetResult[] = [];
      for (let i = 0; i < items.length; i += this.maxBatch) {
        const part = items.slice(i, i + this.maxBatch);
        // Right-padded to the longest prefix: causal attention keeps padding out of earlier positions.
        const N = Math.max(...part.map((it) => it.captionIds.length));
        const padded = part.map((it) => [...it.captionIds, ...new Array<number>(N - it.captionIds.length).fill(eos)]);
        const T = T0 + N;
        const feeds = this.prefillFeeds(this.promptEmbeds(embeds.slice(i, i + this.maxBatch), padded), part.length, part.map((it) => it.delta), false, deltaScope, part.map((it) => it.scale));
        // Taps are per call, not per row: the rows' predicting positions, each row reads its own.
        const at = [...new Set(part.map((it) => T0 - 1 + it.captionIds.length))].sort((a, b) => a - b);
        if (tap) feeds.tap_positions = i64(BigInt64Array.from(at, BigInt), [at.length]);
        const want = this.logitsAt(at, T);
        const res = await this.s.decoder.run({ ...feeds, ...want.feed }, tap ? ["logits", "ffn_act"] : ["logits"]);
        const logits = f32Data(res.logits);
        const { layers: L, ffn: D } = this.geo;
        part.forEach((it, b) => {
          const off = (b * want.K + want.at(T0 - 1 + it.captionIds.length)) * V;
          let max = -Infinity;
          for (let v = 0; v < V; v++) max = Math.max(max, logits[off + v]);
          let sum = 0;
          for (let v = 0; v < V; v++) sum += Math.exp(logits[off + v] - max);
          const z = logits[off + it.targetId];
          const r: TargetResult = { z, logp: z - max - Math.log(sum) };
          if (tap) {
            const acts = f32Data(res.ffn_act); // [B,L,taps,D]
            const j = at.indexOf(T0 - 1 + it.captionIds.length);
            r.act = new Float32Array(L * D);
            for (let l = 0; l < L; l++) r.act.set(acts.subarray(((b * L + l) * at.length + j) * D, ((b * L + l) * at.length + j + 1) * D), l * D);
          }
          out.push(r);
        });
      }
      return out;
    });
  }

  // ------------------------------------------------------------------------------ gradient, readout

  async gradient(pixels: Float32Array, captionIds: number[], targetId: number): Promise<GradientResult> {
    this.checkPixels(pixels, "gradient image");
    if (!Array.isArray(captionIds)) throw new ModelError("bad-token", "captionIds", "must be an array of token ids");
    captionIds.forEach((id, k) => this.checkToken(id, `captionIds[${k}]`));
    this.checkToken(targetId, "targetId");
    const T = this.geo.promptLength + captionIds.length;
    if (T > this.manifest.maxPositions) throw new ModelError("bad-item", "captionIds", `sequence of ${T} exceeds the model's ${this.manifest.maxPositions} positions`);
    return this.exclusive(async () => {
      const [img] = await this.runVision([pixels]);
      await this.embedTokens(captionIds);
      const pos = new BigInt64Array(T);
      for (let t = 0; t < T; t++) pos[t] = BigInt(t);
      const res = await this.s.gradient.run({
        inputs_embeds: f32(this.promptEmbeds([img], [captionIds]), [1, T, this.geo.hidden]),
        attention_mask: i64(new BigInt64Array(T).fill(1n), [1, T]),
        position_ids: i64(pos, [1, T]),
        image_start: i64(BigInt64Array.of(BigInt(this.prefix.length)), []),
        target_pos: i64(BigInt64Array.of(BigInt(T - 1)), []),
        target_id: i64(BigInt64Array.of(BigInt(targetId)), []),
      });
      const dims: [number, number, number] = [this.geo.layers, this.geo.imageTokens, this.geo.ffn];
      return { z: f32Data(res.z)[0], act: { data: f32Data(res.act), dims }, grad: { data: f32Data(res.grad), dims } };
    });
  }

  readout(): Promise<Readout> {
    this.readoutCache ??= (async () => {
      const path = join(this.dir, "readout.safetensors");
      const { tensors } = decodeSafetensors(new Uint8Array(await readFile(path)));
      const { layers, hidden, ffn, vocab } = this.geo;
      const wOut = Array.from({ length: layers }, (_, l) => tensors[`w_out.${l}`].data as Float32Array);
      return { hidden, width: ffn, vocab, wOut, wU: tensors.w_u.data as Float32Array };
    })();
    return this.readoutCache;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Refuse new work at once, let queued work finish, then free the sessions.
    this.closed = true;
    await this.queue;
    await Promise.all(Object.values(this.s).map((s) => s.release()));
  }
}
