// Report images: small ones (the synthetic scenes) are placed byte for byte, COCO-sized ones
// are scaled to THUMB_WIDTH so a 90-sample report stays small.
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { THUMB_WIDTH, thumbnail } from "../../report/build.js";

const image = (w: number, h: number) => sharp({ create: { width: w, height: h, channels: 3, background: { r: 200, g: 40, b: 90 } } });

describe("thumbnail", () => {
  it("keeps an image no wider than THUMB_WIDTH unchanged", async () => {
    const png = new Uint8Array(await image(128, 128).png().toBuffer());
    const t = await thumbnail(png, ".png");
    expect(t.ext).toBe(".png");
    expect(Buffer.from(t.bytes).equals(Buffer.from(png))).toBe(true);
  });

  it("scales a large PNG to THUMB_WIDTH, keeping PNG and the aspect ratio", async () => {
    const t = await thumbnail(new Uint8Array(await image(1280, 960).png().toBuffer()), ".png");
    expect(t.ext).toBe(".png");
    expect(await sharp(t.bytes).metadata()).toMatchObject({ format: "png", width: THUMB_WIDTH, height: 288 });
  });

  it("scales a large photo to a JPEG", async () => {
    const t = await thumbnail(new Uint8Array(await image(640, 480).jpeg().toBuffer()), ".jpg");
    expect(t.ext).toBe(".jpg");
    expect(await sharp(t.bytes).metadata()).toMatchObject({ format: "jpeg", width: THUMB_WIDTH, height: 288 });
  });

  it("refuses bytes that are not an image", async () => {
    await expect(thumbnail(new TextEncoder().encode("not an image"), ".png")).rejects.toThrow();
  });
});
