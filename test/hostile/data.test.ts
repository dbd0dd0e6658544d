/**
 * Hostile datasets through a real direct run (models/tiny, real BERTScore): each bad item fails
 * alone, named, and the run completes with the rest; failures.json lists every one.
 */
import { mkdir, rm, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runDirect } from "../../core/pipeline/direct.js";
import { readStep, createStore, type ArtifactStore } from "../../core/store/index.js";
import type { SweepPlan } from "../../core/pipeline/plan.js";
import type { SweepResults } from "../../core/pipeline/aggregate.js";
import { tempDir } from "../setup/services.js";
import { cocoSubset, runtimeContext, smallSpec, writeCoco } from "./fixtures.js";
import { sentinel } from "./harness.js";

describe("a dataset with hostile items", () => {
  const root = tempDir("kneuron-hostile-data-");
  const dir = path.join(root, "dataset");
  let store: ArtifactStore;
  let guard: Awaited<ReturnType<typeof sentinel>>;
  let plan: SweepPlan;
  let results: SweepResults;
  let ctx: ReturnType<typeof runtimeContext>;

  beforeAll(async () => {
    // Category names unlike COCO's (samples are chosen by id, so evaluation images must be too).
    const coco = await cocoSubset(dir, { samples: 2, others: 4, rename: (n) => `${n.toUpperCase()} (renamed)` });
    // Three bear samples that must each fail alone, made the largest so they are picked first.
    await writeFile(path.join(root, "outside.png"), await sharp({ create: { width: 128, height: 128, channels: 3, background: "#808080" } }).png().toBuffer());
    await mkdir(path.join(root, "private"));
    await writeFile(path.join(root, "private", "secret.png"), await sharp({ create: { width: 128, height: 128, channels: 3, background: "#404040" } }).png().toBuffer());
    await symlink(path.join(root, "private", "secret.png"), path.join(dir, "val2017", "link.png"));
    await writeFile(path.join(dir, "val2017", "huge.png"), await sharp({ create: { width: 9000, height: 9000, channels: 3, background: "#000000" } }).png({ compressionLevel: 1 }).toBuffer());
    const bad = [
      { id: 1, file_name: "../../outside.png", width: 128, height: 128 },
      { id: 2, file_name: "link.png", width: 128, height: 128 },
      { id: 3, file_name: "huge.png", width: 9000, height: 9000 },
    ];
    coco.images.push(...bad);
    // An evaluation image that is cut off half way (handled before, kept): it leaves the
    // evaluation set with its reason.
    const full = await sharp({ create: { width: 128, height: 128, channels: 3, background: "#a0a0a0" } }).png().toBuffer();
    await writeFile(path.join(dir, "val2017", "truncated.png"), full.subarray(0, full.length >> 1));
    coco.images.push({ id: 4, file_name: "truncated.png", width: 128, height: 128 });
    for (const img of bad) coco.annotations.push({ id: 100 + img.id, image_id: img.id, category_id: 23, bbox: [0, 0, img.width, img.height], area: img.width * img.height, iscrowd: 0 });
    await writeCoco(dir, coco);

    store = createStore({ kind: "local", dir: path.join(root, "store") });
    guard = await sentinel(store);
    // A store whose first inpainting write fails with a plain Error: an unexpected failure
    // inside one sample's step (a full disk, a bug), not bad input.
    let failed = false;
    const flaky = Object.assign(Object.create(store) as ArtifactStore, {
      put: async (key: string, body: Uint8Array | string) => {
        if (!failed && key.startsWith("inpaint/")) {
          failed = true;
          throw new Error(`simulated write failure for ${key}`);
        }
        return store.put(key, body);
      },
    });
    ctx = runtimeContext(flaky);
    const spec = smallSpec({ kind: "coco", dir, split: "val2017" }, { samplesPerConcept: 5 });
    const r = await runDirect(ctx, "hostile-data", spec);
    plan = await (await readStep(store, r.planKey)).readJson<SweepPlan>("plan.json");
    results = await (await readStep(store, r.resultsKey)).readJson<SweepResults>("results.json");
  });
  afterAll(async () => {
    await ctx?.close();
    await rm(root, { recursive: true, force: true });
  });

  const failure = (re: RegExp) => results.failures.filter((f) => re.test(`${f.item}: ${f.reason}`));

  it("a file_name with ../ is a DataError for that image, not a read outside the dataset", () => {
    expect(failure(/sample bear\/1-101: .*outside\.png: resolves to .*outside\.png, outside the dataset directory/)).toHaveLength(1);
  });

  it("a symlink out of the dataset directory is a DataError for that image", () => {
    expect(failure(/sample bear\/2-102: .*link\.png: resolves to .*private\/secret\.png, outside the dataset directory/)).toHaveLength(1);
  });

  it("an oversized image fails alone with the pixel limit in its message", () => {
    expect(failure(/sample bear\/3-103: .*huge\.png: 9000x9000 is 81,000,000 pixels, more than the limit of 40,000,000/)).toHaveLength(1);
  });

  it("a truncated evaluation image leaves the evaluation set with its reason", () => {
    expect(failure(/^image 4: .*truncated\.png: not a decodable image/)).toHaveLength(1);
    expect(plan.evalImages.map((i) => i.imageId)).not.toContain(4);
  });

  it("an unexpected error inside one sample's step fails that sample with its message; the others complete", () => {
    const unexpected = failure(/Error: simulated write failure for inpaint\//);
    expect(unexpected).toHaveLength(1);
    expect(unexpected[0].item).toMatch(/^sample bear\//);
    expect(results.samples.length).toBe(1); // the fifth sample (the second good one) ran to the end
  });

  it("categories named unlike COCO's are matched by id: evaluation images of bear are found", () => {
    expect(plan.evalImages.filter((i) => i.concepts.includes("bear")).map((i) => i.imageId).sort()).toEqual(plan.samples.map((s) => s.imageId).filter((id) => id > 3).sort());
    expect(results.failures.filter((f) => /cands|undefined/.test(f.reason))).toEqual([]);
  });

  it("the store written before the run still verifies", async () => {
    expect(await guard.stillVerifies()).toBe(true);
  });
});
