// What the report may say about a comparison: only what a paired 95 % interval supports. Pure
// functions on stored rows (results.json `differences`, `table2`); the page escapes the text.
import type { DifferenceCsvRow } from "../core/pipeline/aggregate.js";

export const METRIC_NAMES = ["suppression", "retention", "score", "selectivity"] as const;
export type MetricName = (typeof METRIC_NAMES)[number];

export interface Estimate { value: number; lo: number; hi: number }

type WithIntervals = { [K in MetricName]: number } & { [K in `${MetricName}_lo` | `${MetricName}_hi`]: number };

export const estimate = (row: WithIntervals, m: MetricName): Estimate => ({ value: row[m], lo: row[`${m}_lo`], hi: row[`${m}_hi`] });

const isNum = (x: unknown): x is number => typeof x === "number" && Number.isFinite(x);

/**
 * Below this a number is arithmetic residue, not a value: the bootstrap's differences of equal
 * means come out as ±1e-16, which must neither print nor count as excluding 0.
 */
export const EPS = 1e-9;

/** Three decimals; a non-zero value that would round to 0.000 keeps one significant digit, so a bound's sign stays visible. */
export function fmt(value: unknown, signed = false): string {
  if (!isNum(value)) return "—";
  const x = Math.abs(value) < EPS ? 0 : value;
  const s = x !== 0 && Math.abs(x) < 0.0005 ? x.toPrecision(1) : x.toFixed(3);
  const clean = s === "-0.000" ? "0.000" : s;
  return signed && x > 0 && clean !== "0.000" ? `+${clean}` : clean;
}

/** "0.410 [0.360, 0.460]" (a difference: "+0.120 [0.050, 0.190]"). */
export const ciText = (e: Estimate, signed = false): string => `${fmt(e.value, signed)} [${fmt(e.lo)}, ${fmt(e.hi)}]`;

/** The interval lies strictly on one side of 0 (a bound at 0, residue included, does not exclude it). */
export const excludesZero = (e: Estimate): boolean => isNum(e.lo) && isNum(e.hi) && (e.lo > EPS || e.hi < -EPS);

/**
 * Equivalence margin on the 0–1 rates: a pair with no resolved difference whose score and
 * selectivity intervals (averaged over σ) both lie within ±TIE_MARGIN is called a tie; wider
 * intervals are called undecided. Fixed here, before any sweep, not fitted to one.
 */
export const TIE_MARGIN = 0.05;

const VERBS: Record<MetricName, [more: string, less: string]> = {
  suppression: ["suppresses its knowledge more than", "suppresses its knowledge less than"],
  retention: ["retains other knowledge better than", "retains other knowledge worse than"],
  score: ["scores higher than", "scores lower than"],
  selectivity: ["is more selective than", "is less selective than"],
};

export const sigmaText = (sigma: number | "all"): string => (sigma === "all" ? "averaged over σ" : `at σ = ${sigma}`);

export interface Resolved { metric: MetricName; sigma: number | "all"; estimate: Estimate }

export interface PairFinding {
  a: string;
  b: string;
  /** Differences whose interval excludes 0, in metric then σ order. */
  resolved: Resolved[];
  /** Every interval looked at (metrics × σ). */
  intervals: number;
  /** Only when nothing is resolved: true = a tie within ±TIE_MARGIN, false = too wide to tell. */
  tie: boolean | null;
  /** Plain sentences saying the above. */
  sentences: string[];
}

/**
 * The finding for a − b over `metrics` (every σ of the stored differences). `label` names the
 * methods in the sentences.
 */
export function pairFinding(differences: DifferenceCsvRow[], a: string, b: string, metrics: readonly MetricName[], label: (m: string) => string): PairFinding {
  const rows = differences.filter((d) => d.a === a && d.b === b);
  const resolved: Resolved[] = metrics.flatMap((metric) => rows.map((d) => ({ metric, sigma: d.sigma, estimate: estimate(d, metric) })).filter((x) => excludesZero(x.estimate)));
  const A = label(a), B = label(b);
  const sentences: string[] = [];
  for (const metric of metrics) {
    for (const [dir, verb] of VERBS[metric].entries()) {
      const mine = resolved.filter((x) => x.metric === metric && (dir === 0 ? x.estimate.lo > EPS : x.estimate.hi < -EPS));
      if (mine.length) sentences.push(`${A} ${verb} ${B} ${mine.map((x) => `${sigmaText(x.sigma)}: ${ciText(x.estimate, true)}`).join("; ")}.`);
    }
  }
  const intervals = rows.length * metrics.length;
  const unresolved = metrics.filter((m) => !resolved.some((x) => x.metric === m));
  if (resolved.length && unresolved.length) sentences.push(`No ${unresolved.join(" or ")} difference between ${A} and ${B} is resolved (every interval includes 0).`);
  let tie: boolean | null = null;
  if (!resolved.length) {
    const what = metrics.length === METRIC_NAMES.length ? "difference" : `${metrics.join(" or ")} difference`;
    const avg = rows.find((d) => d.sigma === "all");
    if (!avg) {
      sentences.push(intervals ? `No ${what} between ${A} and ${B} is resolved: all ${intervals} intervals include 0.` : `No paired difference between ${A} and ${B} was computed.`);
    } else {
      const score = estimate(avg, "score"), sel = estimate(avg, "selectivity");
      tie = [score, sel].every((e) => isNum(e.lo) && isNum(e.hi) && e.lo >= -TIE_MARGIN && e.hi <= TIE_MARGIN);
      const both = `score ${ciText(score, true)}, selectivity ${ciText(sel, true)}`;
      sentences.push(`No ${what} between ${A} and ${B} is resolved: all ${intervals} intervals include 0. ` +
        (tie ? `A tie: averaged over σ the differences (${both}) lie within ±${TIE_MARGIN}.` : `The intervals are too wide to call it a tie (averaged over σ: ${both}).`));
    }
  }
  return { a, b, resolved, intervals, tie, sentences };
}

/** The pairs present in the stored differences, in their stored order. */
export function storedPairs(differences: DifferenceCsvRow[]): [string, string][] {
  const seen = new Map<string, [string, string]>();
  for (const d of differences) if (!seen.has(`${d.a}\u0000${d.b}`)) seen.set(`${d.a}\u0000${d.b}`, [d.a, d.b]);
  return [...seen.values()];
}
