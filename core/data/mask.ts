/**
 * COCO segmentation masks: polygons and RLE (compressed string or uncompressed counts), decoded
 * to row-major Uint8Array masks (1 = object). Polygon rasterisation and the RLE string codec
 * follow the COCO API (maskApi.c) exactly, so masks equal pycocotools' `annToMask` bit for bit.
 */
import { SegmentationError } from "./errors.js";

/** Run-length encoding in COCO's column-major order; counts alternate 0-runs and 1-runs. */
export interface Rle {
  size: [number, number]; // [h, w]
  counts: number[];
}
export type Polygons = number[][];
export type CompressedRle = { size: [number, number]; counts: string };
export type UncompressedRle = { size: [number, number]; counts: number[] };
export type Segmentation = Polygons | CompressedRle | UncompressedRle;

/** Rasterise one polygon [x0,y0,x1,y1,...] as the COCO API does (5× upsampled boundary walk). */
export function rleFromPolygon(xy: ArrayLike<number>, h: number, w: number): Rle {
  const k = Math.floor(xy.length / 2);
  const scale = 5;
  const x = new Array<number>(k + 1);
  const y = new Array<number>(k + 1);
  for (let j = 0; j < k; j++) {
    x[j] = Math.trunc(scale * xy[2 * j] + 0.5);
    y[j] = Math.trunc(scale * xy[2 * j + 1] + 0.5);
  }
  x[k] = x[0];
  y[k] = y[0];
  // Dense boundary points on the upsampled grid.
  const u: number[] = [];
  const v: number[] = [];
  for (let j = 0; j < k; j++) {
    let xs = x[j], xe = x[j + 1], ys = y[j], ye = y[j + 1];
    const dx = Math.abs(xe - xs), dy = Math.abs(ys - ye);
    const flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
    if (flip) [xs, xe, ys, ye] = [xe, xs, ye, ys];
    const s = dx >= dy ? (ye - ys) / dx : (xe - xs) / dy;
    if (dx >= dy) {
      for (let d = 0; d <= dx; d++) {
        const t = flip ? dx - d : d;
        u.push(t + xs);
        v.push(Math.trunc(ys + s * t + 0.5));
      }
    } else {
      for (let d = 0; d <= dy; d++) {
        const t = flip ? dy - d : d;
        v.push(t + ys);
        u.push(Math.trunc(xs + s * t + 0.5));
      }
    }
  }
  // Boundary crossings of pixel columns, downsampled back to the image grid.
  const a: number[] = [];
  for (let j = 1; j < u.length; j++) {
    if (u[j] === u[j - 1]) continue;
    let xd = u[j] < u[j - 1] ? u[j] : u[j] - 1;
    xd = (xd + 0.5) / scale - 0.5;
    if (Math.floor(xd) !== xd || xd < 0 || xd > w - 1) continue;
    let yd = v[j] < v[j - 1] ? v[j] : v[j - 1];
    yd = (yd + 0.5) / scale - 0.5;
    yd = Math.ceil(yd < 0 ? 0 : yd > h ? h : yd);
    a.push(xd * h + yd);
  }
  a.push(h * w);
  a.sort((p, q) => p - q);
  let prev = 0;
  for (let j = 0; j < a.length; j++) {
    const t = a[j];
    a[j] -= prev;
    prev = t;
  }
  const b: number[] = [a[0]];
  for (let j = 1; j < a.length; ) {
    if (a[j] > 0) b.push(a[j++]);
    else {
      j++;
      if (j < a.length) b[b.length - 1] += a[j++];
    }
  }
  return { size: [h, w], counts: b };
}

/** Decode COCO's compressed RLE string (LEB128-like, 6 bits per char, deltas after the 3rd count). */
export function rleFromString(s: string, h: number, w: number): Rle {
  const counts: number[] = [];
  let p = 0;
  while (p < s.length) {
    let x = 0;
    let k = 0;
    let more = true;
    while (more) {
      if (p >= s.length) throw new SegmentationError("RLE string", "ends in the middle of a count");
      const c = s.charCodeAt(p) - 48;
      if (c < 0 || c > 63) throw new SegmentationError("RLE string", `invalid character ${JSON.stringify(s[p])} at ${p}`);
      x += (c & 0x1f) * 2 ** (5 * k);
      more = (c & 0x20) !== 0;
      p++;
      k++;
      if (!more && c & 0x10) x -= 2 ** (5 * k); // sign-extend
    }
    if (counts.length > 2) x += counts[counts.length - 2];
    counts.push(x);
  }
  return { size: [h, w], counts };
}

