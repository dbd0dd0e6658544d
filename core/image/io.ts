/** RGB images in memory and their decoding/encoding with sharp: the one decoder every step uses. */
import { readFile } from "node:fs/promises";
import sharp from "sharp";
import { ImageDecodeError } from "./errors.js";

/** Interleaved 8-bit RGB, row-major, no padding: data.length === width * height * 3. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/**
 * The most pixels an image may have (docs/DATA.md). Checked from the file's header before decoding,
 * for sharp and for OpenCV.js, whose WASM heap fails on larger images (a 12000×12000 inpainting
 * throws a bare number; 8000×8000 works).
 */
export const MAX_IMAGE_PIXELS = 40_000_000;

/** ImageDecodeError when width × height exceeds MAX_IMAGE_PIXELS. */
export function checkPixels(width: number, height: number, item: string): void {
  if (width * height > MAX_IMAGE_PIXELS) {
    throw new ImageDecodeError(item, `${width}x${height} is ${(width * height).toLocaleString("en-US")} pixels, more than the limit of ${MAX_IMAGE_PIXELS.toLocaleString("en-US")}`);
  }
}

/**
 * Decode an image file (or bytes) to RGB. An alpha channel is dropped, not composited, like
 * Pillow's `convert("RGB")` that trained the tiny model and made the inpainting reference; the
 * model, the inpainter and the heatmap all see these pixels. A truncated, empty or non-image file
 * is an ImageDecodeError naming it.
 */
export async function loadImage(source: string | Uint8Array, name?: string): Promise<RgbImage> {
  const item = name ?? (typeof source === "string" ? source : "image bytes");
  let bytes: Uint8Array;
  try {
    bytes = typeof source === "string" ? await readFile(source) : source;
  } catch (e) {
    throw new ImageDecodeError(item, `cannot read file (${(e as NodeJS.ErrnoException).code ?? String(e)})`, { cause: e });
  }
  if (bytes.length === 0) throw new ImageDecodeError(item, "empty file");
  let size: { width?: number; height?: number };
  try {
    size = await sharp(bytes).metadata();
  } catch (e) {
    throw new ImageDecodeError(item, `not a decodable image (${(e as Error).message.split("\n")[0]})`, { cause: e });
  }
  checkPixels(size.width ?? 0, size.height ?? 0, item);
  try {
    const { data, info } = await sharp(bytes, { failOn: "truncated", limitInputPixels: MAX_IMAGE_PIXELS })
      .removeAlpha()
      .toColourspace("srgb")
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
  } catch (e) {
    throw new ImageDecodeError(item, `not a decodable image (${(e as Error).message.split("\n")[0]})`, { cause: e });
  }
}

export function assertRgb(img: RgbImage, item = "image"): void {
  if (img.data.length !== img.width * img.height * 3) {
    throw new ImageDecodeError(item, `RGB buffer has ${img.data.length} bytes, expected ${img.width}x${img.height}x3`);
  }
}

/** Encode RGB to PNG bytes. */
export async function encodePng(img: RgbImage, compressionLevel = 6): Promise<Buffer> {
  assertRgb(img);
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .png({ compressionLevel })
    .toBuffer();
}
