import { readFile } from "node:fs/promises";
import { join } from "node:path";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { EmptyMaskError, maskArea, segmentationToMask } from "../../core/data/index.js";
import { loadImage, objectMask, teleaInpainter, type RgbImage } from "../../core/image/index.js";

const FX = join(import.meta.dirname, "../fixtures/data/inpaint");
type Case = { name: string; image: string; mask: string; radius: number; ref: string; dilation: number };

async function loadMask(p: string): Promise<Uint8Array> {
  return new Uint8Array(await sharp(p).greyscale().raw().toBuffer()).map((v) => (v > 127 ? 1 : 0));
}

/**
 * Parity with Python's cv2.inpaint(..., INPAINT_TELEA) (opencv-python-headless 5.0, outputs
 * committed by tools/ref/inpaint_ref.py). Measured: bit-exact (mean abs difference 0, max 0) on
 * all four cases. Bound: mean abs ≤ 0.05 over masked pixels and max ≤ 2 (float rounding headroom
 * across OpenCV builds).
 */
describe("Telea inpainting parity with cv2.inpaint", async () => {
  const cases = JSON.parse(await readFile(join(FX, "cases.json"), "utf8")) as Case[];
  it.each(cases)("$name (radius $radius)", async (c) => {
    const img = await loadImage(join(FX, c.image));
    const mask = await loadMask(join(FX, c.mask));
    const ref = await loadImage(join(FX, c.ref));
    const out = await teleaInpainter({ radius: c.radius }).inpaint(img, mask);
    let sum = 0;
    let n = 0;
    let max = 0;
    let outsideChanged = 0;
    let changed = 0;
    for (let i = 0; i < mask.length; i++) {
      for (let k = 0; k < 3; k++) {
        const j = 3 * i + k;
        if (mask[i]) {
          const d = Math.abs(out.data[j] - ref.data[j]);
          sum += d;
          n++;
          max = Math.max(max, d);
          if (out.data[j] !== img.data[j]) changed++;
        } else if (out.data[j] !== img.data[j]) outsideChanged++;
      }
    }
    expect(n).toBeGreaterThan(0);
    expect(sum / n).toBeLessThanOrEqual(0.05);
    expect(max).toBeLessThanOrEqual(2);
    expect(outsideChanged).toBe(0); // only masked pixels change
    expect(changed / n).toBeGreaterThan(0.5); // and the object really went
  });
});

describe("inpainter", () => {
  it("removes an object: the filled region matches the surrounding texture, not the object", async () => {
    // A red square on a green/blue stripe texture.
    const w = 64, h = 48;
    const data = new Uint8Array(w * h * 3);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set(y % 4 < 2 ? [20, 160, 40] : [20, 120, 200], 3 * (y * w + x));
    const ann = { id: 1, bbox: [20, 15, 16, 12], segmentation: [[20, 15, 36, 15, 36, 27, 20, 27]] };
    const objMask = segmentationToMask(ann.segmentation, h, w);
    for (let i = 0; i < objMask.length; i++) if (objMask[i]) data.set([230, 10, 10], 3 * i);
    const img: RgbImage = { data, width: w, height: h };
    const mask = objectMask(ann, h, w, 2);
    expect(maskArea(mask)).toBeGreaterThan(maskArea(objMask));
    const out = await teleaInpainter().inpaint(img, mask);
    let red = 0;
    for (let i = 0; i < mask.length; i++) if (mask[i] && out.data[3 * i] > 120) red++;
    expect(red).toBe(0);
  });

  it("objectMask: dilation grows the mask by the kernel; bbox fallback; empty mask is an error", () => {
    const ann = { id: 3, bbox: [10, 10, 4, 4], segmentation: [[10, 10, 14, 10, 14, 14, 10, 14]] };
    const m0 = objectMask(ann, 32, 32, 0);
    const m2 = objectMask(ann, 32, 32, 2);
    const side = Math.sqrt(maskArea(m0));
    expect(maskArea(m2)).toBe((side + 4) ** 2);
    const fromBox = objectMask({ id: 4, bbox: [10, 10, 4, 4] }, 32, 32, 0);
    expect(Array.from(fromBox)).toEqual(Array.from(m0));
    expect(() => objectMask({ id: 5, bbox: [3, 3, 0, 0], segmentation: [[3, 3, 3, 3, 3, 3]] }, 32, 32, 3)).toThrow(EmptyMaskError);
  });

  it("rejects a mask of the wrong size", async () => {
    const img: RgbImage = { data: new Uint8Array(8 * 8 * 3), width: 8, height: 8 };
    await expect(teleaInpainter().inpaint(img, new Uint8Array(10))).rejects.toThrow(/inpaint mask: has 10 pixels/);
  });
});
