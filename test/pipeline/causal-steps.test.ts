// The causal steps on a real (random-weight) bundle with the ffn_scale input and real synthetic
// data: ablateSample's groups, curve, captions and ground truth (one neuron's entry equals a
// separately computed single mean-ablation), localiseSample, Pan's predicting-token position,
// reuse on a second pass, and the skip on a bundle exported without the ablation input.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStore, readStep } from "../../core/store/index.js";
import { loadModel, type ModelRuntime } from "../../core/model/runtime.js";
import { parseSpec } from "../../core/spec.js";
import type { PipelineContext } from "../../core/pipeline/context.js";
import { planSweep, type SweepPlan } from "../../core/pipeline/plan.js";
import { ablateSample, localiseSample, NO_ABLATION_INPUT } from "../../core/pipeline/causal.js";
import { captionImages, evaluationSet, identifySample, inpaintSample, readActivationStats, readIdentify, selectNeurons, type SampleRecord } from "../../core/pipeline/steps.js";
import { ablationRow, curveSizes } from "../../core/method/ablation.js";
import { panAtPosition } from "../../core/method/baselines.js";
import { decodeSafetensors } from "../../core/store/safetensors.js";
import { canMakeOldBundle, makeOldBundle } from "../setup/old-bundle.js";

const BUNDLE = "test/fixtures/model/tiny-random";

