// The pipeline's mechanics on a real (random-weight) bundle and real synthetic data: every step
// writes verifiable artifacts, a second pass reuses all of them, noise runs are deterministic.
// The science (constraints holding, neurons found) needs the trained tiny model: the sweeps on
// models/tiny (test/sweep/sweep.test.ts, test/report/report.browser.test.ts) and docs/TINY_MODEL.md.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStore, isComplete } from "../../core/store/index.js";
import { loadModel, type ModelRuntime } from "../../core/model/runtime.js";
import { parseSpec } from "../../core/spec.js";
import type { PipelineContext } from "../../core/pipeline/context.js";
import { planSweep, type SweepPlan } from "../../core/pipeline/plan.js";
import {
  captionImages, evaluationSet, identifySample, inpaintSample, perturbGroup, readIdentify, scoreGroup,
  selectNeurons, type SampleRecord,
} from "../../core/pipeline/steps.js";

const BUNDLE = "test/fixtures/model/tiny-random";

describe("pipeline steps (random bundle)", () => {
  let dir: string;
  let model: ModelRuntime;
  let ctx: PipelineContext;
  let plan: SweepPlan;
  const events: { step: string; reused: boolean }[] = [];
  const spec = parseSpec({
    bundle: BUNDLE, concepts: ["bear", "unicorn"], samplesPerConcept: 1, seed: 3,
    thresholds: { mode: "rules", default: { act: { mode: "count", n: 6 }, grad: { mode: "count", n: 3 } } },
    noise: { levels: [1, 4], draws: 2 }, randomGroups: 2,
    // Random weights name nothing, so faithful sets would be empty: score every annotated image.
    eval: { sets: "all", otherImages: 3, maxNewTokens: 6 },
  });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kn-steps-"));
    model = await loadModel(BUNDLE);
    const bert = { identity: { name: "token-overlap (test double for BERTScore, not under test here)" }, score: async (c: string[], r: string[]) => c.map((x, i) => (x === r[i] ? 1 : 0)) };
    ctx = { store: createStore({ kind: "local", dir }), model: async () => model, bertScorer: async () => bert, onStep: (e) => events.push(e) };
    plan = (await planSweep(ctx, "steps-test", spec)).plan;
  });
  afterAll(async () => {
    await model?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("plans the samples and records an unknown concept as a failure", () => {
    expect(plan.concepts).toEqual(["bear"]);
    expect(plan.samples).toHaveLength(1);
    expect(plan.failures[0].item).toMatch(/unicorn/);
    expect(plan.evalImages.length).toBeGreaterThan(50);
    expect(evaluationSet(plan, spec, "bear").filter((i) => !i.concepts.includes("bear"))).toHaveLength(3);
  });

  it("runs identify → select → perturb → score, and a second pass reuses every step", async () => {
    const sample = plan.samples[0];
    const images = evaluationSet(plan, spec, "bear");
    const run = async () => {
      const inpaint = await inpaintSample(ctx, plan, spec, sample);
      const cleanKey = await captionImages(ctx, plan, spec, images);
      // Random weights caption nonsense, so the paper's constraints cannot hold: take the first
      // generated token as the target to exercise the model steps.
      const clean = await model.caption([{ pixels: await model.preprocess(sample.file) }], { maxNewTokens: 6 });
      const record: SampleRecord = {
        sample, status: "accepted", reasons: [], details: [], caption: clean[0].text, captionIds: clean[0].ids,
        inpaintedCaption: "the image shows the snow .", inpaintKey: inpaint.key,
        target: { word: "x", tokenId: clean[0].ids[0], token: "x", position: 0 },
      };
      const identifyKey = await identifySample(ctx, plan, record);
      const { selection } = await selectNeurons(ctx, spec, record, identifyKey);
      const group = selection.groups[0];
      const perturbKeys = await perturbGroup(ctx, plan, spec, record, group, images, cleanKey);
      const { score } = await scoreGroup(ctx, spec, record, group, images, perturbKeys, cleanKey);
      return { identifyKey, selection, perturbKeys, score };
    };
    const first = await run();
    const computed = events.filter((e) => !e.reused).length;
    expect(computed).toBeGreaterThanOrEqual(6);
    events.length = 0;
    const second = await run();
    expect(events.every((e) => e.reused)).toBe(true);
    expect(second).toEqual(first);

    const t = await readIdentify(ctx, first.identifyKey);
    expect(t.act.dims).toEqual([2, 16, 128]);
    expect(t.grad.data.some((v) => v !== 0)).toBe(true);
    const ts = first.selection.groups.find((g) => g.method === "two-stage")!;
    expect(ts.neurons).toHaveLength(3);
    // matched k, and two layer-matched random groups of the two-stage group's size
    expect(first.selection.groups.map((g) => [g.name, g.neurons.length])).toEqual([["two-stage", 3], ["schwettmann", 3], ["pan", 3], ["random-0", 3], ["random-1", 3]]);
    const perLayer = (name: string) => first.selection.groups.find((g) => g.name === name)!.neurons.map((n) => n.layer).sort();
    expect(perLayer("random-0")).toEqual(perLayer("two-stage"));
    expect(perLayer("random-1")).toEqual(perLayer("two-stage"));
    expect(first.selection.groups[3].neurons).not.toEqual(first.selection.groups[4].neurons);
    expect(first.perturbKeys).toHaveLength(2);
    for (const k of first.perturbKeys) expect(await isComplete(ctx.store, k)).toBe(true);
    expect(first.score.levels.map((l) => l.sigma)).toEqual([1, 4]);
    expect(first.score.levels[0].draws).toHaveLength(2);
    expect(first.score.counts.same).toBeGreaterThan(0);
  });
});
