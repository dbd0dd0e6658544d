import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { ImageDecodeError } from "../../core/data/index.js";
import { encodePng, loadImage, resizeImage } from "../../core/image/index.js";

const FX = join(import.meta.dirname, "../fixtures/data/coco-mini/val2017");

describe("loadImage", () => {
  it("decodes PNG and JPEG to interleaved RGB", async () => {
    const png = await loadImage(join(FX, "000000000139.png"));
    expect([png.width, png.height, png.data.length]).toEqual([40, 30, 40 * 30 * 3]);
    const jpg = await loadImage(join(FX, "000000000285.jpg"));
    expect([jpg.width, jpg.height, jpg.data.length]).toEqual([32, 48, 32 * 48 * 3]);
  });

  it("round-trips through encodePng exactly; RGBA is flattened on black", async () => {
    const img = await loadImage(join(FX, "000000000139.png"));
    expect(Buffer.from((await loadImage(await encodePng(img))).data).equals(Buffer.from(img.data))).toBe(true);
    const rgba = await sharp(Buffer.from([255, 0, 0, 0, 0, 255, 0, 255]), { raw: { width: 2, height: 1, channels: 4 } }).png().toBuffer();
    expect(Array.from((await loadImage(rgba)).data)).toEqual([0, 0, 0, 0, 255, 0]);
  });

  it("resizes with sharp", async () => {
    const img = await loadImage(join(FX, "000000000139.png"));
    const r = await resizeImage(img, 20, 10);
    expect([r.width, r.height, r.data.length]).toEqual([20, 10, 600]);
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
      expect(err.message, name).toMatch(new RegExp(`^${p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: `));
    }
    await expect(loadImage(join(dir, "missing.png"))).rejects.toThrow(/missing\.png: cannot read file \(ENOENT\)/);
  });
});
