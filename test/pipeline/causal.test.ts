// The causal tests on small real cases: deterministic ablation through the runtime on the random
// test bundles (ablating nothing changes nothing; one neuron's ground truth equals a separately
// computed single ablation; an ablation moves exactly what it should), heatmap localisation (a
// heatmap equal to the mask has IoU 1), the ground-truth scores and the causal tables' intervals.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ablationRow, curveSizes, fullRanking, permutation, scoreAgainstTruth, spearman } from "../../core/method/ablation.js";
import { localise, localiseMap } from "../../core/method/localise.js";
import { hierarchicalMean } from "../../core/eval/causal.js";
import { loadModel, type ModelRuntime } from "../../core/model/runtime.js";
import { singleNeuronEffects } from "../../core/pipeline/causal.js";
import { canMakeOldBundle, makeOldBundle } from "../setup/old-bundle.js";

const BUNDLES = ["test/fixtures/model/tiny-random", "test/fixtures/model/llava-random", "test/fixtures/model/minigpt4-random"];

/** log-softmax of row `pos` of [T,V] logits at `id`. */
function logp(logits: Float32Array, V: number, pos: number, id: number): number {
  const row = logits.subarray(pos * V, (pos + 1) * V);
  const max = Math.max(...row);
  return row[id] - max - Math.log(row.reduce((a, v) => a + Math.exp(v - max), 0));
}

function image(S: number, seed: number): Float32Array {
  const px = new Float32Array(3 * S * S);
  let a = seed;
  for (let i = 0; i < px.length; i++) { a = (a * 1103515245 + 12345) >>> 0; px[i] = (a / 2 ** 32) * 4 - 2; }
  return px;
}

