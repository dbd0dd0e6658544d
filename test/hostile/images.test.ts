/** Images a decoder or OpenCV.js cannot take: a named error for that image, never a bare number. */
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { cvRun, loadCv } from "../../core/image/cv.js";
import { OpenCvError } from "../../core/image/errors.js";
import { teleaInpainter } from "../../core/image/inpaint.js";
import { loadImage, MAX_IMAGE_PIXELS } from "../../core/image/io.js";
import { isBadInput } from "../../core/errors.js";

describe("oversized and failing images", () => {
  it("sharp: an image over the pixel limit is refused from its header, before decoding", async () => {
    const png = await sharp({ create: { width: 8000, height: 6000, channels: 3, background: "#000" } }).png({ compressionLevel: 1 }).toBuffer();
    const err = await loadImage(png, "big.png").catch((e) => e);
    expect(err.name).toBe("ImageDecodeError");
    expect(err.message).toBe(`big.png: 8000x6000 is 48,000,000 pixels, more than the limit of ${MAX_IMAGE_PIXELS.toLocaleString("en-US")}`);
    expect(isBadInput(err)).toBe(true);
  });

  it("OpenCV.js: the same limit before inpainting a decoded image", async () => {
    const side = 7000;
    const img = { data: new Uint8Array(side * side * 3), width: side, height: side };
    await expect(teleaInpainter().inpaint(img, new Uint8Array(side * side))).rejects.toThrow(/7000x7000 is 49,000,000 pixels, more than the limit/);
  });

  it("an OpenCV.js C++ exception (a bare number in JS) becomes an OpenCvError naming the operation and the image", async () => {
    const cv = await loadCv();
    const src = new cv.Mat(10, 10, cv.CV_8UC3);
    const mask = new cv.Mat(5, 5, cv.CV_8UC1); // the wrong size: OpenCV asserts
    const dst = new cv.Mat();
    try {
      let raw: unknown;
      try {
        cv.inpaint(src, mask, dst, 3, cv.INPAINT_TELEA);
      } catch (e) {
        raw = e;
      }
      expect(typeof raw).toBe("number"); // what OpenCV.js throws by itself
      const err = (() => {
        try {
          return cvRun("inpaint", "x.png", () => cv.inpaint(src, mask, dst, 3, cv.INPAINT_TELEA));
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(OpenCvError);
      expect((err as Error).message).toMatch(/^x\.png: OpenCV\.js inpaint failed \(internal exception \d+/);
    } finally {
      src.delete();
      mask.delete();
      dst.delete();
    }
  });
});
