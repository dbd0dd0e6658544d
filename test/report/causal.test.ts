// The report's "Causal tests" section from causal tables built by core/eval/causal.ts on known
// per-sample numbers: the ablation table with intervals, the curve chart, the ground truth, the
// localisation, a skipped bundle's reason, and the IoU beside a sample's heatmap.
import { describe, expect, it } from "vitest";
import type { SweepResults } from "../../core/pipeline/aggregate.js";
import type { AblationResult, LocalisationResult } from "../../core/pipeline/causal.js";
import { ablationTable, groundTruthTable, localisationTable } from "../../core/eval/causal.js";
import { parseSpec } from "../../core/spec.js";
import { renderReport } from "../../report/render.js";
import { statsFixture } from "./fixture.js";

const opts = { resamples: 200, seed: 0 };
const methods = ["two-stage", "random"];

function ablation(sampleId: string, concept: string, drop: number): AblationResult {
  const g = (method: "two-stage" | "random", group: string, d: number) => ({ method, group, neurons: 4, logp: -1 - d, z: 2 - d, drop: d, dz: d, captions: { pSame: 0.5, pOther: 0.9, suppression: 0.5, retention: 0.9, dSame: 0.5, dOther: 0.1, selectivity: 0.4 } });
  return {
    sampleId, concept, value: "mean", scope: "image", clean: { logp: -1, z: 2 },
    groups: [g("two-stage", "two-stage", drop), g("random", "random-0", 0.01), g("random", "random-1", 0.03)],
    curve: [1, 2, 4].flatMap((k) => [{ method: "two-stage", k, logp: 0, z: 0, drop: drop * k, dz: k }, { method: "random", k, group: 0, logp: 0, z: 0, drop: 0.01 * k, dz: 0 }]),
    groundTruth: { neurons: 16, top: [], scores: [{ method: "two-stage", group: "two-stage", k: 4, precisionAtK: 0.75, spearman: 0.6, captured: 0.8 }, { method: "random", group: "random-0", k: 4, precisionAtK: 0, spearman: 0.01, captured: 0.1 }] },
  };
}
const loc = (sampleId: string, concept: string): LocalisationResult => ({
  sampleId, concept, heatmap: { iou: 0.42, pointing: 1 },
  groups: [{ method: "two-stage", group: "two-stage", iou: 0.4, pointing: 1 }, { method: "random", group: "random-0", iou: 0.05, pointing: 0 }],
});

function results(): SweepResults {
  const abl = [ablation("bear/1", "bear", 1.2), ablation("bear/2", "bear", 0.8), ablation("clock/1", "clock", 2.0)];
  const locs = [loc("bear/1", "bear"), loc("clock/1", "clock")];
  return {
    sweepId: "causal-test",
    bundle: { dir: "models/tiny", sha256: "a".repeat(64) },
    dataset: { kind: "synthetic", dir: "/tmp/ds", split: "experiment", instances: "x", sha256: "b".repeat(64) },
    encoder: null, concepts: ["bear", "clock"], ...statsFixture(),
    table4: [], calibration: [], neurons: [], interpretations: [], examples: [], failures: [],
    samples: [{ sampleId: "bear/1", concept: "bear", status: "accepted", reasons: [], details: [], caption: "a bear", inpaintedCaption: "grass", target: "bear", inpaintKey: "i", heatmapKey: "h" }],
    causal: {
      ablation: ablationTable(abl, methods, opts), groundTruth: groundTruthTable(abl, methods, opts), localisation: localisationTable(locs, methods, opts),
      samples: [{ sampleId: "bear/1", concept: "bear", heatmap: { iou: 0.42, pointing: 1 }, groups: [] }],
      skipped: ["skipped: this bundle has no ablation input — re-export it (2 samples)"],
    },
  };
}

describe("the Causal tests section", () => {
  it("tables with intervals, the curve, the skip reason and the IoU beside the heatmap", async () => {
    const r = results();
    // Mean over knowledge of the mean over samples: bear (1.2 + 0.8)/2 = 1, clock 2 → 1.5.
    expect(r.causal!.ablation.find((x) => x.kind === "group" && x.method === "two-stage")!.drop_logp).toBe(1.5);
    expect(r.causal!.ablation.find((x) => x.kind === "group" && x.method === "random")!.drop_logp).toBeCloseTo(0.02, 12);
    const page = await renderReport({ results: r, spec: parseSpec({ concepts: ["bear", "clock"] }), keys: { results: "sweeps/x/results/1" }, images: {}, missing: {}, downloads: ["ablation.csv"], resultsAt: "2026-01-01T00:00:00Z" });
    const section = page.slice(page.indexOf('<section id="causal">'), page.indexOf("</section>", page.indexOf('<section id="causal">')));
    expect(section).toContain("Ablation effect on the target");
    const [, lo, hi] = section.match(/1\.500 <span class="iv">\[(\d\.\d+), (\d\.\d+)\]<\/span>/)!; // two-stage Δ log p(t) and its interval
    expect(Number(lo)).toBeLessThan(1.5);
    expect(Number(hi)).toBe(2);
    expect(section).toContain("0.750"); // precision@k of two-stage
    expect(section).toContain("For 3 samples, every FFN neuron was ablated alone.");
    expect(section).toContain("<svg"); // the curve
    expect(section).toContain("re-export it (2 samples)");
    expect(section).toContain("IoU (95th pct.)");
    expect(page).toContain("heatmap, top-5 neurons — IoU 0.420, pointing hit");
    expect(page).toContain('href="#causal"');
  });

  it("says so when a sweep ran none", async () => {
    const r = results();
    delete r.causal;
    const page = await renderReport({ results: r, spec: null, keys: { results: "k" }, images: {}, missing: {}, downloads: [], resultsAt: "2026-01-01T00:00:00Z" });
    expect(page).toContain("This sweep ran no causal tests");
  });
});
