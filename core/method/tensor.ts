// Dense activation tensors as the runtime returns them: row-major Float32Array [L, P, D]
// (layers x image-token positions x FFN width). One per image.
import { z } from "zod";

export interface LayerTensor {
  data: Float32Array;
  /** [L, P, D] */
  dims: [number, number, number];
}

/** A neuron: FFN unit `index` of decoder layer `layer`. */
export const NeuronSchema = z.object({ layer: z.number().int().nonnegative(), index: z.number().int().nonnegative() });
export type Neuron = z.infer<typeof NeuronSchema>;

/** Aggregation over image positions: the paper's "for at least one patch" is `max`. */
export type Aggregate = "max" | "mean";

export function checkSameDims(a: LayerTensor, b: LayerTensor, what: string): void {
  if (a.dims.some((d, k) => d !== b.dims[k])) {
    throw new RangeError(`${what}: shapes differ ([${a.dims}] vs [${b.dims}])`);
  }
  if (a.data.length !== a.dims[0] * a.dims[1] * a.dims[2]) {
    throw new RangeError(`${what}: data length ${a.data.length} does not match [${a.dims}]`);
  }
}

/**
 * Reduce f(l, p, i) over positions p for every neuron: returns Float32Array [L*D] indexed l*D+i.
 * `value(k)` gets the flat index k = (l*P + p)*D + i.
 */
export function reducePositions(dims: [number, number, number], agg: Aggregate, value: (k: number) => number): Float32Array {
  const [L, P, D] = dims;
  const out = new Float32Array(L * D);
  for (let l = 0; l < L; l++) {
    const o = l * D;
    if (agg === "max") out.fill(-Infinity, o, o + D);
    for (let p = 0; p < P; p++) {
      const base = (l * P + p) * D;
      for (let i = 0; i < D; i++) {
        const v = value(base + i);
        if (agg === "max") { if (v > out[o + i]) out[o + i] = v; }
        else out[o + i] += v;
      }
    }
    if (agg === "mean") for (let i = 0; i < D; i++) out[o + i] /= P;
  }
  return out;
}

/** A per-neuron score vector [L*D] with the width needed to turn flat indices into neurons. */
export interface NeuronScores {
  scores: Float32Array;
  layers: number;
  width: number;
}

export interface ScoredNeuron extends Neuron { score: number }

export function neuronAt(flat: number, width: number): Neuron {
  return { layer: Math.floor(flat / width), index: flat % width };
}

/** Neurons whose score is strictly above `tau`, best first. */
export function aboveThreshold(s: NeuronScores, tau: number, among?: Iterable<number>): ScoredNeuron[] {
  const flats = among ? [...among] : Array.from(s.scores.keys());
  return sortScored(flats.filter((k) => s.scores[k] > tau).map((k) => ({ ...neuronAt(k, s.width), score: s.scores[k] })));
}

/** The n best neurons (ties broken by flat index, so the choice is deterministic). */
export function topK(s: NeuronScores, n: number, among?: Iterable<number>): ScoredNeuron[] {
  const flats = among ? [...among] : Array.from(s.scores.keys());
  const scored = flats.filter((k) => Number.isFinite(s.scores[k])).map((k) => ({ ...neuronAt(k, s.width), score: s.scores[k] }));
  return sortScored(scored).slice(0, Math.max(0, Math.floor(n)));
}

export function sortScored(xs: ScoredNeuron[]): ScoredNeuron[] {
  return xs.sort((a, b) => b.score - a.score || a.layer - b.layer || a.index - b.index);
}

export function flatIndex(n: Neuron, width: number): number {
  return n.layer * width + n.index;
}

/** The q-quantile (0..1, linear interpolation, like numpy's default) of the finite values. */
export function quantile(values: ArrayLike<number>, q: number): number {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile q must be in [0, 1], got ${q}`);
  const xs = Array.from(values).filter(Number.isFinite).sort((a, b) => a - b);
  if (xs.length === 0) throw new RangeError("quantile of an empty set");
  const pos = q * (xs.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo);
}
