// Seeded Gaussian noise on a neuron group (DESIGN.md §2, evaluation). Every draw is a pure
// function of (sweep seed, group, sigma, draw), so a retried activity reproduces it exactly.
import { createHash } from "node:crypto";
import { type LayerTensor, type Neuron } from "./tensor.js";

/** xoshiro128** seeded from sha256(key), with Box-Muller for normals. */
export function seededNormal(key: string): () => number {
  const h = createHash("sha256").update(key).digest();
  let s0 = h.readUInt32LE(0), s1 = h.readUInt32LE(4), s2 = h.readUInt32LE(8), s3 = h.readUInt32LE(12);
  if ((s0 | s1 | s2 | s3) === 0) s0 = 1;
  const next = (): number => {
    const r = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = rotl(s3, 11);
    return r / 4294967296;
  };
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) { const v = spare; spare = undefined; return v; }
    let u = 0;
    while (u === 0) u = next();
    const v = next();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

export interface NoiseSpec {
  seed: number | string;
  /** Stable id of the neuron group (e.g. `<concept>/<sample>/<method>`). */
  groupId: string;
  sigma: number;
  draw: number;
  layers: number;
  width: number;
  /** Relative levels: per-neuron scale [L*D] (e.g. activation std over image positions). */
  scale?: Float32Array;
}

/** The ffn_delta row [L*D] of one noise run: sigma·eps_i (·scale_i) on the group's neurons, 0 elsewhere. */
export function noiseDelta(group: Neuron[], spec: NoiseSpec): Float32Array {
  const delta = new Float32Array(spec.layers * spec.width);
  const normal = seededNormal(`${spec.seed}|${spec.groupId}|${spec.sigma}|${spec.draw}`);
  // Draw in a canonical neuron order so the noise does not depend on how the group was listed.
  const ordered = [...group].sort((a, b) => a.layer - b.layer || a.index - b.index);
  for (const n of ordered) {
    if (n.layer >= spec.layers || n.index >= spec.width) throw new RangeError(`neuron (${n.layer}, ${n.index}) outside [${spec.layers}, ${spec.width}]`);
    const k = n.layer * spec.width + n.index;
    delta[k] = spec.sigma * normal() * (spec.scale ? spec.scale[k] : 1);
  }
  return delta;
}

/** Per-neuron standard deviation over image positions [L*D]: the unit of `relative` noise levels. */
export function positionStd(act: LayerTensor): Float32Array {
  const [L, P, D] = act.dims;
  const out = new Float32Array(L * D);
  for (let l = 0; l < L; l++) for (let i = 0; i < D; i++) {
    let s = 0, s2 = 0;
    for (let p = 0; p < P; p++) { const v = act.data[(l * P + p) * D + i]; s += v; s2 += v * v; }
    const mean = s / P;
    out[l * D + i] = Math.sqrt(Math.max(0, s2 / P - mean * mean));
  }
  return out;
}
