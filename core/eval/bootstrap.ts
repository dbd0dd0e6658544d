// Uncertainty of Table II: a seeded, paired, hierarchical bootstrap. One resample draws knowledge
// with replacement, then samples within each drawn knowledge, then noise runs within each
// (sample, method, level); every method sees the same knowledge and samples (paired), so the
// difference of two methods has its own interval. Arithmetic on stored numbers only.
//
// Every Table II number is linear in the mean P_same and P_other (S = 1 − P_same, R = P_other,
// score = (S + R)/2, selectivity = (P_same(0) − P_same) − (P_other(0) − P_other)), so a resample
// only needs those two means, weighted like the table: mean over knowledge of the mean over its
// samples of the mean over the sample's runs.

import { uniform } from "../rng.js";

export interface Rates { pSame: number; pOther: number }

export interface SampleRuns {
  concept: string;
  sampleId: string;
  /** σ = 0: the clean captions over the same sets. */
  clean: Rates;
  /** runs[method][levelIndex]: one entry per noise run (a control's runs pool all its groups). */
  runs: Record<string, Rates[][]>;
}

export interface Interval { estimate: number; lo: number; hi: number }
export interface Metrics { suppression: Interval; retention: Interval; score: Interval; selectivity: Interval; delta_same: Interval; delta_other: Interval }
/** selectivity = delta_same − delta_other (the parts: P(0) − P(σ) for the target and the others). */
export const METRICS = ["suppression", "retention", "score", "selectivity", "delta_same", "delta_other"] as const;
export type Metric = (typeof METRICS)[number];

export interface BootstrapRow extends Metrics {
  method: string;
  concept: string;
  /** 0 = the clean captions; "all" = mean over the noise levels. */
  sigma: number | "all";
  /** Samples (accepted) behind the row. */
  samples: number;
}

export interface DifferenceRow extends Metrics { a: string; b: string; sigma: number | "all" }

export interface BootstrapOptions { resamples: number; seed: number; level?: number }

type Pick = (n: number) => number[];

const identityPick: Pick = (n) => Array.from({ length: n }, (_, i) => i);
const randomPick = (u: () => number): Pick => (n) => Array.from({ length: n }, () => Math.floor(u() * n));

/** Mean of f over the picked indices, NaN values skipped (NaN when none is left). */
function meanOver(idx: number[], f: (i: number) => number): number {
  let s = 0, n = 0;
  for (const i of idx) { const v = f(i); if (Number.isFinite(v)) { s += v; n++; } }
  return n ? s / n : NaN;
}

interface Means { clean: Rates; levels: Rates[] }

/**
 * The table's means of P_same / P_other for one method, given which knowledge, samples and runs a
 * resample picked (`pick` = identity for the estimate itself).
 */
function means(groups: SampleRuns[][], method: string, nLevels: number, conceptIdx: number[], sampleIdx: number[][], pick: Pick): Means {
  const levelRates = (s: SampleRuns, li: number): Rates => {
    const runs = s.runs[method]?.[li] ?? [];
    const idx = pick(runs.length);
    return { pSame: meanOver(idx, (i) => runs[i].pSame), pOther: meanOver(idx, (i) => runs[i].pOther) };
  };
  // Per knowledge: mean over its picked samples; then mean over the picked knowledge.
  const perConcept = conceptIdx.map((c, k) => {
    const samples = sampleIdx[k].map((i) => groups[c][i]);
    const lv = Array.from({ length: nLevels }, (_, li) => samples.map((s) => levelRates(s, li)));
    return {
      clean: { pSame: meanOver(identityPick(samples.length), (i) => samples[i].clean.pSame), pOther: meanOver(identityPick(samples.length), (i) => samples[i].clean.pOther) },
      levels: lv.map((rs) => ({ pSame: meanOver(identityPick(rs.length), (i) => rs[i].pSame), pOther: meanOver(identityPick(rs.length), (i) => rs[i].pOther) })),
    };
  });
  const all = identityPick(perConcept.length);
  return {
    clean: { pSame: meanOver(all, (i) => perConcept[i].clean.pSame), pOther: meanOver(all, (i) => perConcept[i].clean.pOther) },
    levels: Array.from({ length: nLevels }, (_, li) => ({ pSame: meanOver(all, (i) => perConcept[i].levels[li].pSame), pOther: meanOver(all, (i) => perConcept[i].levels[li].pOther) })),
  };
}

function metricsOf(clean: Rates, noisy: Rates): Record<Metric, number> {
  const suppression = 1 - noisy.pSame;
  const retention = noisy.pOther;
  const delta_same = clean.pSame - noisy.pSame, delta_other = clean.pOther - noisy.pOther;
  return { suppression, retention, score: (suppression + retention) / 2, selectivity: delta_same - delta_other, delta_same, delta_other };
}

