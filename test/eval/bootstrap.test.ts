// The evaluation's arithmetic: faithful sets, selectivity, random control groups, the bootstrap.
import { describe, expect, it } from "vitest";
import { bootstrapTable, comparisonPairs, METRICS, type SampleRuns } from "../../core/eval/bootstrap.js";
import { evaluationSets, selectivity, setScores } from "../../core/eval/scores.js";
import { randomGroup } from "../../core/method/random.js";

const says = (caption: string, k: string) => caption.split(" ").includes(k);

describe("faithful evaluation sets", () => {
  const images = [
    { imageId: 1, concepts: ["bear", "dog"] },
    { imageId: 2, concepts: ["bear"] },
    { imageId: 3, concepts: ["dog", "cat"] },
    { imageId: 4, concepts: ["cat"] },
  ];
  const clean: Record<number, string> = { 1: "a bear", 2: "a tree", 3: "a dog and a cat", 4: "a car" };

  it("keeps only the images and pairs the clean caption names; σ = 0 gives S = 0 and R = 1", () => {
    const sets = evaluationSets("bear", images, (id) => clean[id], says);
    expect(sets).toEqual({ same: [1], other: [[3, "dog"], [3, "cat"]] });
    const r = setScores("bear", sets, (id) => clean[id], says);
    expect([r.suppression, r.retention]).toEqual([0, 1]);
  });

  it("'all' sets count every annotated image and pair, so σ = 0 shows the clean miss rates", () => {
    const sets = evaluationSets("bear", images, null, says);
    expect(sets.same).toEqual([1, 2]);
    const r = setScores("bear", sets, (id) => clean[id], says);
    expect(r.suppression).toBe(0.5);
    expect(r.retention).toBeCloseTo(2 / 3);
  });

  it("selectivity is the target's loss beyond the others' loss", () => {
    expect(selectivity({ pSame: 1, pOther: 1 }, { pSame: 0.25, pOther: 0.75 })).toEqual({ dSame: 0.75, dOther: 0.25, selectivity: 0.5 });
    // Damage that hits every object alike scores 0.
    expect(selectivity({ pSame: 1, pOther: 1 }, { pSame: 0.5, pOther: 0.5 }).selectivity).toBe(0);
  });
});

describe("random control groups", () => {
  const ref = [{ layer: 0, index: 3 }, { layer: 0, index: 9 }, { layer: 2, index: 1 }, { layer: 5, index: 7 }];
  it("layer-matched: same size and count per layer, distinct neurons, seeded", () => {
    const a = randomGroup(ref, { key: "0|s/random-0", layers: 6, width: 50, layerMatched: true });
    expect(a.map((n) => n.layer)).toEqual([0, 0, 2, 5]);
    expect(new Set(a.map((n) => `${n.layer}:${n.index}`)).size).toBe(4);
    expect(randomGroup(ref, { key: "0|s/random-0", layers: 6, width: 50, layerMatched: true })).toEqual(a);
    expect(randomGroup(ref, { key: "0|s/random-1", layers: 6, width: 50, layerMatched: true })).not.toEqual(a);
  });
  it("uniform: any layer, the same size; every neuron is reachable", () => {
    const seen = new Set<string>();
    for (let g = 0; g < 400; g++) for (const n of randomGroup(ref, { key: `u${g}`, layers: 2, width: 5, layerMatched: false })) seen.add(`${n.layer}:${n.index}`);
    expect(seen.size).toBe(10);
  });
  it("refuses a group larger than a layer", () => {
    expect(() => randomGroup([{ layer: 0, index: 0 }, { layer: 0, index: 1 }], { key: "x", layers: 1, width: 1, layerMatched: true })).toThrow(/cannot draw 2/);
  });
});

/** A synthetic sweep: `effect` is how much each method lowers P_same (and `damage` P_other) per level. */
function synthetic(nConcepts: number, nSamples: number, draws: number, effect: Record<string, number>, damage = 0.1): SampleRuns[] {
  let seed = 1;
  const noise = () => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 0.2;
  const out: SampleRuns[] = [];
  for (let c = 0; c < nConcepts; c++) for (let s = 0; s < nSamples; s++) {
    const runs: SampleRuns["runs"] = {};
    for (const [m, e] of Object.entries(effect)) {
      runs[m] = [1, 2].map((lv) => Array.from({ length: draws }, () => ({ pSame: Math.max(0, 1 - e * lv + noise()), pOther: Math.max(0, 1 - damage * lv + noise()) })));
    }
    out.push({ concept: `c${c}`, sampleId: `c${c}/${s}`, clean: { pSame: 1, pOther: 1 }, runs });
  }
  return out;
}

describe("hierarchical paired bootstrap", () => {
  const samples = synthetic(12, 3, 4, { "two-stage": 0.3, random: 0.1 });
  const opts = { resamples: 500, seed: 7 };
  const { rows, differences } = bootstrapTable(samples, ["two-stage", "random"], [1, 2], [["two-stage", "random"]], opts);

  it("gives every row an interval that contains its estimate; σ = 0 is exact", () => {
    expect(rows).toHaveLength(2 * 13 * 4); // methods × (12 knowledge + average) × (σ 0, 1, 2, all)
    for (const r of [...rows, ...differences]) for (const m of METRICS) {
      expect(r[m].lo, `${JSON.stringify(r)} ${m}`).toBeLessThanOrEqual(r[m].estimate + 1e-12);
      expect(r[m].hi).toBeGreaterThanOrEqual(r[m].estimate - 1e-12);
    }
    const zero = rows.find((r) => r.method === "random" && r.concept === "average" && r.sigma === 0)!;
    expect([zero.suppression.estimate, zero.retention.estimate, zero.suppression.hi - zero.suppression.lo]).toEqual([0, 1, 0]);
  });

  it("resolves a real difference and not a null one; is deterministic for a seed", () => {
    const d = differences.find((x) => x.sigma === 2)!;
    expect(d.suppression.estimate).toBeCloseTo(0.4, 1);
    expect(d.suppression.lo).toBeGreaterThan(0);
    // Same damage to other objects for both: the retention difference's CI covers 0.
    expect(d.retention.lo).toBeLessThan(0);
    expect(d.retention.hi).toBeGreaterThan(0);
    expect(bootstrapTable(samples, ["two-stage", "random"], [1, 2], [["two-stage", "random"]], opts)).toEqual({ rows, differences });
  });

  it("the estimate is the table's mean over knowledge of the mean over samples of the mean over runs", () => {
    const avg = rows.find((r) => r.method === "two-stage" && r.concept === "average" && r.sigma === 1)!;
    const perSample = samples.map((s) => s.runs["two-stage"][0].reduce((a, r) => a + r.pSame, 0) / 4);
    const perConcept = Array.from({ length: 12 }, (_, c) => (perSample[3 * c] + perSample[3 * c + 1] + perSample[3 * c + 2]) / 3);
    expect(avg.suppression.estimate).toBeCloseTo(1 - perConcept.reduce((a, b) => a + b, 0) / 12, 12);
  });

  it("compares each method with the control and two-stage with each baseline", () => {
    expect(comparisonPairs(["two-stage", "schwettmann", "pan", "random"])).toEqual([
      ["two-stage", "random"], ["schwettmann", "random"], ["pan", "random"], ["two-stage", "schwettmann"], ["two-stage", "pan"],
    ]);
  });
});
