// `auto` thresholds when no calibration sample is accepted (a random-weight model names nothing):
// every grid cell has no score (NaN, not 0) and the documented fallback, the middle quantiles, is
// taken with its reason — before the fix every cell scored 0 and the loosest was "chosen".
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStore } from "../../core/store/index.js";
import { loadModel, type ModelRuntime } from "../../core/model/runtime.js";
import { parseSpec } from "../../core/spec.js";
import { calibrateConcept } from "../../core/pipeline/calibrate.js";
import type { PipelineContext } from "../../core/pipeline/context.js";
import { planSweep } from "../../core/pipeline/plan.js";
import { captionImages } from "../../core/pipeline/steps.js";

const BUNDLE = "test/fixtures/model/tiny-random";

describe("auto thresholds without an accepted calibration sample", () => {
  let dir: string;
  let model: ModelRuntime;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kn-cal-"));
    model = await loadModel(BUNDLE);
  });
  afterAll(async () => {
    await model?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("takes the fallback with its reason; no cell pretends to a score", async () => {
    const spec = parseSpec({
      bundle: BUNDLE, concepts: ["bear"], samplesPerConcept: 1, seed: 3,
      thresholds: { mode: "auto", actQuantiles: [0.9, 0.97, 0.99], gradQuantiles: [0, 0.5, 0.9], calibrationSamples: 2, draws: 1 },
      noise: { levels: [1], draws: 1 }, eval: { otherImages: 2, maxNewTokens: 4 },
    });
    const ctx: PipelineContext = { store: createStore({ kind: "local", dir }), model: async () => model, bertScorer: async () => ({ identity: {}, score: async (c: string[]) => c.map(() => 0) }) };
    const { plan } = await planSweep(ctx, "cal-test", spec);
    expect(plan.calibration!.samples.length).toBeGreaterThan(0);
    // The calibration samples are the images the generator made for calibration, not the largest annotations.
    const coco = JSON.parse(await readFile(plan.calibration!.instances, "utf8")) as { images: { id: number; kneuron?: { role: string; concept?: string } }[] };
    for (const smp of plan.calibration!.samples) expect(coco.images.find((i) => i.id === smp.imageId)!.kneuron).toMatchObject({ role: "calibration", concept: "bear" });
    const cleanCal = await captionImages(ctx, plan, spec, plan.calibration!.images);
    const cal = await calibrateConcept(ctx, plan, spec, "bear", cleanCal);
    expect(cal.summary.accepted).toBe(0);
    expect(cal.summary.chosen).toBeNull();
    expect(cal.summary.grid).toHaveLength(9);
    for (const g of cal.summary.grid) expect(g.score).toBeNaN();
    expect(cal.rules).toEqual({ act: { mode: "quantile", q: 0.97 }, grad: { mode: "quantile", q: 0.5 } });
    expect(cal.summary.reason).toMatch(/no calibration sample of bear was accepted: fallback q_act = 0.97, q_grad = 0.5/);
  }, 300_000);
});
