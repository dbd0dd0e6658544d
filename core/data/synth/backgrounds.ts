/**
 * Procedural backgrounds, textured (noise, stripes, grain) so that inpainting has real work:
 * a flat colour would make every inpainted twin trivially perfect.
 */
import { Rng } from "../../rng.js";

export interface Background {
  name: string;
  /** Caption phrase, e.g. "on the grass", "in the snow". */
  phrase: string;
  /** The background's caption word (the "other knowledge" retention measures). */
  word: string;
  paint(rng: Rng, w: number, h: number): Uint8Array;
}

/** Smooth value noise in [0, 1] on a lattice of cx×cy pixel cells. */
function valueNoise(rng: Rng, w: number, h: number, cx: number, cy: number): Float32Array {
  const gw = Math.ceil(w / cx) + 2;
  const gh = Math.ceil(h / cy) + 2;
  const lat = new Float32Array(gw * gh).map(() => rng.next());
  const ox = rng.next() * cx;
  const oy = rng.next() * cy;
  const out = new Float32Array(w * h);
  const smooth = (t: number) => t * t * (3 - 2 * t);
  for (let y = 0; y < h; y++) {
    const fy = (y + oy) / cy;
    const y0 = Math.floor(fy);
    const ty = smooth(fy - y0);
    for (let x = 0; x < w; x++) {
      const fx = (x + ox) / cx;
      const x0 = Math.floor(fx);
      const tx = smooth(fx - x0);
      const a = lat[y0 * gw + x0], b = lat[y0 * gw + x0 + 1];
      const c = lat[(y0 + 1) * gw + x0], d = lat[(y0 + 1) * gw + x0 + 1];
      out[y * w + x] = (a + (b - a) * tx) * (1 - ty) + (c + (d - c) * tx) * ty;
    }
  }
  return out;
}

/** Fractal noise: octaves of value noise, halving the cell size and the amplitude. */
function fbm(rng: Rng, w: number, h: number, cell: number, octaves = 3, aspect = 1): Float32Array {
  const out = new Float32Array(w * h);
  let amp = 1;
  let total = 0;
  for (let o = 0; o < octaves; o++, cell /= 2, amp /= 2) {
    const n = valueNoise(rng, w, h, Math.max(1, cell), Math.max(1, cell * aspect));
    for (let i = 0; i < out.length; i++) out[i] += amp * n[i];
    total += amp;
  }
  for (let i = 0; i < out.length; i++) out[i] /= total;
  return out;
}

type Rgb = [number, number, number];
const jitter = (rng: Rng, c: Rgb, d: number): Rgb => c.map((v) => v + rng.range(-d, d)) as Rgb;

/** Fill from a per-pixel colour function plus Gaussian-ish grain. */
function fill(rng: Rng, w: number, h: number, grain: number, f: (x: number, y: number, i: number) => Rgb): Uint8Array {
  const out = new Uint8Array(w * h * 3);
  for (let y = 0, i = 0; y < h; y++) {
    for (let x = 0; x < w; x++, i++) {
      const c = f(x, y, i);
      const g = (rng.next() + rng.next() - 1) * grain;
      out[3 * i] = clamp(c[0] + g);
      out[3 * i + 1] = clamp(c[1] + g);
      out[3 * i + 2] = clamp(c[2] + g);
    }
  }
  return out;
}
const clamp = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));
const mix = (a: Rgb, b: Rgb, t: number): Rgb => [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];

