// The causal tests' tables (ablation.csv, groundtruth.csv, localisation.csv): per method, the mean
// over knowledge of the mean over its samples (a control's groups averaged within the sample
// first), with a seeded hierarchical bootstrap (knowledge, then samples within each) for the 95 %
// interval, like Table II's. Arithmetic on stored per-sample numbers only.
import type { AblationResult, LocalisationResult } from "../pipeline/causal.js";
import { uniform } from "../rng.js";
import { interval } from "./bootstrap.js";
import { meanDefined } from "./scores.js";

export interface SampleValue { concept: string; sampleId: string; value: number }
export interface Estimate { estimate: number; lo: number; hi: number; samples: number }

/** Mean over knowledge of the mean over samples (NaN values skipped), with a hierarchical bootstrap interval. */
export function hierarchicalMean(values: SampleValue[], opts: { resamples: number; seed: number; level?: number }): Estimate {
  // A sample's several values (a control's groups) are averaged first.
  const bySample = new Map<string, { concept: string; vals: number[] }>();
  for (const v of values) {
    const s = bySample.get(v.sampleId) ?? { concept: v.concept, vals: [] };
    s.vals.push(v.value);
    bySample.set(v.sampleId, s);
  }
  const byConcept = new Map<string, number[]>();
  for (const s of bySample.values()) {
    const m = meanDefined(s.vals);
    if (Number.isFinite(m)) byConcept.set(s.concept, [...(byConcept.get(s.concept) ?? []), m]);
  }
  const groups = [...byConcept.values()];
  const samples = groups.reduce((a, g) => a + g.length, 0);
  const estimate = meanDefined(groups.map(meanDefined));
  const u = uniform(opts.seed);
  const pick = (n: number) => Math.floor(u() * n);
  const draws: number[] = [];
  for (let r = 0; r < opts.resamples && groups.length; r++) {
    const means: number[] = [];
    for (let c = 0; c < groups.length; c++) {
      const g = groups[pick(groups.length)];
      let s = 0;
      for (let i = 0; i < g.length; i++) s += g[pick(g.length)];
      means.push(s / g.length);
    }
    draws.push(means.reduce((a, b) => a + b, 0) / means.length);
  }
  return { ...interval(estimate, draws, opts.level ?? 0.95), samples };
}

type Opts = { resamples: number; seed: number };
const cols = (name: string, e: Estimate) => ({ [name]: e.estimate, [`${name}_lo`]: e.lo, [`${name}_hi`]: e.hi });

/** ablation.csv: per method, the groups' drop of log p(t) and z_t, their captions' S / R / selectivity; then the curve per method and k. */
export function ablationTable(results: AblationResult[], methods: string[], opts: Opts): Record<string, number | string>[] {
  const ok = results.filter((r) => !r.skipped && r.groups);
  const rows: Record<string, number | string>[] = [];
  const of = (method: string, f: (g: NonNullable<AblationResult["groups"]>[number]) => number | undefined) =>
    ok.flatMap((r) => r.groups!.filter((g) => g.method === method).map((g) => ({ concept: r.concept, sampleId: r.sampleId, value: f(g) ?? NaN })));
  for (const method of methods) {
    const drop = hierarchicalMean(of(method, (g) => g.drop), opts);
    if (!drop.samples) continue;
    rows.push({
      kind: "group", method, k: meanDefined(of(method, (g) => g.neurons).map((v) => v.value)), samples: drop.samples,
      ...cols("drop_logp", drop), ...cols("drop_z", hierarchicalMean(of(method, (g) => g.dz), opts)),
      ...cols("suppression", hierarchicalMean(of(method, (g) => g.captions?.suppression), opts)),
      ...cols("retention", hierarchicalMean(of(method, (g) => g.captions?.retention), opts)),
      ...cols("selectivity", hierarchicalMean(of(method, (g) => g.captions?.selectivity), opts)),
    });
  }
  const curveMethods = [...new Set(ok.flatMap((r) => (r.curve ?? []).map((p) => p.method)))];
  for (const method of curveMethods) {
    const ks = [...new Set(ok.flatMap((r) => (r.curve ?? []).filter((p) => p.method === method).map((p) => p.k)))].sort((a, b) => a - b);
    for (const k of ks) {
      const pts = ok.flatMap((r) => (r.curve ?? []).filter((p) => p.method === method && p.k === k).map((p) => ({ concept: r.concept, sampleId: r.sampleId, dlogp: p.drop, dz: p.dz })));
      const drop = hierarchicalMean(pts.map((p) => ({ ...p, value: p.dlogp })), opts);
      rows.push({
        kind: "curve", method, k, samples: drop.samples, ...cols("drop_logp", drop), ...cols("drop_z", hierarchicalMean(pts.map((p) => ({ ...p, value: p.dz })), opts)),
        suppression: NaN, suppression_lo: NaN, suppression_hi: NaN, retention: NaN, retention_lo: NaN, retention_hi: NaN, selectivity: NaN, selectivity_lo: NaN, selectivity_hi: NaN,
      });
    }
  }
  return rows;
}

/**
 * groundtruth.csv: per method and effect (`target`: drop of log p(t), or of z_t), precision@k,
 * Spearman ρ and the captured share against the exhaustive single-neuron effects.
 */
export function groundTruthTable(results: AblationResult[], methods: string[], opts: Opts): Record<string, number | string>[] {
  const ok = results.flatMap((r) => (r.groundTruth && "scores" in r.groundTruth ? [{ r, gt: r.groundTruth }] : []));
  type Score = NonNullable<(typeof ok)[number]["gt"]["scoresZ"]>[number];
  return (["logp", "z"] as const).flatMap((target) => methods.flatMap((method) => {
    const of = (f: (s: Score) => number) =>
      ok.flatMap(({ r, gt }) => ((target === "z" ? gt.scoresZ : gt.scores) ?? []).filter((s) => s.method === method).map((s) => ({ concept: r.concept, sampleId: r.sampleId, value: f(s) })));
    const p = hierarchicalMean(of((s) => s.precisionAtK), opts);
    if (!p.samples) return [];
    return [{ method, target, samples: p.samples, k: meanDefined(of((s) => s.k).map((v) => v.value)), ...cols("precision_at_k", p), ...cols("spearman", hierarchicalMean(of((s) => s.spearman), opts)), ...cols("captured", hierarchicalMean(of((s) => s.captured), opts)) }];
  }));
}

/** localisation.csv: per method (and the report's heatmap, method `heatmap`), IoU at the 95th percentile and the pointing game. */
export function localisationTable(results: LocalisationResult[], methods: string[], opts: Opts): Record<string, number | string>[] {
  const rows = (method: string, vals: { r: LocalisationResult; iou: number; pointing: number }[]) => {
    const iou = hierarchicalMean(vals.map(({ r, iou }) => ({ concept: r.concept, sampleId: r.sampleId, value: iou })), opts);
    if (!iou.samples) return [];
    return [{ method, samples: iou.samples, ...cols("iou", iou), ...cols("pointing", hierarchicalMean(vals.map(({ r, pointing }) => ({ concept: r.concept, sampleId: r.sampleId, value: pointing })), opts)) }];
  };
  return [
    ...methods.flatMap((m) => rows(m, results.flatMap((r) => r.groups.filter((g) => g.method === m).map((g) => ({ r, iou: g.iou, pointing: g.pointing }))))),
    ...rows("heatmap", results.flatMap((r) => (r.heatmap ? [{ r, ...r.heatmap }] : []))),
  ];
}
