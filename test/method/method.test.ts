import { describe, expect, it } from "vitest";
import { type LayerTensor, quantile } from "../../core/method/tensor.js";
import { activationDrop, gradcam, twoStage } from "../../core/method/two-stage.js";
import { applyRule } from "../../core/method/thresholds.js";
import { pan, schwettmann } from "../../core/method/baselines.js";
import { noiseDelta, positionStd, seededNormal } from "../../core/method/noise.js";
import { decodeNeuron, heatmapValues, layerDistribution, targetContribution } from "../../core/method/decode.js";
import { suppressionRetention } from "../../core/eval/scores.js";

// L=2 layers, P=3 positions, D=4 neurons; value(l,p,i) given by a function.
function tensor(f: (l: number, p: number, i: number) => number, L = 2, P = 3, D = 4): LayerTensor {
  const data = new Float32Array(L * P * D);
  for (let l = 0; l < L; l++) for (let p = 0; p < P; p++) for (let i = 0; i < D; i++) data[(l * P + p) * D + i] = f(l, p, i);
  return { data, dims: [L, P, D] };
}

describe("two-stage filtering", () => {
  const orig = tensor((l, p, i) => (l === 1 && i === 2 && p === 1 ? 5 : 1));
  const inp = tensor(() => 1);
  it("stage 1 takes the max drop over patches, and mean as an option", () => {
    const max = activationDrop(orig, inp, "max");
    expect(max.scores[1 * 4 + 2]).toBe(4);
    expect(max.scores[0]).toBe(0);
    expect(activationDrop(orig, inp, "mean").scores[6]).toBeCloseTo(4 / 3, 6);
  });
  it("stage 2 keeps only candidates whose GradCAM passes", () => {
    const act = tensor(() => 2);
    // neuron (1,2) has a negative gradient, (0,1) positive; stage 1 passes (1,2) and (0,1).
    const grad = tensor((l, _p, i) => (l === 1 && i === 2 ? -1 : l === 0 && i === 1 ? 3 : 0.1));
    const orig2 = tensor((l, _p, i) => ((l === 1 && i === 2) || (l === 0 && i === 1) ? 9 : 1));
    const r = twoStage(activationDrop(orig2, inp), gradcam(act, grad), { mode: "manual", value: 1 }, { mode: "manual", value: 0 });
    expect(r.candidates.map((n) => [n.layer, n.index])).toEqual([[0, 1], [1, 2]]);
    expect(r.selected.map((n) => [n.layer, n.index, n.score])).toEqual([[0, 1, 6]]);
  });
  it("rejects mismatched shapes", () => {
    expect(() => activationDrop(orig, tensor(() => 0, 2, 2, 4))).toThrow(/shapes differ/);
  });
});

describe("thresholds", () => {
  const s = { scores: Float32Array.from([5, 1, 3, 2, 4, 0]), layers: 2, width: 3 };
  it("count keeps the top n and reports the last kept score", () => {
    const r = applyRule(s, { mode: "count", n: 2 });
    expect(r.neurons.map((n) => n.score)).toEqual([5, 4]);
    expect(r.tau).toBe(4);
  });
  it("quantile thresholds like numpy's linear quantile", () => {
    expect(quantile([0, 1, 2, 3, 4, 5], 0.5)).toBeCloseTo(2.5);
    const r = applyRule(s, { mode: "quantile", q: 0.5 });
    expect(r.neurons.map((n) => n.score)).toEqual([5, 4, 3]);
  });
  it("manual is strict >", () => {
    expect(applyRule(s, { mode: "manual", value: 4 }).neurons.map((n) => n.score)).toEqual([5]);
  });
});

describe("baselines", () => {
  it("Schwettmann ranks by mean A·grad; pairs ranks (unit, patch) pairs", () => {
    const act = tensor((_l, p, i) => (i === 0 && p === 0 ? 10 : 1));
    const grad = tensor((l, _p, i) => (l === 0 && i === 3 ? 2 : 1));
    const mean = schwettmann(act, grad, 2, "mean");
    expect(mean[0]).toMatchObject({ layer: 0, index: 0 });
    expect(mean[0].score).toBeCloseTo(4);
    const pairs = schwettmann(act, grad, 2, "pairs", 2);
    expect(pairs.map((n) => [n.layer, n.index, n.score])).toEqual([[0, 0, 10], [1, 0, 10]]);
  });
  it("Pan multiplies mean activation by the direct contribution", () => {
    const act = tensor((l, _p, i) => l + i);
    const c = Float32Array.from([0, 0, 0, 1, 0, 0, 5, 0]);
    const r = pan(act, c, 1);
    expect(r[0]).toMatchObject({ layer: 1, index: 2, score: 15 });
    expect(() => pan(act, new Float32Array(3), 1)).toThrow(/expected 8/);
  });
});