describe.each(BUNDLES.filter((b) => existsSync(join(b, "bundle.json"))))("deterministic ablation on %s", (dir) => {
  let model: ModelRuntime;
  let L: number, D: number, V: number, T0: number;
  let px: Float32Array;
  beforeAll(async () => {
    model = await loadModel(dir, { intraOpThreads: 2 });
    ({ layers: L, ffnDim: D, vocab: V } = model.manifest);
    T0 = model.manifest.prompt.prefixIds.length + model.manifest.imageTokens + model.manifest.prompt.suffixIds.length;
    px = image(model.manifest.image.size, 7);
  }, 60_000);
  afterAll(() => model?.close());

  it("has the ffn_scale input", () => expect(model.hasAblation).toBe(true));

  it("ablating nothing changes nothing: scale 1, delta 0 at every prompt position is bit-identical", async () => {
    const [plain] = await model.target([{ pixels: px, captionIds: [3, 4], targetId: 5 }], { deltaScope: "prompt" });
    const ones = new Float32Array(L * D).fill(1);
    const [none] = await model.target([{ pixels: px, captionIds: [3, 4], targetId: 5, scale: ones, delta: new Float32Array(L * D) }], { deltaScope: "prompt" });
    expect(none).toEqual(plain);
    const empty = ablationRow([], L, D, new Float32Array(L * D).fill(0.5)); // no neurons: the mean is never used
    const [again] = await model.target([{ pixels: px, captionIds: [3, 4], targetId: 5, ...empty }]);
    expect(again).toEqual(plain);
  });

  it("teacher-forced log p(t) equals the prefill's logits (independent path), clean and ablated, per row", async () => {
    const target = 5;
    const ab = ablationRow([{ layer: 0, index: 3 }, { layer: L - 1, index: D - 1 }], L, D);
    const [clean, ablated] = await model.target([{ pixels: px, captionIds: [], targetId: target }, { pixels: px, captionIds: [], targetId: target, ...ab }]);
    const [pc, pa] = await model.prefill([{ pixels: px }, { pixels: px, ...ab }]);
    expect(Math.abs(clean.logp - logp(pc.logits, V, T0 - 1, target))).toBeLessThan(1e-5);
    expect(Math.abs(ablated.logp - logp(pa.logits, V, T0 - 1, target))).toBeLessThan(1e-5);
    expect(Math.abs(clean.z - pc.logits[(T0 - 1) * V + target])).toBeLessThan(1e-5);
    // The ablated neurons read exactly 0 at every image position; the others as before in layer 0.
    const [, P] = pa.act.dims;
    for (let p = 0; p < P; p++) {
      expect(pa.act.data[(0 * P + p) * D + 3]).toBe(0);
      expect(pa.act.data[((L - 1) * P + p) * D + D - 1]).toBe(0);
      expect(pa.act.data[(0 * P + p) * D + 4]).toBe(pc.act.data[(0 * P + p) * D + 4]);
    }
  });

  it("the ground truth of one neuron equals a separately computed single ablation (mean-ablation, batched rows)", async () => {
    const mean = new Float32Array(L * D).map((_, k) => Math.sin(k) * 0.3);
    const base = { pixels: px, captionIds: [6, 7, 8], targetId: 9 };
    const { logp: effects, z } = await singleNeuronEffects(model, base, { mean });
    expect(effects.length).toBe(L * D);
    const [clean] = await model.target([base]);
    for (const f of [0, D + 17, L * D - 1]) {
      const [one] = await model.target([{ ...base, ...ablationRow([{ layer: Math.floor(f / D), index: f % D }], L, D, mean) }]);
      expect(Math.abs(effects[f] - (clean.logp - one.logp)), `neuron ${f}`).toBeLessThan(1e-5);
      expect(Math.abs(z[f] - (clean.z - one.z)), `neuron ${f}`).toBeLessThan(1e-5);
    }
    expect(effects.some((e) => Math.abs(e) > 1e-4)).toBe(true);
  }, 120_000);

  it("captions under ablation: scale 1 / delta 0 rows caption like clean rows; the drafted path agrees with plain greedy", async () => {
    const ones = new Float32Array(L * D).fill(1);
    const big = ablationRow(Array.from({ length: D }, (_, i) => ({ layer: 0, index: i })), L, D);
    const [clean, same, abl] = await model.caption([{ pixels: px }, { pixels: px, scale: ones, delta: new Float32Array(L * D) }, { pixels: px, ...big }], { maxNewTokens: 8 });
    expect(same.ids).toEqual(clean.ids);
    const [drafted] = await model.caption([{ pixels: px, ...big, draft: clean.ids }], { maxNewTokens: 8 });
    expect(drafted.ids).toEqual(abl.ids);
  });
});