export const BACKGROUNDS: readonly Background[] = [
  {
    name: "grass", phrase: "on the grass", word: "grass",
    paint(rng, w, h) {
      const base = jitter(rng, [70, 140, 55], 12);
      const patches = fbm(rng, w, h, w / 3);
      const blades = valueNoise(rng, w, h, 1.5, 9);
      return fill(rng, w, h, 10, (_x, _y, i) => mix(mix(base, [35, 90, 30], 0.7 * patches[i]), [150, 200, 90], 0.45 * blades[i] ** 2));
    },
  },
  {
    name: "beach", phrase: "on the beach", word: "beach",
    paint(rng, w, h) {
      const base = jitter(rng, [222, 198, 150], 10);
      const warp = fbm(rng, w, h, w / 4);
      const f = rng.range(0.35, 0.6);
      return fill(rng, w, h, 14, (_x, y, i) => mix(base, [180, 150, 100], 0.35 * (0.5 + 0.5 * Math.sin(y * f + 9 * warp[i]))));
    },
  },
  {
    name: "snow", phrase: "in the snow", word: "snow",
    paint(rng, w, h) {
      const shade = fbm(rng, w, h, w / 2.5);
      return fill(rng, w, h, 6, (_x, _y, i) => (rng.next() < 0.004 ? [255, 255, 255] : mix([246, 248, 252], [190, 205, 228], shade[i] ** 1.5)));
    },
  },
  {
    name: "road", phrase: "on the road", word: "road",
    paint(rng, w, h) {
      const base = jitter(rng, [82, 82, 88], 10);
      const stain = fbm(rng, w, h, w / 4);
      const lane: Rgb = rng.next() < 0.5 ? [235, 235, 230] : [230, 190, 40];
      const ly = rng.int(Math.round(h * 0.2), Math.round(h * 0.8));
      const dash = rng.int(10, 18);
      const ox = rng.int(0, dash * 2);
      return fill(rng, w, h, 22, (x, y, i) =>
        Math.abs(y - ly) <= 1.5 && ((x + ox) % (2 * dash)) < dash ? lane : mix(base, [50, 50, 55], 0.6 * stain[i]),
      );
    },
  },
  {
    name: "water", phrase: "on the water", word: "water",
    paint(rng, w, h) {
      const base = jitter(rng, [40, 105, 170], 12);
      const warp = fbm(rng, w, h, w / 3);
      const f = rng.range(0.25, 0.45);
      return fill(rng, w, h, 8, (x, y, i) => mix(base, [150, 200, 235], 0.45 * Math.max(0, Math.sin(y * f + x * 0.05 + 10 * warp[i])) ** 3));
    },
  },
  {
    name: "floor", phrase: "on the floor", word: "floor",
    paint(rng, w, h) {
      const wood = jitter(rng, [150, 100, 60], 15);
      const plank = rng.int(14, 22);
      const tones = Array.from({ length: Math.ceil(h / plank) + 1 }, () => rng.range(-18, 18));
      const joints = tones.map(() => rng.int(0, w));
      const grain = valueNoise(rng, w, h, 24, 1.2);
      return fill(rng, w, h, 8, (x, y, i) => {
        const p = Math.floor(y / plank);
        if (y % plank === 0 || Math.abs(x - joints[p]) < 1) return [70, 45, 25];
        const t = tones[p];
        return mix([wood[0] + t, wood[1] + t, wood[2] + t], [110, 70, 40], 0.5 * grain[i]);
      });
    },
  },
  {
    name: "table", phrase: "on the table", word: "table",
    paint(rng, w, h) {
      const colour = rng.pick<Rgb>([[200, 50, 50], [50, 90, 190], [60, 150, 80]]);
      const cell = rng.int(10, 16);
      const weave = valueNoise(rng, w, h, 2, 2);
      return fill(rng, w, h, 10, (x, y, i) => {
        const n = (Math.floor(x / cell) % 2) + (Math.floor(y / cell) % 2); // 0 white, 1 tint, 2 full
        return mix(mix([245, 242, 235], colour, n / 2), [120, 120, 120], 0.15 * weave[i]);
      });
    },
  },
  {
    name: "sky", phrase: "in the sky", word: "sky",
    paint(rng, w, h) {
      const top = jitter(rng, [80, 140, 225], 12);
      const clouds = fbm(rng, w, h, w / 2.5, 4, 0.6);
      const cover = rng.range(0.45, 0.65);
      return fill(rng, w, h, 4, (_x, y, i) => mix(mix(top, [175, 210, 245], y / h), [250, 250, 252], Math.min(1, Math.max(0, (clouds[i] - cover) * 4))));
    },
  },
];

export function getBackground(name: string): Background {
  const b = BACKGROUNDS.find((x) => x.name === name);
  if (!b) throw new Error(`unknown background ${name}`);
  return b;
}