/** Encode an RLE to COCO's compressed string form. */
export function rleToString(r: Rle): string {
  let s = "";
  const c = r.counts;
  for (let i = 0; i < c.length; i++) {
    let x = c[i] - (i > 2 ? c[i - 2] : 0);
    let more = true;
    while (more) {
      let ch = x & 0x1f;
      x = Math.floor(x / 32); // arithmetic shift, exact beyond 32 bits
      more = ch & 0x10 ? x !== -1 : x !== 0;
      if (more) ch |= 0x20;
      s += String.fromCharCode(ch + 48);
    }
  }
  return s;
}

/** Run-length encode a row-major mask (COCO order is column-major). */
export function rleEncode(mask: Uint8Array, h: number, w: number): Rle {
  const counts: number[] = [];
  let prev = 0;
  let run = 0;
  for (let x = 0; x < w; x++) {
    for (let y = 0; y < h; y++) {
      const v = mask[y * w + x] ? 1 : 0;
      if (v !== prev) {
        counts.push(run);
        run = 0;
        prev = v;
      }
      run++;
    }
  }
  counts.push(run);
  return { size: [h, w], counts };
}

/** OR the RLE into a row-major mask. */
function paintRle(r: Rle, out: Uint8Array, h: number, w: number, item: string): void {
  const total = h * w;
  let pos = 0;
  let v = 0;
  for (const c of r.counts) {
    if (c < 0 || pos + c > total) throw new SegmentationError(item, `RLE counts sum past ${h}x${w}`);
    if (v) {
      for (let i = pos; i < pos + c; i++) {
        const x = Math.floor(i / h);
        out[(i - x * h) * w + x] = 1;
      }
    }
    pos += c;
    v ^= 1;
  }
  if (pos !== total) throw new SegmentationError(item, `RLE counts sum to ${pos}, image has ${total} pixels`);
}

export function rleDecode(r: Rle): Uint8Array {
  const [h, w] = r.size;
  const out = new Uint8Array(h * w);
  paintRle(r, out, h, w, "RLE");
  return out;
}

/** The segmentation's RLE(s) at image size h×w (polygons: one per part). */
export function segmentationToRles(seg: Segmentation, h: number, w: number, item = "segmentation"): Rle[] {
  if (Array.isArray(seg)) {
    return seg.map((poly, i) => {
      if (poly.length < 6 || poly.length % 2 !== 0) {
        throw new SegmentationError(item, `polygon ${i} has ${poly.length} coordinates (need an even number ≥ 6)`);
      }
      return rleFromPolygon(poly, h, w);
    });
  }
  const [sh, sw] = seg.size;
  if (sh !== h || sw !== w) throw new SegmentationError(item, `RLE size ${sh}x${sw} differs from image ${h}x${w}`);
  return [typeof seg.counts === "string" ? rleFromString(seg.counts, h, w) : { size: [h, w], counts: seg.counts }];
}

/** Decode a segmentation to a row-major h×w mask (union of polygon parts), like pycocotools annToMask. */
export function segmentationToMask(seg: Segmentation, h: number, w: number, item = "segmentation"): Uint8Array {
  const out = new Uint8Array(h * w);
  for (const r of segmentationToRles(seg, h, w, item)) paintRle(r, out, h, w, item);
  return out;
}

/** COCO's rasterisation of a bbox [x, y, bw, bh] (as the polygon of its corners, like rleFrBbox). */
export function bboxToMask(bbox: readonly number[], h: number, w: number): Uint8Array {
  const [x, y, bw, bh] = bbox;
  return rleDecode(rleFromPolygon([x, y, x, y + bh, x + bw, y + bh, x + bw, y], h, w));
}

export function maskArea(mask: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < mask.length; i++) n += mask[i] ? 1 : 0;
  return n;
}

/** Tight [x, y, w, h] box of a row-major mask; null when empty. */
export function maskBbox(mask: Uint8Array, h: number, w: number): [number, number, number, number] | null {
  let x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!mask[y * w + x]) continue;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
  }
  return x1 < 0 ? null : [x0, y0, x1 - x0 + 1, y1 - y0 + 1];
}

/** Square-kernel dilation by r px (separable max filter), like cv2.dilate with a (2r+1)² ones kernel. */
export function dilateMask(mask: Uint8Array, h: number, w: number, r: number): Uint8Array {
  if (r <= 0) return mask.slice();
  const tmp = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!mask[y * w + x]) continue;
      const a = Math.max(0, x - r), b = Math.min(w - 1, x + r);
      tmp.fill(1, y * w + a, y * w + b + 1);
    }
  }
  const out = new Uint8Array(h * w);
  for (let x = 0; x < w; x++) {
    for (let y = 0; y < h; y++) {
      if (!tmp[y * w + x]) continue;
      const a = Math.max(0, y - r), b = Math.min(h - 1, y + r);
      for (let yy = a; yy <= b; yy++) out[yy * w + x] = 1;
    }
  }
  return out;
}