describe("bundles without the ablation input", () => {
  it.skipIf(!canMakeOldBundle())("keep captioning and refuse a scale with a clear error", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kn-old-bundle-"));
    const model = await loadModel(makeOldBundle(BUNDLES[0], join(dir, "bundle")), { intraOpThreads: 2 });
    try {
      expect(model.hasAblation).toBe(false);
      const px = image(model.manifest.image.size, 1);
      const n = model.manifest.layers * model.manifest.ffnDim;
      expect((await model.caption([{ pixels: px }], { maxNewTokens: 4 })).length).toBe(1);
      await expect(model.target([{ pixels: px, captionIds: [], targetId: 3, scale: new Float32Array(n) }])).rejects.toThrow(/no ffn_scale input.*re-export/);
      expect((await model.target([{ pixels: px, captionIds: [], targetId: 3 }]))[0].logp).toBeLessThan(0);
    } finally {
      await model.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe("localisation", () => {
  const h = 40, w = 50;
  const mask = new Uint8Array(h * w).map((_, i) => (Math.floor(i / w) >= 10 && Math.floor(i / w) < 30 && i % w >= 5 && i % w < 25 ? 1 : 0));

  it("a heatmap equal to the mask has IoU 1 and points inside", () => {
    expect(localiseMap(Float32Array.from(mask), mask)).toEqual({ iou: 1, pointing: 1 });
  });

  it("a heatmap away from the object has IoU 0 and misses", () => {
    const heat = new Float32Array(h * w).map((_, i) => (i % w >= 40 ? 1 + (i % 7) : 0));
    expect(localiseMap(heat, mask)).toEqual({ iou: 0, pointing: 0 });
  });

  it("a token-grid heatmap is upsampled like the displayed one: the hot cell covers the mask's centre", () => {
    const grid = new Float32Array(16);
    grid[1 * 4 + 1] = 1; // cell (1, 1) of a 4×4 grid over 40×50 px: y 10–20, x 12.5–25
    const r = localise(grid, [4, 4], mask, h, w);
    expect(r.pointing).toBe(1);
    expect(r.iou).toBeGreaterThan(0.1);
    expect(() => localise(grid, [4, 5], mask, h, w)).toThrow(/16 values for a 4x5 grid/);
  });
});

describe("ground-truth scores and the curve's sizes", () => {
  it("precision@k, Spearman and the captured share on a known case", () => {
    const effect = Float32Array.from([0.5, 0.1, 0.9, 0, 0.3, 0.2]);
    const perfect = [2, 0, 4, 5, 1, 3];
    expect(scoreAgainstTruth(perfect, 2, effect)).toEqual({ precisionAtK: 1, spearman: 1, captured: 1 });
    const reversed = [...perfect].reverse();
    const r = scoreAgainstTruth(reversed, 2, effect);
    expect(r.precisionAtK).toBe(0);
    expect(r.spearman).toBeCloseTo(-1, 12);
    expect(r.captured).toBeCloseTo(0.1 / 1.4, 6);
    expect(spearman([1, 2, 3, 4], [10, 20, 20, 40])).toBeCloseTo(0.9486833, 6); // ties share ranks (scipy)
    expect(() => scoreAgainstTruth([0, 1], 1, effect)).toThrow(/covers 2 neurons/);
  });

  it("rankings cover every neuron once; a control's is a seeded permutation", () => {
    const L = 2, P = 3, D = 4;
    const act = { data: Float32Array.from({ length: L * P * D }, (_, k) => (k % 5) - 1), dims: [L, P, D] as [number, number, number] };
    const grad = { data: Float32Array.from({ length: L * P * D }, (_, k) => ((k * 7) % 3) - 1), dims: act.dims };
    const t = { act, actInpainted: act, grad, contribution: Float32Array.from({ length: L * D }, (_, k) => k - 3), aggregate: "max" as const, twoStage: [{ layer: 1, index: 2 }] };
    for (const m of ["two-stage", "schwettmann", "pan", "random"]) expect([...fullRanking(m, t, "s")].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(fullRanking("two-stage", t, "")[0]).toBe(6);
    expect(permutation(8, "a")).toEqual(permutation(8, "a"));
    expect(permutation(8, "a")).not.toEqual(permutation(8, "b"));
  });

  it("curve sizes: powers of two up to 4·|N_k|, capped at every neuron", () => {
    expect(curveSizes(23, 1536)).toEqual([1, 2, 4, 8, 16, 32, 64, 128]);
    expect(curveSizes(0, 1536)).toEqual([1, 2, 4]);
    expect(curveSizes(500, 1536)).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 1536]);
  });

  it("the hierarchical bootstrap: mean of knowledge means, interval around it", () => {
    const vals = [
      { concept: "a", sampleId: "a/1", value: 1 }, { concept: "a", sampleId: "a/2", value: 3 },
      { concept: "b", sampleId: "b/1", value: 10 }, { concept: "b", sampleId: "b/1", value: 20 }, // two groups of one sample: averaged first
      { concept: "c", sampleId: "c/1", value: Number.NaN },
    ];
    const e = hierarchicalMean(vals, { resamples: 500, seed: 3 });
    expect(e.estimate).toBe((2 + 15) / 2);
    expect(e.samples).toBe(3);
    expect(e.lo).toBeLessThanOrEqual(e.estimate);
    expect(e.hi).toBeGreaterThanOrEqual(e.estimate);
    expect(e.lo).toBeGreaterThanOrEqual(1);
    expect(e.hi).toBeLessThanOrEqual(15);
  });
});
