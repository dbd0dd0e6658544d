// Table II and paired-difference rows in results.json's shape (core/pipeline/aggregate.ts), built
// from chosen estimates and intervals, for page tests that need exact, known numbers.
import type { DifferenceCsvRow, ResultRow } from "../../core/pipeline/aggregate.js";
import type { Method } from "../../core/spec.js";

export interface Iv { value: number; lo: number; hi: number }
export const iv = (value: number, lo: number, hi: number): Iv => ({ value, lo, hi });
/** An estimate with a symmetric interval of half-width w. */
export const around = (value: number, w: number): Iv => iv(value, value - w, value + w);

type Measures = { suppression: Iv; retention: Iv; score: Iv; selectivity: Iv };

const flat = (m: Measures) => Object.fromEntries(Object.entries(m).flatMap(([k, e]) => [[k, e.value], [`${k}_lo`, e.lo], [`${k}_hi`, e.hi]]));

export function t2row(method: Method, concept: string, sigma: number | "all", m: Measures, extra: { groups?: number; n_same?: number; n_other?: number } = {}): ResultRow {
  return { method, concept, sigma, groups: extra.groups ?? 1, ...flat(m), n_same: extra.n_same ?? 3, n_other: extra.n_other ?? 8 } as ResultRow;
}

export function diffRow(a: string, b: string, sigma: number | "all", m: Measures): DifferenceCsvRow {
  return { a, b, sigma, ...flat(m) } as DifferenceCsvRow;
}

/** σ = 0 of a faithful set: S = 0, R = 1, selectivity 0, no spread. */
export const CLEAN: Measures = { suppression: iv(0, 0, 0), retention: iv(1, 1, 1), score: iv(0.5, 0.5, 0.5), selectivity: iv(0, 0, 0) };

/** Every measure with the same estimate and half-width. */
export const all = (value: number, w: number): Measures => ({ suppression: around(value, w), retention: around(value, w), score: around(value, w), selectivity: around(value, w) });

/**
 * Table II, differences and the rest of the statistics for one knowledge ("bear"), methods
 * two-stage, schwettmann, pan and the random control, levels 1 and 4, with known outcomes:
 * - two-stage − random at σ = 4: suppression +0.12 [0.05, 0.19], score +0.055 [0.01, 0.10],
 *   selectivity +0.10 [0.04, 0.16] resolved; retention not;
 * - pan − random at σ = 4: retention −0.08 [−0.12, −0.03] resolved, nothing else;
 * - schwettmann − random and two-stage − schwettmann: nothing resolved, every interval within
 *   ±0.03 (a tie; one interval is pure float residue [1e-16, 1e-16], which must not count);
 * - two-stage − pan: nothing resolved, intervals ±0.1 (too wide to call a tie).
 */
export function statsFixture() {
  const methods: Method[] = ["two-stage", "schwettmann", "pan", "random"];
  const levels = [1, 4];
  const noisy = (s: number, r: number, w: number): Measures => ({ suppression: around(s, w), retention: around(r, w), score: around((s + r) / 2, w), selectivity: around(s - (1 - r), w) });
  const at: Record<string, Record<string, Measures>> = {
    "two-stage": { 1: noisy(0.3, 0.9, 0.05), 4: noisy(0.6, 0.8, 0.05), all: noisy(0.45, 0.85, 0.04) },
    schwettmann: { 1: noisy(0.28, 0.9, 0.05), 4: noisy(0.5, 0.81, 0.05), all: noisy(0.39, 0.855, 0.04) },
    pan: { 1: noisy(0.27, 0.86, 0.05), 4: noisy(0.47, 0.72, 0.05), all: noisy(0.37, 0.79, 0.04) },
    random: { 1: noisy(0.29, 0.9, 0.03), 4: noisy(0.48, 0.81, 0.03), all: noisy(0.385, 0.855, 0.02) },
  };
  const table2 = methods.flatMap((method) => ["bear", "average"].flatMap((concept) => [0, ...levels, "all" as const].map((sigma) =>
    t2row(method, concept, sigma, sigma === 0 ? CLEAN : at[method][String(sigma)], { groups: method === "random" ? 5 : 1 }))));
  const sigmas = [...levels, "all" as const];
  const differences = [
    ...sigmas.map((s) => diffRow("two-stage", "random", s, s === 4
      ? { suppression: iv(0.12, 0.05, 0.19), retention: iv(-0.01, -0.04, 0.02), score: iv(0.055, 0.01, 0.1), selectivity: iv(0.1, 0.04, 0.16) }
      : all(0.01, 0.02))),
    ...sigmas.map((s) => diffRow("schwettmann", "random", s, all(0.005, 0.01))),
    ...sigmas.map((s) => diffRow("pan", "random", s, s === 4 ? { ...all(0, 0.02), retention: iv(-0.08, -0.12, -0.03) } : all(0, 0.02))),
    ...sigmas.map((s) => diffRow("two-stage", "schwettmann", s, s === 1 ? { ...all(0, 0.02), suppression: iv(1e-16, 1e-16, 1e-16) } : all(0.01, 0.02))),
    ...sigmas.map((s) => diffRow("two-stage", "pan", s, all(0.02, 0.1))),
  ];
  return {
    methods, levels, table2, differences,
    evaluation: { sets: "faithful" as const, bootstrap: { resamples: 2000, seed: 7, level: 0.95 } },
    table3: methods.map((method, m) => ({ method, bleu: 0.1 * (m + 1), rouge1: 0.2, rougeL: 0.3 - m / 100, bertscore: 0.8, groups: method === "random" ? 5 : 1 })),
    layers: { "two-stage": [1, 2], schwettmann: [3, 0], pan: [0, 3], random: [1, 2] },
  };
}
