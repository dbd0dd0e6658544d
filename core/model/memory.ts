// Memory estimate of one batch, from the bundle's dimensions alone, so that a batch that would
// not fit is refused with a clear message before onnxruntime allocates it.
import { freemem, totalmem } from "node:os";
import { type BundleManifest } from "./bundle.js";
import { ModelError } from "./errors.js";

export interface Geometry {
  layers: number;
  hidden: number;
  ffn: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocab: number;
  /** P: image tokens per image. */
  imageTokens: number;
  imageSize: number;
  /** Vision tower width and token count (CLIP), for the vision pass. */
  visionHidden: number;
  visionTokens: number;
  /** Prompt length including the P image positions. */
  promptLength: number;
  /** The decoder returns logits at every position of a call (bundles without logits_positions). */
  logitsEverywhere?: boolean;
}

/** The dimensions of a bundle; `promptLength` defaults to the bundle's own prompt. */
export function geometryOf(m: BundleManifest, promptLength = m.prompt.prefixIds.length + m.imageTokens + m.prompt.suffixIds.length): Geometry {
  return {
    layers: m.layers, hidden: m.hidden, ffn: m.ffnDim, heads: m.heads, kvHeads: m.kvHeads, headDim: m.headDim,
    vocab: m.vocab, imageTokens: m.imageTokens, imageSize: m.image.size,
    // The bundle does not record the vision tower's width; the text width is a fair stand-in,
    // and the tower's token count (patches + CLS) is exact.
    visionHidden: m.hidden, visionTokens: m.image.patchGrid[0] * m.image.patchGrid[1] + 1,
    promptLength,
  };
}

const F32 = 4;

/**
 * Peak bytes a batch of `batch` rows adds on top of the loaded weights, for the largest of the
 * runtime's passes (vision, prefill with taps, decoding `maxNewTokens` steps). Deliberately
 * generous (×2 on the transient activations for ORT's arena and our copies): refusing a batch
 * that would have fitted costs a smaller batch; accepting one that does not costs the worker.
 */
export function batchBytes(g: Geometry, batch: number, maxNewTokens = 32): number {
  const T = g.promptLength + maxNewTokens;
  const T0 = g.promptLength;
  // KV cache: past in, present out, and our compacted copy when rows finish.
  const kv = 3 * 2 * g.layers * g.kvHeads * T * g.headDim * F32;
  // Prefill transients of one layer (ORT frees between layers): hidden states, q/k/v, scores,
  // FFN gate/up/inner; plus the whole-batch outputs: logits (every prompt position on old
  // decoders, else at most a draft's maxNewTokens + 1), taps [L,T0,D].
  const layer = T0 * (6 * g.hidden + g.heads * T0 + 3 * g.ffn) * F32;
  const logitRows = g.logitsEverywhere === false ? Math.min(T0, maxNewTokens + 1) : T0;
  const outputs = (logitRows * g.vocab + g.layers * T0 * g.ffn + g.layers * g.imageTokens * g.ffn) * F32;
  const inputs = (T0 * g.hidden + g.layers * g.ffn + 3 * g.imageSize * g.imageSize + g.imageTokens * g.hidden) * F32;
  const vision = g.visionTokens * (6 * g.visionHidden + g.visionTokens) * F32;
  // ×1.5: onnxruntime's CPU arena grows in power-of-two steps and keeps its peak (measured: the
  // tiny model's worker at batch 64 peaked 315 MiB above its loaded RSS; the sum alone says 235).
  return Math.ceil(1.5 * batch * (kv + 2 * layer + outputs + inputs + 2 * vision));
}

/** Default budget: half the machine's memory, or what is free now plus what we might reclaim. */
export function defaultBudget(): number {
  return Math.floor(Math.min(0.5 * totalmem(), freemem() + 0.25 * totalmem()));
}

export function checkBatchFits(g: Geometry, batch: number, budget: number, maxNewTokens = 32): void {
  const need = batchBytes(g, batch, maxNewTokens);
  if (need > budget) {
    const perRow = batchBytes(g, 1, maxNewTokens);
    throw new ModelError("batch-too-large", `batch of ${batch}`,
      `needs about ${mib(need)} MiB but the memory budget is ${mib(budget)} MiB; use a batch of at most ${Math.max(1, Math.floor(budget / perRow))}`);
  }
}

const mib = (b: number) => (b / 2 ** 20).toFixed(0);
