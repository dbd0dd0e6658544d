/**
 * Activation heatmaps over images: per-token values on the token grid → min-max normalised →
 * bilinear upsampled to the image (pixel-centre aligned, like cv2.resize INTER_LINEAR) →
 * colour mapped → alpha-blended over the image → PNG (sharp).
 */
import sharp from "sharp";
import { DataError } from "../data/errors.js";
import { assertRgb, loadImage, type RgbImage } from "./io.js";

export type Colormap = "jet" | "viridis";

export interface HeatmapOptions {
  image: RgbImage | string;
  /** Row-major values, rows × cols (token p = r * cols + c). */
  values: Float32Array | ArrayLike<number>;
  grid: [rows: number, cols: number];
  alpha?: number;
  colormap?: Colormap;
}

/** Min-max normalise to [0, 1]; a constant map becomes all zeros. */
export function normalise(values: ArrayLike<number>): Float32Array {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) throw new DataError("heatmap values", `value ${i} is ${values[i]}`);
    lo = Math.min(lo, values[i]);
    hi = Math.max(hi, values[i]);
  }
  const out = new Float32Array(values.length);
  const span = hi - lo;
  if (span > 0) for (let i = 0; i < values.length; i++) out[i] = (values[i] - lo) / span;
  return out;
}

/** Bilinear upsampling of a rows×cols grid to h×w, pixel centres aligned (half-pixel offsets, clamped). */
export function upsampleBilinear(grid: Float32Array, rows: number, cols: number, h: number, w: number): Float32Array {
  const out = new Float32Array(h * w);
  for (let y = 0; y < h; y++) {
    const fy = Math.min(Math.max(((y + 0.5) * rows) / h - 0.5, 0), rows - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, rows - 1);
    const ty = fy - y0;
    for (let x = 0; x < w; x++) {
      const fx = Math.min(Math.max(((x + 0.5) * cols) / w - 0.5, 0), cols - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, cols - 1);
      const tx = fx - x0;
      const top = grid[y0 * cols + x0] * (1 - tx) + grid[y0 * cols + x1] * tx;
      const bot = grid[y1 * cols + x0] * (1 - tx) + grid[y1 * cols + x1] * tx;
      out[y * w + x] = top * (1 - ty) + bot * ty;
    }
  }
  return out;
}

// viridis sampled at 9 evenly spaced stops (matplotlib's table), linearly interpolated.
const VIRIDIS: ReadonlyArray<[number, number, number]> = [
  [68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
  [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37],
];

/** Colour of t ∈ [0, 1]: "jet" (blue → cyan → yellow → red, as matplotlib) or "viridis". */
export function colorOf(t: number, map: Colormap): [number, number, number] {
  t = Math.min(1, Math.max(0, t));
  if (map === "jet") {
    const ch = (c: number) => Math.round(255 * Math.min(1, Math.max(0, 1.5 - Math.abs(4 * t - c))));
    return [ch(3), ch(2), ch(1)];
  }
  const f = t * (VIRIDIS.length - 1);
  const i = Math.min(Math.floor(f), VIRIDIS.length - 2);
  const u = f - i;
  const a = VIRIDIS[i], b = VIRIDIS[i + 1];
  return [0, 1, 2].map((k) => Math.round(a[k] * (1 - u) + b[k] * u)) as [number, number, number];
}

/** The heat layer alone (RGB) and the normalised, upsampled values it was drawn from. */
export function heatLayer(values: ArrayLike<number>, grid: [number, number], h: number, w: number, map: Colormap = "jet"): { heat: RgbImage; up: Float32Array } {
  const [rows, cols] = grid;
  if (!(rows > 0 && cols > 0) || values.length !== rows * cols) {
    throw new DataError("heatmap values", `has ${values.length} values, grid ${rows}x${cols} needs ${rows * cols}`);
  }
  const up = upsampleBilinear(normalise(values), rows, cols, h, w);
  const lut = Array.from({ length: 256 }, (_, i) => colorOf(i / 255, map));
  const data = new Uint8Array(h * w * 3);
  for (let i = 0; i < up.length; i++) {
    const c = lut[Math.round(up[i] * 255)];
    data[3 * i] = c[0];
    data[3 * i + 1] = c[1];
    data[3 * i + 2] = c[2];
  }
  return { heat: { data, width: w, height: h }, up };
}

/** Render the heatmap over the image: PNG bytes, out = (1 − alpha)·image + alpha·colour. */
export async function renderHeatmap({ image, values, grid, alpha = 0.5, colormap = "jet" }: HeatmapOptions): Promise<Buffer> {
  if (!(alpha >= 0 && alpha <= 1)) throw new DataError("heatmap alpha", `${alpha} is not in [0, 1]`);
  const img = typeof image === "string" ? await loadImage(image) : image;
  assertRgb(img);
  const { heat } = heatLayer(values, grid, img.height, img.width, colormap);
  // sharp blends the heat layer, given an alpha channel, over the image ("over" operator).
  const a = Math.round(alpha * 255);
  const rgba = Buffer.alloc(img.width * img.height * 4);
  for (let i = 0; i < img.width * img.height; i++) {
    rgba[4 * i] = heat.data[3 * i];
    rgba[4 * i + 1] = heat.data[3 * i + 1];
    rgba[4 * i + 2] = heat.data[3 * i + 2];
    rgba[4 * i + 3] = a;
  }
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .composite([{ input: rgba, raw: { width: img.width, height: img.height, channels: 4 }, blend: "over" }])
    .png()
    .toBuffer();
}
