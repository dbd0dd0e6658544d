// noise.scope: a delta at every prompt position (not only the image tokens) changes what the model
// sees, and the drafted path stays exact under either scope.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadModel, type ModelRuntime } from "../../core/model/runtime.js";

const BUNDLE = existsSync(join("models/tiny", "bundle.json")) ? "models/tiny" : "test/fixtures/model/tiny-random";

describe(`delta scope on ${BUNDLE}`, () => {
  let model: ModelRuntime;
  let items: { pixels: Float32Array; delta: Float32Array }[];
  let clean: number[][];
  beforeAll(async () => {
    model = await loadModel(BUNDLE);
    const { layers, ffnDim } = model.manifest;
    const files = ["case1.png", "case2.png", "case3.png"].map((f) => join("test/fixtures/data/inpaint", f));
    const pixels = await Promise.all(files.map((f) => model.preprocess(f)));
    // A large delta on a spread of neurons in every layer: enough to move captions.
    const delta = new Float32Array(layers * ffnDim);
    for (let l = 0; l < layers; l++) for (let i = 0; i < ffnDim; i += 7) delta[l * ffnDim + i] = (((i * 31 + l * 17) % 13) - 6) * 20;
    items = pixels.map((p) => ({ pixels: p, delta }));
    clean = (await model.caption(pixels.map((p) => ({ pixels: p })))).map((c) => c.ids.filter((id) => id !== model.manifest.eosId));
  });
  afterAll(async () => model?.close());

  it("has images to caption", () => expect(items.length).toBeGreaterThan(0));

  it("prompt scope differs from image scope, and each is exact with drafts", async () => {
    const image = await model.caption(items, { deltaScope: "image" });
    const prompt = await model.caption(items, { deltaScope: "prompt" });
    expect(prompt.map((c) => c.text)).not.toEqual(image.map((c) => c.text));
    const drafted = (scope: "image" | "prompt") => model.caption(items.map((it, k) => ({ ...it, draft: clean[k] })), { deltaScope: scope });
    expect((await drafted("image")).map((c) => c.ids)).toEqual(image.map((c) => c.ids));
    expect((await drafted("prompt")).map((c) => c.ids)).toEqual(prompt.map((c) => c.ids));
  });
});
