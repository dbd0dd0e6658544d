// The minigpt4 family on the TypeScript side (docs/BUNDLE.md §9): MiniGPT-4's image processor
// bit for bit (fixture written with torchvision by test/fixtures/model/minigpt4_processor.py),
// the [rows, cols] merge factor of its token grid, and heatmaps drawn on that 16×4 grid.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { heatLayer } from "../../core/image/heatmap.js";
import { BundleManifestSchema, dimensionProblem } from "../../core/model/bundle.js";
import { preprocessImage, type ImageSettings } from "../../core/model/preprocess.js";

const DIR = "test/fixtures/model/minigpt4";

describe("minigpt4", () => {
  it("preprocesses exactly like MiniGPT-4's Blip2ImageEvalProcessor (torchvision)", async () => {
    const spec = JSON.parse(readFileSync(`${DIR}/processor.json`, "utf8"));
    const settings: ImageSettings = { size: spec.size, mean: spec.mean, std: spec.std, resample: spec.resample, resize: spec.resize };
    for (const c of spec.cases as { file: string; sha256: string; first: number[] }[]) {
      const px = await preprocessImage(`${DIR}/${c.file}`, settings);
      expect(Array.from(px.subarray(0, 4))).toEqual(c.first.map(Math.fround));
      expect(createHash("sha256").update(Buffer.from(px.buffer, px.byteOffset, px.byteLength)).digest("hex"), c.file).toBe(c.sha256);
    }
  });

  it("accepts the ViT-g grid: 16×16 patches, 4 per token along a row → 16×4 tokens", () => {
    const m = JSON.parse(readFileSync("test/fixtures/model/tiny-random/bundle.json", "utf8"));
    m.family = "minigpt4";
    m.image = { ...m.image, size: 224, patchSize: 14, patchGrid: [16, 16], mergeFactor: [1, 4], tokenGrid: [16, 4], clsTokens: 0 };
    m.imageTokens = 64;
    const parsed = BundleManifestSchema.parse(m);
    expect(dimensionProblem(parsed)).toBeNull();
    expect(dimensionProblem({ ...parsed, image: { ...parsed.image, tokenGrid: [8, 8] } })).toMatch(
      /image\.tokenGrid \[8,8\] × mergeFactor \[1,4\] does not match patchGrid \[16,16\]/);
    expect(BundleManifestSchema.safeParse({ ...m, image: { ...m.image, mergeFactor: [1, 4, 1] } }).success).toBe(false);
  });

  it("draws token (row 2, col 1) of the 16×4 grid over pixels y 28–41, x 56–111 of a 224 image", () => {
    const values = new Float32Array(64);
    values[2 * 4 + 1] = 1;
    const { up } = heatLayer(values, [16, 4], 224, 224);
    let best = 0;
    for (let i = 1; i < up.length; i++) if (up[i] > up[best]) best = i;
    const [y, x] = [Math.floor(best / 224), best % 224];
    expect(y).toBeGreaterThanOrEqual(28);
    expect(y).toBeLessThan(42);
    expect(x).toBeGreaterThanOrEqual(56);
    expect(x).toBeLessThan(112);
    expect(up[35 * 224 + 84]).toBeGreaterThan(0.9);        // next to the cell's centre (34.5, 83.5)
    expect(up[35 * 224 + 20]).toBe(0);                       // the same row, token column 0
    expect(up[80 * 224 + 84]).toBe(0);                       // the same column, token row 5
  });
});
