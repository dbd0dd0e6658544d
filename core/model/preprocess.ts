// Image preprocessing (docs/BUNDLE.md §1): RGB, resize to S×S ("squash" or CLIP's shortest edge
// + centre crop) with the bundle's resampling filter, scale to [0,1], (x - mean) / std per
// channel, channel-first. Files are decoded by core/image's loadImage (the decoder every step
// uses, so the model sees the pixels the inpainter sees); the resize is Pillow's, bit for bit (resample.ts).
import { ImageDecodeError } from "../image/errors.js";
import { loadImage, type RgbImage } from "../image/io.js";
import { ModelError } from "./errors.js";
import { crop, pilResize } from "./resample.js";

export type { RgbImage };

export interface ImageSettings {
  size: number;
  mean: [number, number, number];
  std: [number, number, number];
  resample: "nearest" | "bilinear" | "bicubic";
  resize: "squash" | "shortest_edge_center_crop";
}

/** Decode a file with core/image's decoder; a bad file is the runtime's `bad-image` ModelError. */
async function readRgb(path: string): Promise<RgbImage> {
  try {
    return await loadImage(path);
  } catch (e) {
    if (e instanceof ImageDecodeError) throw new ModelError("bad-image", path, e.problem);
    throw e;
  }
}

export function checkRgb(img: RgbImage, item: string): void {
  const { width, height, data } = img;
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new ModelError("bad-image", item, `invalid size ${width}x${height}`);
  }
  if (!(data instanceof Uint8Array)) throw new ModelError("bad-image", item, "pixel data must be a Uint8Array of RGB bytes");
  if (data.length !== width * height * 3) {
    const ch = data.length / (width * height);
    throw new ModelError("bad-image", item, `expected ${width}x${height}x3 = ${width * height * 3} RGB bytes, got ${data.length}` +
      (Number.isInteger(ch) ? ` (${ch} channels)` : ""));
  }
}

/**
 * Resize RGB bytes to S×S as the bundle says, exactly like Pillow (see resample.ts): `squash`
 * resizes both sides to S; `shortest_edge_center_crop` is CLIP's (shortest edge to S, the long
 * edge to floor(S·long/short), centre crop S×S). Already S×S: returned as is.
 */
export function resizeRgb(img: RgbImage, s: ImageSettings, item = "image"): RgbImage {
  checkRgb(img, item);
  const S = s.size;
  if (img.width === S && img.height === S) return img;
  if (s.resize === "squash") return pilResize(img, S, S, s.resample);
  const short = Math.min(img.width, img.height), long = Math.max(img.width, img.height);
  const longOut = Math.floor((S * long) / short);
  const [w, h] = img.width <= img.height ? [S, longOut] : [longOut, S];
  const r = pilResize(img, w, h, s.resample);
  return crop(r, Math.floor((w - S) / 2), Math.floor((h - S) / 2), S, S);
}

/** S×S RGB bytes → normalised Float32Array [3,S,S]. */
export function normalise(img: RgbImage, s: ImageSettings): Float32Array {
  const n = s.size * s.size;
  const out = new Float32Array(3 * n);
  const { data } = img;
  for (let c = 0; c < 3; c++) {
    // Same float32 rounding steps as torch's (x/255 - mean)/std, so pixels match bit for bit.
    const lut = new Float32Array(256);
    const mean = Math.fround(s.mean[c]), std = Math.fround(s.std[c]);
    for (let v = 0; v < 256; v++) lut[v] = Math.fround(Math.fround(Math.fround(v / 255) - mean) / std);
    const o = c * n;
    for (let k = 0; k < n; k++) out[o + k] = lut[data[3 * k + c]];
  }
  return out;
}

export async function preprocessImage(input: RgbImage | string, s: ImageSettings, item = typeof input === "string" ? input : "image"): Promise<Float32Array> {
  const img = typeof input === "string" ? await readRgb(input) : input;
  return normalise(resizeRgb(img, s, item), s);
}
