// The two baselines as the seed paper uses them (DESIGN.md §2 step 5).
import {
  type LayerTensor, type NeuronScores, type ScoredNeuron,
  checkSameDims, neuronAt, reducePositions, sortScored, topK,
} from "./tensor.js";

/**
 * Schwettmann et al. 2023: activation x gradient of the same z_t.
 * `mean`: S[l,i] = mean_p A·dz/dA, top-k neurons.
 * `pairs`: their own ranking of (unit, patch) pairs: the `pairsPerImage` best pairs, then the
 * distinct neurons among them in order of first appearance, truncated to k.
 */
export function schwettmann(act: LayerTensor, grad: LayerTensor, k: number, aggregate: "mean" | "pairs" = "mean", pairsPerImage = 100): ScoredNeuron[] {
  checkSameDims(act, grad, "schwettmann");
  const a = act.data;
  const g = grad.data;
  const [L, P, D] = act.dims;
  if (aggregate === "mean") {
    return topK({ scores: reducePositions(act.dims, "mean", (j) => a[j] * g[j]), layers: L, width: D }, k);
  }
  const pairs: { flat: number; score: number }[] = [];
  for (let l = 0; l < L; l++) for (let p = 0; p < P; p++) for (let i = 0; i < D; i++) {
    const j = (l * P + p) * D + i;
    pairs.push({ flat: l * D + i, score: a[j] * g[j] });
  }
  pairs.sort((x, y) => y.score - x.score || x.flat - y.flat);
  const seen = new Map<number, number>();
  for (const pr of pairs.slice(0, pairsPerImage)) if (!seen.has(pr.flat)) seen.set(pr.flat, pr.score);
  return sortScored([...seen].map(([flat, score]) => ({ ...neuronAt(flat, D), score }))).slice(0, k);
}

/**
 * Pan et al. 2024: S[l,i] = mean_p A[l,p,i] · c[l,i], with c[l,i] = W_out[l][:, i] · W_U[t] the
 * neuron's direct contribution to t's logit (raw: no final norm, no softmax).
 * `contribution` is [L*D]. The mean runs over the image patches, as for the other methods (Pan's
 * own variant reads the text position that predicts t: panAtPosition, `pan.position`).
 */
export function pan(act: LayerTensor, contribution: Float32Array, k: number): ScoredNeuron[] {
  const [L, , D] = act.dims;
  if (contribution.length !== L * D) throw new RangeError(`pan: contribution has ${contribution.length} values, expected ${L * D}`);
  const meanAct = reducePositions(act.dims, "mean", (j) => act.data[j]);
  const scores = new Float32Array(L * D);
  for (let j = 0; j < scores.length; j++) scores[j] = meanAct[j] * contribution[j];
  const s: NeuronScores = { scores, layers: L, width: D };
  return topK(s, k);
}

/**
 * Pan et al. 2024 as their paper reads it: S[l,i] = A[l,i] · c[l,i] with A taken at the text
 * position that predicts t (`act` [L*D]), not at the image patches.
 */
export function panAtPosition(act: Float32Array, contribution: Float32Array, k: number, layers: number, width: number): ScoredNeuron[] {
  if (act.length !== layers * width || contribution.length !== layers * width) throw new RangeError(`pan: ${act.length} activations and ${contribution.length} contributions, expected ${layers * width}`);
  return topK({ scores: act.map((a, j) => a * contribution[j]), layers, width }, k);
}