describe("causal steps (random bundle with ffn_scale)", () => {
  let dir: string;
  let model: ModelRuntime;
  let ctx: PipelineContext;
  let plan: SweepPlan;
  const events: { step: string; reused: boolean }[] = [];
  const spec = parseSpec({
    bundle: BUNDLE, concepts: ["bear"], samplesPerConcept: 1, seed: 3,
    thresholds: { mode: "rules", default: { act: { mode: "count", n: 6 }, grad: { mode: "count", n: 3 } } },
    noise: { levels: [1], draws: 1 }, randomGroups: 2, pan: { position: "predicting-token" },
    causal: { groundTruth: "all" },
    eval: { sets: "all", otherImages: 3, maxNewTokens: 6 },
  });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kn-causal-"));
    model = await loadModel(BUNDLE);
    const bert = { identity: { name: "unused" }, score: async (c: string[]) => c.map(() => 0) };
    ctx = { store: createStore({ kind: "local", dir }), model: async () => model, bertScorer: async () => bert, onStep: (e) => events.push(e) };
    plan = (await planSweep(ctx, "causal-test", spec)).plan;
  }, 120_000);
  afterAll(async () => {
    await model?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const prepare = async () => {
    const sample = plan.samples[0];
    const images = evaluationSet(plan, spec, "bear");
    const inpaint = await inpaintSample(ctx, plan, spec, sample);
    const cleanKey = await captionImages(ctx, plan, spec, images);
    // Random weights name nothing: the third generated token is the target, two tokens teacher-forced.
    const clean = await model.caption([{ pixels: await model.preprocess(sample.file) }], { maxNewTokens: 6 });
    const record: SampleRecord = {
      sample, status: "accepted", reasons: [], details: [], caption: clean[0].text, captionIds: clean[0].ids,
      inpaintedCaption: "x", inpaintKey: inpaint.key, target: { word: "x", tokenId: clean[0].ids[2], token: "x", position: 2 },
    };
    const identifyKey = await identifySample(ctx, plan, record, { panPosition: spec.pan.position });
    const { key: selectionKey, selection } = await selectNeurons(ctx, spec, record, identifyKey);
    return { images, cleanKey, record, identifyKey, selectionKey, selection };
  };

  it("ablates every group, draws the curve, captions under ablation, and the ground truth matches a single ablation", async () => {
    const p = await prepare();
    const { key, result } = await ablateSample(ctx, plan, spec, p.record, p.identifyKey, p.selectionKey, p.images, p.cleanKey);
    expect(result.skipped).toBeUndefined();
    expect(result.groups!.map((g) => g.group)).toEqual(["two-stage", "schwettmann", "pan", "random-0", "random-1"]);
    for (const g of result.groups!) {
      expect(g.drop).toBeCloseTo(result.clean!.logp - g.logp, 12);
      expect(g.captions!.pSame + g.captions!.suppression).toBeCloseTo(1, 12);
    }
    const { layers: L, ffnDim: D } = model.manifest;
    expect(result.curve!.filter((c) => c.method === "two-stage").map((c) => c.k)).toEqual(curveSizes(3, L * D));
    expect(result.curve!.filter((c) => c.method === "random-uniform")).toHaveLength(2 * curveSizes(3, L * D).length);

    // Ground truth: neuron n's entry is the drop of log p(t) with n alone set to its mean.
    const gt = result.groundTruth!;
    expect("scores" in gt && gt.neurons).toBe(L * D);
    const stored = decodeSafetensors(await (await readStep(ctx.store, key)).read("groundtruth.safetensors")).tensors;
    const drops = stored.drop.data as Float32Array, dropsZ = stored.drop_z.data as Float32Array;
    const { mean } = await readActivationStats(ctx, p.cleanKey);
    const [embeds] = await model.embedImages([await model.preprocess(p.record.sample.file)]);
    const base = { imageEmbeds: embeds, captionIds: p.record.captionIds.slice(0, 2), targetId: p.record.target!.tokenId };
    const n = p.selection.groups[0].neurons[0];
    const [clean, one] = await model.target([base, { ...base, ...ablationRow([n], L, D, mean) }]);
    expect(Math.abs(drops[n.layer * D + n.index] - (clean.logp - one.logp))).toBeLessThan(1e-5);
    expect(Math.abs(dropsZ[n.layer * D + n.index] - (clean.z - one.z))).toBeLessThan(1e-5);
    if ("scores" in gt) expect(gt.scoresZ).toHaveLength(gt.scores.length);
    if ("scores" in gt) for (const s of gt.scores) expect(s.precisionAtK).toBeGreaterThanOrEqual(0);

    // Pan at the predicting position: its group is the top-k of A there × the contribution.
    const t = await readIdentify(ctx, p.identifyKey);
    expect(t.actPredicting!.length).toBe(L * D);
    expect(p.selection.groups.find((g) => g.method === "pan")!.neurons).toEqual(panAtPosition(t.actPredicting!, t.contribution, 3, L, D));

    const loc = await localiseSample(ctx, plan, p.record, p.identifyKey, p.selectionKey);
    expect(loc.result.groups.map((g) => g.group)).toEqual(["two-stage", "schwettmann", "pan", "random-0", "random-1"]);
    for (const g of loc.result.groups) {
      expect(g.iou).toBeGreaterThanOrEqual(0);
      expect(g.iou).toBeLessThanOrEqual(1);
      expect([0, 1]).toContain(g.pointing);
    }

    events.length = 0;
    const again = await ablateSample(ctx, plan, spec, p.record, p.identifyKey, p.selectionKey, p.images, p.cleanKey);
    expect(again.key).toBe(key);
    expect(events.filter((e) => e.step === "ablate").every((e) => e.reused)).toBe(true);
  }, 300_000);

  it.skipIf(!canMakeOldBundle())("a bundle without ffn_scale: the step records the skip instead of failing", async () => {
    const old = await loadModel(makeOldBundle(BUNDLE, join(dir, "old-bundle")));
    try {
      expect(old.hasAblation).toBe(false);
      const p = await prepare();
      const fresh: PipelineContext = { ...ctx, store: createStore({ kind: "local", dir: join(dir, "other") }), model: async () => old };
      const { result } = await ablateSample(fresh, plan, spec, p.record, p.identifyKey, p.selectionKey, p.images, p.cleanKey);
      expect(result.skipped).toBe(NO_ABLATION_INPUT);
      expect(result.skipped).toMatch(/re-export it/);
    } finally {
      await old.close();
    }
  }, 120_000);
});
