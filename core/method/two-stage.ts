// The paper's two-stage filtering (DESIGN.md §2 steps 3-4).
import {
  type Aggregate, type LayerTensor, type NeuronScores, type ScoredNeuron,
  checkSameDims, flatIndex, reducePositions,
} from "./tensor.js";
import { type ThresholdRule, applyRule } from "./thresholds.js";

/** Stage 1 score: agg_p (A(x) - A(x~)) per neuron — how much the neuron drops when k is inpainted away. */
export function activationDrop(original: LayerTensor, inpainted: LayerTensor, agg: Aggregate = "max"): NeuronScores {
  checkSameDims(original, inpainted, "activationDrop");
  const a = original.data;
  const b = inpainted.data;
  return { scores: reducePositions(original.dims, agg, (k) => a[k] - b[k]), layers: original.dims[0], width: original.dims[2] };
}

/** Stage 2 score: agg_p A · dz_t/dA (GradCAM, signed, no ReLU). */
export function gradcam(act: LayerTensor, grad: LayerTensor, agg: Aggregate = "max"): NeuronScores {
  checkSameDims(act, grad, "gradcam");
  const a = act.data;
  const g = grad.data;
  return { scores: reducePositions(act.dims, agg, (k) => a[k] * g[k]), layers: act.dims[0], width: act.dims[2] };
}

export interface TwoStageResult {
  tauAct: number;
  tauGrad: number;
  /** Stage 1 survivors, best drop first (score = drop). */
  candidates: ScoredNeuron[];
  /** N_k: stage 2 survivors among the candidates, best GradCAM first (score = GradCAM). */
  selected: ScoredNeuron[];
}

export function twoStage(drop: NeuronScores, cam: NeuronScores, act: ThresholdRule, grad: ThresholdRule): TwoStageResult {
  if (drop.layers !== cam.layers || drop.width !== cam.width) throw new RangeError("twoStage: score shapes differ");
  const stage1 = applyRule(drop, act);
  const flats = stage1.neurons.map((n) => flatIndex(n, drop.width));
  const stage2 = applyRule(cam, grad, flats);
  return { tauAct: stage1.tau, tauGrad: stage2.tau, candidates: stage1.neurons, selected: stage2.neurons };
}
