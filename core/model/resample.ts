// Pillow's Image.resize for 8-bit RGB, bit for bit (libImaging/Resample.c and the affine nearest
// path of Geometry.c). The trainer and Hugging Face's image processors resize with Pillow; sharp
// (libvips) centres and weights its kernels differently (mean |Δ| of 16 levels on a 45×30 → 32×32
// test image), which is enough to change a tiny model's captions, so the runtime resizes the way
// the model was trained.
import { type RgbImage } from "./preprocess.js";

export type Filter = "nearest" | "bilinear" | "bicubic";

const PRECISION_BITS = 32 - 8 - 2;
const FILTERS = {
  bilinear: { support: 1, f: (x: number) => { x = Math.abs(x); return x < 1 ? 1 - x : 0; } },
  bicubic: {
    support: 2,
    f: (x: number) => {
      const a = -0.5;
      x = Math.abs(x);
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  },
};

interface Coeffs { ksize: number; bounds: Int32Array; kk: Int32Array }

/** precompute_coeffs + normalize_coeffs_8bpc. */
function coeffs(inSize: number, outSize: number, filter: keyof typeof FILTERS): Coeffs {
  const { support: base, f } = FILTERS[filter];
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = base * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterscale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) { w[x] = f((x + xmin - center + 0.5) * ss); ww += w[x]; }
    for (let x = 0; x < xmax; x++) {
      const k = ww !== 0 ? w[x] / ww : w[x];
      kk[xx * ksize + x] = Math.trunc(k < 0 ? -0.5 + k * (1 << PRECISION_BITS) : 0.5 + k * (1 << PRECISION_BITS));
    }
    bounds[2 * xx] = xmin;
    bounds[2 * xx + 1] = xmax;
  }
  return { ksize, bounds, kk };
}

function clip8(v: number): number {
  if (v >= 1 << (PRECISION_BITS + 8)) return 255;
  if (v <= 0) return 0;
  return Math.floor(v / (1 << PRECISION_BITS));
}

function horizontal(src: Uint8Array, w: number, rows: number, rowOffset: number, outW: number, c: Coeffs): Uint8Array {
  const out = new Uint8Array(outW * rows * 3);
  for (let y = 0; y < rows; y++) {
    const base = (y + rowOffset) * w * 3;
    for (let xx = 0; xx < outW; xx++) {
      const xmin = c.bounds[2 * xx], xmax = c.bounds[2 * xx + 1], k = xx * c.ksize;
      let s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
      for (let x = 0; x < xmax; x++) {
        const p = base + (x + xmin) * 3, kv = c.kk[k + x];
        s0 += src[p] * kv; s1 += src[p + 1] * kv; s2 += src[p + 2] * kv;
      }
      const o = (y * outW + xx) * 3;
      out[o] = clip8(s0); out[o + 1] = clip8(s1); out[o + 2] = clip8(s2);
    }
  }
  return out;
}

function vertical(src: Uint8Array, w: number, outH: number, c: Coeffs, shift: number): Uint8Array {
  const out = new Uint8Array(w * outH * 3);
  for (let yy = 0; yy < outH; yy++) {
    const ymin = c.bounds[2 * yy] - shift, ymax = c.bounds[2 * yy + 1], k = yy * c.ksize;
    for (let x = 0; x < w; x++) {
      let s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
      for (let y = 0; y < ymax; y++) {
        const p = ((y + ymin) * w + x) * 3, kv = c.kk[k + y];
        s0 += src[p] * kv; s1 += src[p + 1] * kv; s2 += src[p + 2] * kv;
      }
      const o = (yy * w + x) * 3;
      out[o] = clip8(s0); out[o + 1] = clip8(s1); out[o + 2] = clip8(s2);
    }
  }
  return out;
}

function nearest(img: RgbImage, outW: number, outH: number): Uint8Array {
  const out = new Uint8Array(outW * outH * 3);
  const sx = img.width / outW, sy = img.height / outH;
  for (let y = 0; y < outH; y++) {
    const yi = Math.min(Math.trunc((y + 0.5) * sy), img.height - 1);
    for (let x = 0; x < outW; x++) {
      const xi = Math.min(Math.trunc((x + 0.5) * sx), img.width - 1);
      const p = (yi * img.width + xi) * 3, o = (y * outW + x) * 3;
      out[o] = img.data[p]; out[o + 1] = img.data[p + 1]; out[o + 2] = img.data[p + 2];
    }
  }
  return out;
}

/** `Image.resize((outW, outH), filter)` of an RGB image. */
export function pilResize(img: RgbImage, outW: number, outH: number, filter: Filter): RgbImage {
  if (outW === img.width && outH === img.height) return img;
  if (filter === "nearest") return { data: nearest(img, outW, outH), width: outW, height: outH };
  const needH = outW !== img.width;
  const needV = outH !== img.height;
  const ch = coeffs(img.width, outW, filter);
  const cv = coeffs(img.height, outH, filter);
  let data = img.data;
  let shift = 0;
  if (needH) {
    // Only the source rows the vertical pass reads.
    const first = cv.bounds[0];
    const last = cv.bounds[outH * 2 - 2] + cv.bounds[outH * 2 - 1];
    data = horizontal(img.data, img.width, needV ? last - first : img.height, needV ? first : 0, outW, ch);
    shift = needV ? first : 0;
  }
  if (needV) data = vertical(data, outW, outH, cv, shift);
  return { data, width: outW, height: outH };
}

/** Crop a box out of an RGB image. */
export function crop(img: RgbImage, left: number, top: number, w: number, h: number): RgbImage {
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) out.set(img.data.subarray(((top + y) * img.width + left) * 3, ((top + y) * img.width + left + w) * 3), y * w * 3);
  return { data: out, width: w, height: h };
}
