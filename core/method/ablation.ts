// Deterministic ablation (docs/METHOD.md "Causal tests"): the interventions fed to the decoder's
// ffn_scale/ffn_delta inputs, the methods' full rankings, the curve's group sizes and the scores
// of a ranking against the exhaustive single-neuron ground truth. Arithmetic only.
import { gradcam } from "./two-stage.js";
import { type Aggregate, type LayerTensor, type Neuron, flatIndex, reducePositions } from "./tensor.js";
import { Rng } from "../rng.js";

export type AblationValue = "mean" | "zero";

/** ffn_scale / ffn_delta rows [L*D]: each neuron's A set to its mean (`mean` [L*D]) or to 0. */
export function ablationRow(neurons: readonly Neuron[], layers: number, width: number, mean?: Float32Array): { scale: Float32Array; delta: Float32Array } {
  const scale = new Float32Array(layers * width).fill(1);
  const delta = new Float32Array(layers * width);
  if (mean && mean.length !== layers * width) throw new RangeError(`ablation: mean has ${mean.length} values, expected ${layers * width}`);
  for (const n of neurons) {
    if (!(n.layer >= 0 && n.layer < layers && n.index >= 0 && n.index < width)) throw new RangeError(`ablation: neuron (${n.layer}, ${n.index}) is outside ${layers} x ${width}`);
    const k = flatIndex(n, width);
    scale[k] = 0;
    delta[k] = mean ? mean[k] : 0;
  }
  return { scale, delta };
}

/** Group sizes of the ablation curve: 1, 2, 4, … up to the first power of two ≥ 4·n (capped at `total`), one grid for every sample. */
export function curveSizes(n: number, total: number): number[] {
  const top = 4 * Math.max(1, n);
  const out: number[] = [];
  for (let k = 1; k < total; k *= 2) {
    out.push(k);
    if (k >= top) return out;
  }
  out.push(total);
  return out;
}

export interface RankingInputs {
  act: LayerTensor;
  actInpainted: LayerTensor;
  grad: LayerTensor;
  contribution: Float32Array;
  aggregate: Aggregate;
  /** The two-stage group (N_k, best first): it heads the two-stage ranking. */
  twoStage: readonly Neuron[];
  /** A [L*D] at the position that predicts t, when Pan's score reads it (`pan.position`). */
  panAct?: Float32Array;
}

/** Flat indices best first, from a score per neuron (ties by index). */
function order(scores: Float32Array): number[] {
  return Array.from(scores.keys()).sort((a, b) => scores[b] - scores[a] || a - b);
}

/**
 * A method's ranking of every neuron (flat l·D + i, best first), extending its group:
 * two-stage = N_k (by GradCAM), then the other neurons by GradCAM A·∂z/∂A (stage 2's score);
 * schwettmann = mean_p A·∂z/∂A; pan = mean_p A × W_out·W_U[t]; a control = a seeded permutation.
 */
export function fullRanking(method: string, t: RankingInputs, seedKey: string): number[] {
  const [L, , D] = t.act.dims;
  if (method === "two-stage") {
    const head = t.twoStage.map((n) => flatIndex(n, D));
    const inHead = new Set(head);
    return [...head, ...order(gradcam(t.act, t.grad, t.aggregate).scores).filter((k) => !inHead.has(k))];
  }
  if (method === "schwettmann") return order(reducePositions(t.act.dims, "mean", (j) => t.act.data[j] * t.grad.data[j]));
  if (method === "pan") {
    const m = t.panAct ?? reducePositions(t.act.dims, "mean", (j) => t.act.data[j]);
    return order(m.map((v, k) => v * t.contribution[k]));
  }
  // A control: every neuron in a seeded random order.
  return permutation(L * D, seedKey);
}

/** A seeded permutation of [0, n) (Fisher–Yates on the project's Rng, seeded by the key's FNV-1a hash). */
export function permutation(n: number, key: string): number[] {
  let h = 2166136261;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 16777619) >>> 0;
  return new Rng(h).shuffle(Array.from({ length: n }, (_, i) => i));
}

/** Average ranks (1 = smallest), ties sharing their mean rank. */
function ranks(v: ArrayLike<number>): Float64Array {
  const idx = Array.from({ length: v.length }, (_, i) => i).sort((a, b) => v[a] - v[b]);
  const r = new Float64Array(v.length);
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j + 1 < idx.length && v[idx[j + 1]] === v[idx[i]]) j++;
    for (let k = i; k <= j; k++) r[idx[k]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return r;
}

/** Spearman's ρ (Pearson on average ranks); NaN when either side is constant. */
export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): number {
  if (x.length !== y.length) throw new RangeError(`spearman: ${x.length} vs ${y.length} values`);
  const rx = ranks(x), ry = ranks(y);
  const n = rx.length;
  const mx = rx.reduce((a, b) => a + b, 0) / n, my = ry.reduce((a, b) => a + b, 0) / n;
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (rx[i] - mx) * (ry[i] - my);
    sxx += (rx[i] - mx) ** 2;
    syy += (ry[i] - my) ** 2;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : NaN;
}

export interface GroundTruthScore {
  /** |top-k of the ranking ∩ true top-k| / k. */
  precisionAtK: number;
  /** Spearman ρ between the ranking's order (best = highest) and the true effects, over all L·D neurons. */
  spearman: number;
  /** Σ true effect of the method's group / Σ true effect of the true top-k (the most any k neurons' single effects give). */
  captured: number;
}

/**
 * Score a ranking (flat indices best first, covering every neuron) and its group (the first k)
 * against the true single-neuron effects `effect` [L·D] (drop of log p(t) when that neuron is ablated).
 */
export function scoreAgainstTruth(ranking: readonly number[], k: number, effect: Float32Array): GroundTruthScore {
  if (ranking.length !== effect.length) throw new RangeError(`ground truth: ranking covers ${ranking.length} neurons, effects ${effect.length}`);
  const trueTop = order(effect).slice(0, k);
  const group = ranking.slice(0, k);
  const truth = new Set(trueTop);
  const hits = group.filter((f) => truth.has(f)).length;
  // The ranking as a score: the best neuron gets the highest value.
  const score = new Float32Array(ranking.length);
  ranking.forEach((f, r) => (score[f] = ranking.length - r));
  const sum = (xs: number[]) => xs.reduce((a, f) => a + effect[f], 0);
  const best = sum(trueTop);
  return { precisionAtK: k > 0 ? hits / k : NaN, spearman: spearman(score, effect), captured: k > 0 && best > 0 ? sum(group) / best : NaN };
}