/** Metrics per level (index 0 = σ 0, then each noise level, then "all" = mean over noise levels). */
function metricsPerLevel(m: Means): Record<Metric, number>[] {
  const lv = m.levels.map((r) => metricsOf(m.clean, r));
  const mean = (f: Metric) => meanOver(identityPick(lv.length), (i) => lv[i][f]);
  return [metricsOf(m.clean, m.clean), ...lv, Object.fromEntries(METRICS.map((f) => [f, mean(f)])) as Record<Metric, number>];
}

function quantile(sorted: number[], q: number): number {
  if (!sorted.length) return NaN;
  const pos = (sorted.length - 1) * q, lo = Math.floor(pos), hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** The percentile interval of bootstrap draws around `estimate` (NaN draws skipped). */
export function interval(estimate: number, draws: number[], level: number): Interval {
  const v = draws.filter(Number.isFinite).sort((a, b) => a - b);
  return { estimate, lo: quantile(v, (1 - level) / 2), hi: quantile(v, 1 - (1 - level) / 2) };
}

/**
 * Intervals for every method × (each knowledge and the average) × (σ 0, each level, all), and the
 * paired differences `pairs` (a − b) on the average.
 */
export function bootstrapTable(samples: SampleRuns[], methods: string[], levels: number[], pairs: [string, string][], opts: BootstrapOptions): { rows: BootstrapRow[]; differences: DifferenceRow[] } {
  const level = opts.level ?? 0.95;
  const concepts = [...new Set(samples.map((s) => s.concept))];
  const groups = concepts.map((c) => samples.filter((s) => s.concept === c));
  const sigmas: (number | "all")[] = [0, ...levels, "all"];
  const rows: BootstrapRow[] = [];
  const differences: DifferenceRow[] = [];

  // Each scope is (the knowledge it covers, whether knowledge itself is resampled).
  const scopes: { name: string; conceptIdx: number[]; resampleConcepts: boolean }[] = [
    ...concepts.map((c, k) => ({ name: c, conceptIdx: [k], resampleConcepts: false })),
    { name: "average", conceptIdx: identityPick(concepts.length), resampleConcepts: true },
  ];
  for (const [scopeIndex, scope] of scopes.entries()) {
    const u = uniform(opts.seed * 7919 + scopeIndex + 1);
    const rnd = randomPick(u);
    const fullSamples = scope.conceptIdx.map((c) => identityPick(groups[c].length));
    const estimate = Object.fromEntries(methods.map((m) => [m, metricsPerLevel(means(groups, m, levels.length, scope.conceptIdx, fullSamples, identityPick))]));
    const boot: Record<string, Record<Metric, number>[][]> = Object.fromEntries(methods.map((m) => [m, []]));
    for (let r = 0; r < opts.resamples; r++) {
      const cIdx = scope.resampleConcepts ? rnd(scope.conceptIdx.length).map((i) => scope.conceptIdx[i]) : scope.conceptIdx;
      const sIdx = cIdx.map((c) => rnd(groups[c].length));
      // The same knowledge and samples for every method: paired.
      for (const m of methods) boot[m].push(metricsPerLevel(means(groups, m, levels.length, cIdx, sIdx, rnd)));
    }
    for (const m of methods) {
      sigmas.forEach((sigma, li) => {
        const row = { method: m, concept: scope.name, sigma, samples: scope.conceptIdx.reduce((a, c) => a + groups[c].length, 0) } as BootstrapRow;
        for (const f of METRICS) row[f] = interval(estimate[m][li][f], boot[m].map((b) => b[li][f]), level);
        rows.push(row);
      });
    }
    if (scope.name !== "average") continue;
    for (const [a, b] of pairs) {
      if (!estimate[a] || !estimate[b]) continue;
      sigmas.forEach((sigma, li) => {
        if (sigma === 0) return;
        const row = { a, b, sigma } as DifferenceRow;
        for (const f of METRICS) row[f] = interval(estimate[a][li][f] - estimate[b][li][f], boot[a].map((x, r) => x[li][f] - boot[b][r][li][f]), level);
        differences.push(row);
      });
    }
  }
  return { rows, differences };
}

/** The pairs the report compares: each method against the control, and two-stage against each baseline. */
export function comparisonPairs(methods: string[]): [string, string][] {
  const controls = methods.filter((m) => m.startsWith("random"));
  const found = methods.filter((m) => !m.startsWith("random"));
  const pairs: [string, string][] = [];
  for (const c of controls) for (const m of found) pairs.push([m, c]);
  if (found.includes("two-stage")) for (const m of found) if (m !== "two-stage") pairs.push(["two-stage", m]);
  return pairs;
}
