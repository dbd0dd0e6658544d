// The random-neuron control: groups a method's result is compared with. Seeded from the sweep
// seed and the group's id, so a retried step draws the same neurons.
import { Rng } from "../rng.js";
import type { ScoredNeuron, Neuron } from "./tensor.js";

export interface RandomGroupSpec {
  /** Stable id, e.g. `<sampleId>/random-3`. */
  key: string;
  layers: number;
  width: number;
  /** Layer-matched: the same count per layer as `reference`; otherwise any layer. */
  layerMatched: boolean;
}

/** Uniform integers in [0, n) from the project's seeded stream. */
function uniformStream(key: string): (n: number) => number {
  const rng = new Rng(key);
  return (n) => Math.min(n - 1, Math.floor(rng.next() * n));
}

/** Draw `count` distinct indices of [0, n) (partial Fisher–Yates on a lazily materialised range). */
function distinct(count: number, n: number, next: (n: number) => number): number[] {
  if (count > n) throw new RangeError(`cannot draw ${count} distinct neurons from ${n}`);
  const swapped = new Map<number, number>();
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const j = i + next(n - i);
    const vj = swapped.get(j) ?? j;
    swapped.set(j, swapped.get(i) ?? i);
    out.push(vj);
  }
  return out;
}

/** One random group of `reference.length` neurons (score 0), sorted by (layer, index). */
export function randomGroup(reference: readonly Neuron[], spec: RandomGroupSpec): ScoredNeuron[] {
  const next = uniformStream(`random|${spec.key}`);
  const picked: Neuron[] = [];
  if (spec.layerMatched) {
    const perLayer = new Array<number>(spec.layers).fill(0);
    for (const n of reference) perLayer[n.layer]++;
    perLayer.forEach((count, layer) => {
      for (const index of distinct(count, spec.width, next)) picked.push({ layer, index });
    });
  } else {
    for (const k of distinct(reference.length, spec.layers * spec.width, next)) picked.push({ layer: Math.floor(k / spec.width), index: k % spec.width });
  }
  return picked.sort((a, b) => a.layer - b.layer || a.index - b.index).map((n) => ({ ...n, score: 0 }));
}
