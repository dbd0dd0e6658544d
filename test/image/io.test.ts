import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { encodePng, ImageDecodeError, loadImage } from "../../core/image/index.js";
import { BadInputError } from "../../core/errors.js";
import { preprocessImage, type ImageSettings } from "../../core/model/preprocess.js";

const FX = join(import.meta.dirname, "../fixtures/data/coco-mini/val2017");

describe("loadImage", () => {
  it("decodes PNG and JPEG to interleaved RGB", async () => {
    const png = await loadImage(join(FX, "000000000139.png"));
    expect([png.width, png.height, png.data.length]).toEqual([40, 30, 40 * 30 * 3]);
    const jpg = await loadImage(join(FX, "000000000285.jpg"));
    expect([jpg.width, jpg.height, jpg.data.length]).toEqual([32, 48, 32 * 48 * 3]);
  });

  it("round-trips through encodePng exactly", async () => {
    const img = await loadImage(join(FX, "000000000139.png"));
    expect(Buffer.from((await loadImage(await encodePng(img))).data).equals(Buffer.from(img.data))).toBe(true);
  });

  it("RGBA: alpha is dropped (Pillow's convert(\"RGB\")), and the model sees the pixels the inpainter sees", async () => {
    // A red pixel with alpha 0 and a half-transparent green one: compositing would change both.
    const rgba = await sharp(Buffer.from([255, 0, 0, 0, 0, 255, 0, 128]), { raw: { width: 2, height: 1, channels: 4 } }).png().toBuffer();
    expect(Array.from((await loadImage(rgba)).data)).toEqual([255, 0, 0, 0, 255, 0]);
    const file = join(await mkdtemp(join(tmpdir(), "kneuron-rgba-")), "rgba.png");
    await writeFile(file, rgba);
    // The model's path (a file given to preprocess) and the steps' path (loadImage, as inpainting) agree.
    const s: ImageSettings = { size: 2, mean: [0, 0, 0], std: [1, 1, 1], resample: "nearest", resize: "squash" };
    const fromFile = await preprocessImage(file, s);
    expect(Array.from(fromFile)).toEqual(Array.from(await preprocessImage(await loadImage(file), s)));
    expect(fromFile[0]).toBe(1); // red channel of the transparent red pixel, kept
  });

  it("a truncated file, a non-image, an empty or missing file → ImageDecodeError naming the file", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kneuron-img-"));
    const bytes = await readFile(join(FX, "000000000285.jpg"));
    const cases = {
      "truncated.jpg": bytes.subarray(0, Math.floor(bytes.length / 2)),
      "truncated.png": (await readFile(join(FX, "000000000139.png"))).subarray(0, 200),
      "text.png": Buffer.from("this is not an image\n"),
      "empty.png": Buffer.alloc(0),
    };
    for (const [name, content] of Object.entries(cases)) {
      const p = join(dir, name);
      await writeFile(p, content);
      const err = await loadImage(p).catch((e) => e);
      expect(err, name).toBeInstanceOf(ImageDecodeError);
      expect(err, name).toBeInstanceOf(BadInputError);
      expect(err.message, name).toMatch(new RegExp(`^${p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: `));
    }
    await expect(loadImage(join(dir, "missing.png"))).rejects.toThrow(/missing\.png: cannot read file \(ENOENT\)/);
  });
});
