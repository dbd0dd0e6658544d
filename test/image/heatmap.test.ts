import { describe, expect, it } from "vitest";
import { colorOf, heatLayer, loadImage, normalise, renderHeatmap, upsampleBilinear, type RgbImage } from "../../core/image/index.js";

const grey = (w: number, h: number): RgbImage => ({ data: new Uint8Array(w * h * 3).fill(128), width: w, height: h });

describe("heatmaps", () => {
  it("a hot token lands on its image region (8x8 grid on 128 px: token (2,5) → x 80..95, y 32..47)", async () => {
    const values = new Float32Array(64);
    values[2 * 8 + 5] = 10;
    // the normalised, upsampled heat peaks inside the token's cell and is 0 far from it
    const { up } = heatLayer(values, [8, 8], 128, 128);
    let arg = 0;
    for (let i = 1; i < up.length; i++) if (up[i] > up[arg]) arg = i;
    const [ax, ay] = [arg % 128, Math.floor(arg / 128)];
    expect(ax).toBeGreaterThanOrEqual(80);
    expect(ax).toBeLessThan(96);
    expect(ay).toBeGreaterThanOrEqual(32);
    expect(ay).toBeLessThan(48);
    expect(up[110 * 128 + 10]).toBe(0);
    // and the blended PNG shows the hot colour there, the cold colour elsewhere
    const out = await loadImage(await renderHeatmap({ image: grey(128, 128), values, grid: [8, 8] }));
    const at = (x: number, y: number) => Array.from(out.data.subarray(3 * (y * 128 + x), 3 * (y * 128 + x) + 3));
    const blend = (c: number[]) => c.map((v) => (128 + v) / 2);
    const close = (a: number[], b: number[]) => a.every((v, k) => Math.abs(v - b[k]) <= 1);
    expect(up[arg]).toBeGreaterThan(0.9);
    expect(close(at(ax, ay), blend(colorOf(up[arg], "jet")))).toBe(true);
    expect(close(at(10, 110), blend(colorOf(0, "jet")))).toBe(true);
    expect(close(at(40, 100), blend(colorOf(0, "jet")))).toBe(true);
  });

  it("works on non-square grids and images, and 16x16 grids", async () => {
    const v = new Float32Array(16 * 16).map((_, i) => i % 16); // increases left → right
    const { up } = heatLayer(v, [16, 16], 60, 100);
    expect(up[30 * 100 + 0]).toBeLessThan(0.05);
    expect(up[30 * 100 + 99]).toBeGreaterThan(0.95);
    const { up: up2 } = heatLayer(new Float32Array([0, 1, 2, 3, 4, 5]), [2, 3], 40, 90);
    expect(up2[0]).toBe(0);
    expect(up2[40 * 90 - 1]).toBe(1);
  });

  it("min-max normalises; a constant map is all zeros", () => {
    expect(Array.from(normalise([2, 4, 6]))).toEqual([0, 0.5, 1]);
    expect(Array.from(normalise([3, 3]))).toEqual([0, 0]);
    expect(() => normalise([1, NaN])).toThrow(/value 1 is NaN/);
  });

  it("bilinear upsampling is pixel-centre aligned (as cv2.resize INTER_LINEAR)", () => {
    const up = upsampleBilinear(new Float32Array([0, 1]), 1, 2, 1, 4);
    expect(Array.from(up)).toEqual([0, 0.25, 0.75, 1]);
  });

  it("colour maps: jet blue → red, viridis purple → yellow", () => {
    expect(colorOf(0, "jet")).toEqual([0, 0, 128]);
    expect(colorOf(1, "jet")).toEqual([128, 0, 0]);
    expect(colorOf(0.5, "jet")).toEqual([128, 255, 128]);
    expect(colorOf(0, "viridis")).toEqual([68, 1, 84]);
    expect(colorOf(1, "viridis")).toEqual([253, 231, 37]);
  });

  it("alpha blends: 0 keeps the image, 1 is the colour layer", async () => {
    const img = grey(16, 16);
    const values = new Float32Array(4).map((_, i) => i);
    const keep = await loadImage(await renderHeatmap({ image: img, values, grid: [2, 2], alpha: 0 }));
    expect(Array.from(keep.data)).toEqual(Array.from(img.data));
    const full = await loadImage(await renderHeatmap({ image: img, values, grid: [2, 2], alpha: 1, colormap: "viridis" }));
    expect(Array.from(full.data.subarray(0, 3))).toEqual(colorOf(0, "viridis"));
    const half = await loadImage(await renderHeatmap({ image: img, values, grid: [2, 2] }));
    expect(Math.abs(half.data[0] - (128 + colorOf(0, "jet")[0]) / 2)).toBeLessThanOrEqual(1);
  });

  it("bad input: wrong value count, alpha out of range", async () => {
    await expect(renderHeatmap({ image: grey(8, 8), values: new Float32Array(5), grid: [2, 2] })).rejects.toThrow(/has 5 values, grid 2x2 needs 4/);
    await expect(renderHeatmap({ image: grey(8, 8), values: new Float32Array(4), grid: [2, 2], alpha: 2 })).rejects.toThrow(/alpha/);
  });
});