describe("noise", () => {
  const group = [{ layer: 1, index: 2 }, { layer: 0, index: 1 }];
  const spec = { seed: 7, groupId: "bear/0/two-stage", sigma: 3, draw: 0, layers: 2, width: 4 };
  it("is deterministic, touches only the group, and is order-independent", () => {
    const a = noiseDelta(group, spec);
    expect(Array.from(noiseDelta([...group].reverse(), spec))).toEqual(Array.from(a));
    const touched = Array.from(a).map((v, k) => (v !== 0 ? k : -1)).filter((k) => k >= 0);
    expect(touched).toEqual([1, 6]);
    expect(Array.from(noiseDelta(group, { ...spec, draw: 1 }))).not.toEqual(Array.from(a));
  });
  it("draws standard normals", () => {
    const n = seededNormal("x");
    const xs = Array.from({ length: 20000 }, n);
    const mean = xs.reduce((s, v) => s + v, 0) / xs.length;
    const varr = xs.reduce((s, v) => s + (v - mean) ** 2, 0) / xs.length;
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(varr - 1)).toBeLessThan(0.05);
  });
  it("relative levels scale by the per-neuron std over positions", () => {
    const act = tensor((_l, p, i) => (i === 1 ? p : 0));
    const std = positionStd(act);
    expect(std[1]).toBeCloseTo(Math.sqrt(2 / 3), 5);
    expect(std[0]).toBe(0);
    const d = noiseDelta([{ layer: 0, index: 0 }], { ...spec, scale: std });
    expect(d[0]).toBe(0);
  });
  it("refuses neurons outside the model", () => {
    expect(() => noiseDelta([{ layer: 5, index: 0 }], spec)).toThrow(/outside/);
  });
});

describe("decoding and distributions", () => {
  // H=2, D=2, V=3; layer 0 neuron 1 writes [1, 0]; W_U rows: t0=[1,0], t1=[0,1], t2=[2,0]
  const readout = { hidden: 2, width: 2, vocab: 3, wOut: [Float32Array.from([0, 1, 0, 0]), Float32Array.from([1, 0, 0, 1])], wU: Float32Array.from([1, 0, 0, 1, 2, 0]) };
  it("decodes a neuron to the tokens its column promotes", () => {
    expect(decodeNeuron(readout, { layer: 0, index: 1 }, 2).map((t) => t.id)).toEqual([2, 0]);
  });
  it("target contribution equals the column dot W_U[t]", () => {
    expect(Array.from(targetContribution(readout, 2))).toEqual([0, 2, 2, 0]);
    expect(() => targetContribution(readout, 3)).toThrow(/outside vocabulary/);
  });
  it("heatmap averages the chosen neurons per position; layers are counted", () => {
    const act = tensor((l, p, i) => (l === 0 && i === 0 ? p : 10));
    expect(Array.from(heatmapValues(act, [{ layer: 0, index: 0 }, { layer: 1, index: 0 }]))).toEqual([5, 5.5, 6]);
    expect(layerDistribution([{ layer: 1, index: 0 }, { layer: 1, index: 3 }], 3)).toEqual([0, 2, 0]);
  });
});

describe("suppression and retention", () => {
  const mentions = (c: string, k: string) => c.split(" ").includes(k);
  it("scores the paper's P_same and P_other", () => {
    const r = suppressionRetention("bear", [
      { concepts: ["bear", "bus"], caption: "a bus" },
      { concepts: ["bear"], caption: "a bear" },
      { concepts: ["dog"], caption: "a dog" },
      { concepts: ["cat", "bus"], caption: "a cat" },
    ], mentions);
    expect(r.pSame).toBe(0.5);
    expect(r.pOther).toBeCloseTo(2 / 3);
    expect(r.score).toBeCloseTo((0.5 + 2 / 3) / 2);
  });
});
