// Reading neurons: decoding to vocabulary, heatmap values, layer distribution (DESIGN.md §2).
import { type LayerTensor, type Neuron } from "./tensor.js";

/**
 * Readout weights in torch's layout: wOut[l] is down_proj.weight [H, D] (column i is what
 * neuron i writes to the residual stream), wU is lm_head.weight [V, H].
 */
export interface Readout {
  hidden: number;
  width: number;
  vocab: number;
  wOut: Float32Array[];
  wU: Float32Array;
}

/** W_U · W_out[l][:, i]: the neuron's direct logit effect on every token (no final norm, as the paper). */
export function neuronLogits(r: Readout, n: Neuron): Float32Array {
  const { hidden: H, width: D, vocab: V } = r;
  const w = r.wOut[n.layer];
  if (!w) throw new RangeError(`layer ${n.layer} outside the readout's ${r.wOut.length} layers`);
  if (n.index >= D) throw new RangeError(`neuron index ${n.index} outside width ${D}`);
  const col = new Float32Array(H);
  for (let h = 0; h < H; h++) col[h] = w[h * D + n.index];
  const out = new Float32Array(V);
  for (let v = 0; v < V; v++) {
    let s = 0;
    const row = v * H;
    for (let h = 0; h < H; h++) s += r.wU[row + h] * col[h];
    out[v] = s;
  }
  return out;
}

/** Top-n token ids of a neuron's direct logit effect, best first. */
export function decodeNeuron(r: Readout, n: Neuron, topN = 5): { id: number; logit: number }[] {
  const logits = neuronLogits(r, n);
  return Array.from(logits, (logit, id) => ({ id, logit }))
    .sort((a, b) => b.logit - a.logit || a.id - b.id)
    .slice(0, topN);
}

/** c[l,i] = W_out[l][:, i] · W_U[t] for every neuron: Pan et al.'s per-neuron weight, [L*D]. */
export function targetContribution(r: Readout, tokenId: number): Float32Array {
  const { hidden: H, width: D, vocab: V } = r;
  if (!(tokenId >= 0 && tokenId < V)) throw new RangeError(`token id ${tokenId} outside vocabulary of ${V}`);
  const u = r.wU.subarray(tokenId * H, (tokenId + 1) * H);
  const out = new Float32Array(r.wOut.length * D);
  r.wOut.forEach((w, l) => {
    for (let h = 0; h < H; h++) {
      const uh = u[h];
      const row = h * D;
      for (let i = 0; i < D; i++) out[l * D + i] += w[row + i] * uh;
    }
  });
  return out;
}

/** Heatmap values [P]: mean over the given neurons of A[l,p,i] (the paper uses the top-5 by drop). */
export function heatmapValues(act: LayerTensor, neurons: Neuron[]): Float32Array {
  const [, P, D] = act.dims;
  const out = new Float32Array(P);
  if (neurons.length === 0) return out;
  for (const n of neurons) for (let p = 0; p < P; p++) out[p] += act.data[(n.layer * P + p) * D + n.index];
  for (let p = 0; p < P; p++) out[p] /= neurons.length;
  return out;
}

/** |N| per layer (the paper's Fig. 2). */
export function layerDistribution(neurons: Neuron[], layers: number): number[] {
  const counts = new Array<number>(layers).fill(0);
  for (const n of neurons) counts[n.layer] += 1;
  return counts;
}
