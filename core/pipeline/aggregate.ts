// Sweep results: the paper's Table II/III/IV analogues, layer distributions, neuron lists and
// caption examples, as JSON (for the report) and CSV (for a researcher's notebook).
import type { Method } from "../spec.js";
import { layerDistribution } from "../method/decode.js";
import { meanDefined } from "../eval/scores.js";
import { bootstrapTable, comparisonPairs, METRICS, type BootstrapRow, type DifferenceRow, type Metric, type SampleRuns } from "../eval/bootstrap.js";
import { mentions } from "../data/concepts.js";
import { parquetWriteBuffer } from "hyparquet-writer";
import { cachedStep, json, readJson, type PipelineContext } from "./context.js";
import type { PlanFailure, SweepPlan } from "./plan.js";
import type { GroupScore, Interpretation, PerturbLevel, SampleRecord, Selection } from "./steps.js";
import type { AblationResult, LocalisationResult } from "./causal.js";
import { ablationTable, groundTruthTable, localisationTable } from "../eval/causal.js";

/** Everything the sweep learned about one sample (keys into the store). */
export interface SampleOutcome {
  sampleKey: string;
  selectionKey?: string;
  interpretKey?: string;
  scoreKeys: string[];
  /** perturb keys per group name (`two-stage`, `random-3`), one per level. */
  perturbKeys: Record<string, string[]>;
  /** The clean captions (and activation statistics) the sample was evaluated against. */
  cleanKey?: string;
  /** The causal tests (core/pipeline/causal.ts): deterministic ablation and heatmap localisation. */
  ablateKey?: string;
  localiseKey?: string;
  calibration?: CalibrationSummary;
}

export interface CalibrationSummary {
  concept: string;
  chosen: { actQ: number; gradQ: number; score: number; neurons: number } | null;
  grid: { actQ: number; gradQ: number; score: number; suppression: number; retention: number; neurons: number }[];
  /** Accepted calibration samples behind the grid (0: every cell is NaN and the fallback is used). */
  accepted?: number;
  /** Why the documented fallback (the middle quantiles) was used, when it was. */
  reason?: string;
}

/**
 * Each metric of core/eval/bootstrap.ts as three columns: estimate, `_lo`, `_hi` (95 %):
 * suppression, retention, score, selectivity and its parts delta_same = P_same(0) − P_same(σ),
 * delta_other = P_other(0) − P_other(σ).
 */
export type MetricColumns = { [M in Metric as M | `${M}_lo` | `${M}_hi`]: number };

/** A Table II row (results/…/table2.csv): estimates with 95 % bootstrap intervals. */
export interface ResultRow extends MetricColumns {
  method: Method; concept: string; sigma: number | "all"; groups: number;
  /** Mean size of the scored sets per sample: images of k, (image, k') pairs. */
  n_same: number; n_other: number;
}

/** A paired difference a − b on the average over knowledge, with its 95 % interval. */
export interface DifferenceCsvRow extends MetricColumns {
  a: string; b: string; sigma: number | "all";
}

export interface SweepResults {
  sweepId: string;
  bundle: SweepPlan["bundle"];
  dataset: SweepPlan["dataset"];
  encoder: Record<string, unknown> | null;
  concepts: string[];
  methods: Method[];
  levels: number[];
  /** How the sets were chosen and the bootstrap that gives the intervals. */
  evaluation: { sets: "faithful" | "all"; bootstrap: { resamples: number; seed: number; level: number } };
  table2: ResultRow[];
  differences: DifferenceCsvRow[];
  table3: { method: Method; bleu: number; rouge1: number; rougeL: number; bertscore: number; groups: number }[];
  table4: { concept: string; sampleId: string; act: unknown; grad: unknown; tauAct: number; tauGrad: number; candidates: number; selected: number }[];
  calibration: CalibrationSummary[];
  layers: Record<string, number[]>;
  neurons: { concept: string; sampleId: string; method: Method; group: string; rank: number; layer: number; index: number; score: number }[];
  samples: { sampleId: string; concept: string; status: string; reasons: string[]; details: string[]; caption: string; inpaintedCaption: string; target?: string; inpaintKey: string; heatmapKey?: string }[];
  interpretations: Interpretation[];
  examples: { concept: string; sampleId: string; method: Method; sigma: number; caption: string }[];
  failures: PlanFailure[];
  /** The causal tests (docs/METHOD.md "Causal tests"); absent in results from before them. */
  causal?: CausalResults;
}

export interface CausalResults {
  ablation: Record<string, number | string>[];
  groundTruth: Record<string, number | string>[];
  localisation: Record<string, number | string>[];
  /** Per sample: each group's IoU / pointing and the report heatmap's, and the ablation's skip reason or ground-truth cost. */
  samples: { sampleId: string; concept: string; heatmap: { iou: number; pointing: number } | null; groups: { group: string; iou: number; pointing: number }[]; skipped?: string; groundTruth?: { neurons: number } | { skipped: string } }[];
  /** Why ablation was not measured (one line per distinct reason, with its sample count). */
  skipped: string[];
}

const mean = meanDefined;

const flat = (r: BootstrapRow | DifferenceRow) => Object.fromEntries(METRICS.flatMap((m) => [[m, r[m].estimate], [`${m}_lo`, r[m].lo], [`${m}_hi`, r[m].hi]])) as MetricColumns;

/** Table II (with intervals and σ = 0 rows), the paired differences, and Table III from the group scores. */
export function buildTables(scores: GroupScore[], methods: Method[], concepts: string[], levels: number[], bootstrap: { resamples: number; seed: number }): Pick<SweepResults, "table2" | "table3" | "differences"> {
  // One SampleRuns per sample: a control's groups pool their runs (each group's draws are runs).
  const bySample = new Map<string, SampleRuns & { counts: { same: number; other: number }; groups: Record<string, number> }>();
  for (const g of scores) {
    let s = bySample.get(g.sampleId);
    if (!s) bySample.set(g.sampleId, (s = { concept: g.concept, sampleId: g.sampleId, clean: g.clean, runs: {}, counts: g.counts, groups: {} }));
    s.groups[g.method] = (s.groups[g.method] ?? 0) + 1;
    const runs = (s.runs[g.method] ??= levels.map(() => []));
    levels.forEach((sigma, li) => runs[li].push(...(g.levels.find((l) => l.sigma === sigma)?.draws ?? [])));
  }
  const samples = [...bySample.values()];
  const swept = concepts.filter((c) => samples.some((s) => s.concept === c));
  const { rows, differences } = bootstrapTable(samples, methods, levels, comparisonPairs(methods), bootstrap);
  const table2: ResultRow[] = [];
  for (const method of methods) {
    for (const concept of [...swept, "average"]) {
      const mine = samples.filter((s) => concept === "average" || s.concept === concept);
      const groups = mine.reduce((a, s) => a + (s.groups[method] ?? 0), 0);
      const n_same = mean(mine.map((s) => s.counts.same)), n_other = mean(mine.map((s) => s.counts.other));
      for (const r of rows.filter((x) => x.method === method && x.concept === concept)) {
        table2.push({ method, concept, sigma: r.sigma, groups, ...flat(r), n_same, n_other });
      }
    }
  }
  const table3 = methods.map((method) => {
    const lv = scores.filter((s) => s.method === method).flatMap((s) => s.levels);
    return { method, bleu: mean(lv.map((l) => l.bleu)), rouge1: mean(lv.map((l) => l.rouge1)), rougeL: mean(lv.map((l) => l.rougeL)), bertscore: mean(lv.map((l) => l.bertscore)), groups: lv.length / Math.max(1, levels.length) };
  });
  return { table2, table3, differences: differences.map((d) => ({ a: d.a, b: d.b, sigma: d.sigma, ...flat(d) })) };
}

/** One row per caption (the clean ones as σ = 0, method `clean`): results/…/captions.csv|parquet. */
export interface CaptionRow {
  concept: string; sample_id: string; method: string; group: string; sigma: number; draw: number;
  image_id: number; image_concepts: string; caption: string; mentions_target: boolean;
  /** The image's annotated concepts that the caption names (`;`-separated). */
  mentioned: string;
}

const csvCell = (v: unknown) => {
  const s = typeof v === "number" ? (Number.isFinite(v) ? String(+v.toFixed(6)) : "") : typeof v === "string" ? v : JSON.stringify(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};
export function toCsv(rows: object[]): string {
  if (rows.length === 0) return "";
  const cols = Object.keys(rows[0]);
  return [cols.join(","), ...rows.map((r) => cols.map((c) => csvCell((r as Record<string, unknown>)[c])).join(","))].join("\n") + "\n";
}

/** Aggregate every sample's outcome into the sweep's result files. */
export interface AggregateSpec {
  methods: Method[];
  noise: { levels: number[] };
  eval: { sets: "faithful" | "all"; bootstrap: { resamples: number; seed: number } };
}

/** Every caption of the sweep as rows: the clean ones (σ = 0) once per sample, then each group's. */
async function captionRows(ctx: PipelineContext, plan: SweepPlan, outcomes: SampleOutcome[], records: SampleRecord[], selections: (Selection | undefined)[], perturbLevel: (key: string) => Promise<PerturbLevel>): Promise<CaptionRow[]> {
  const imageConcepts = new Map(plan.evalImages.map((i) => [String(i.imageId), i.concepts]));
  const cleanCache = new Map<string, Record<string, string>>();
  const rows: CaptionRow[] = [];
  for (const [k, o] of outcomes.entries()) {
    const sel = selections[k];
    if (!o.cleanKey || !sel) continue;
    const concept = records[k].sample.concept, sampleId = records[k].sample.id;
    const row = (method: string, group: string, sigma: number, draw: number, imageId: string, caption: string): CaptionRow => {
      const cs = imageConcepts.get(imageId) ?? [];
      return {
        concept, sample_id: sampleId, method, group, sigma, draw, image_id: Number(imageId), image_concepts: cs.join(";"), caption,
        mentions_target: mentions(caption, concept).mentioned, mentioned: cs.filter((c) => mentions(caption, c).mentioned).join(";"),
      };
    };
    if (!cleanCache.has(o.cleanKey)) cleanCache.set(o.cleanKey, await readJson<Record<string, string>>(ctx, o.cleanKey, "captions.json"));
    const clean = cleanCache.get(o.cleanKey)!;
    let cleanDone = false;
    for (const g of sel.groups) {
      for (const pk of o.perturbKeys[g.name] ?? []) {
        const lv = await perturbLevel(pk);
        if (!cleanDone) {
          for (const id of Object.keys(lv.captions[0] ?? {})) rows.push(row("clean", "clean", 0, 0, id, clean[id] ?? ""));
          cleanDone = true;
        }
        lv.captions.forEach((caps, draw) => { for (const [id, c] of Object.entries(caps)) rows.push(row(g.method, g.name, lv.sigma, draw, id, c)); });
      }
    }
  }
  return rows;
}

function captionsParquet(rows: CaptionRow[]): Uint8Array {
  const col = <K extends keyof CaptionRow>(name: K, type: "STRING" | "INT32" | "DOUBLE" | "BOOLEAN") => ({ name, data: rows.map((r) => r[name]), type });
  return new Uint8Array(parquetWriteBuffer({
    columnData: [
      col("concept", "STRING"), col("sample_id", "STRING"), col("method", "STRING"), col("group", "STRING"), col("sigma", "DOUBLE"),
      col("draw", "INT32"), col("image_id", "INT32"), col("image_concepts", "STRING"), col("caption", "STRING"),
      col("mentions_target", "BOOLEAN"), col("mentioned", "STRING"),
    ],
  }));
}

/** The causal tables from the samples' ablation and localisation steps (none: undefined). */
async function causalResults(ctx: PipelineContext, spec: AggregateSpec, outcomes: SampleOutcome[]): Promise<CausalResults | undefined> {
  const abl = (await Promise.all(outcomes.map((o) => (o.ablateKey ? readJson<AblationResult>(ctx, o.ablateKey, "ablate.json") : undefined)))).filter((x): x is AblationResult => !!x);
  const loc = (await Promise.all(outcomes.map((o) => (o.localiseKey ? readJson<LocalisationResult>(ctx, o.localiseKey, "localise.json") : undefined)))).filter((x): x is LocalisationResult => !!x);
  if (!abl.length && !loc.length) return undefined;
  const opts = spec.eval.bootstrap;
  const methods = [...spec.methods];
  const reasons = new Map<string, number>();
  for (const a of abl) if (a.skipped) reasons.set(a.skipped, (reasons.get(a.skipped) ?? 0) + 1);
  for (const a of abl) if (a.groundTruth && "skipped" in a.groundTruth) reasons.set(`ground truth ${a.groundTruth.skipped}`, (reasons.get(`ground truth ${a.groundTruth.skipped}`) ?? 0) + 1);
  const ids = [...new Set([...loc.map((l) => l.sampleId), ...abl.map((a) => a.sampleId)])];
  return {
    ablation: ablationTable(abl, methods, opts),
    groundTruth: groundTruthTable(abl, methods, opts),
    localisation: localisationTable(loc, methods, opts),
    samples: ids.map((id) => {
      const l = loc.find((x) => x.sampleId === id), a = abl.find((x) => x.sampleId === id);
      return {
        sampleId: id, concept: (l ?? a)!.concept, heatmap: l?.heatmap ?? null, groups: (l?.groups ?? []).map((g) => ({ group: g.group, iou: g.iou, pointing: g.pointing })),
        ...(a?.skipped ? { skipped: a.skipped } : {}),
        ...(a?.groundTruth ? { groundTruth: "skipped" in a.groundTruth ? a.groundTruth : { neurons: a.groundTruth.neurons } } : {}),
      };
    }),
    skipped: [...reasons].map(([r, n]) => `${r} (${n} sample${n === 1 ? "" : "s"})`),
  };
}

/** Aggregate every sample's outcome into the sweep's result files. */
export async function aggregateSweep(ctx: PipelineContext, plan: SweepPlan, spec: AggregateSpec, outcomes: SampleOutcome[], failures: PlanFailure[], layersCount: number, encoder: Record<string, unknown> | null): Promise<string> {
  const evaluation = { sets: spec.eval.sets, bootstrap: { ...spec.eval.bootstrap, level: 0.95 } };
  const inputs = { plan: plan.sweepId, bundle: plan.bundle.sha256, dataset: plan.dataset.sha256, outcomes, failures, encoder, evaluation, methods: spec.methods };
  return cachedStep(ctx, `sweeps/${plan.sweepId}/results`, inputs, async () => {
    const records = await Promise.all(outcomes.map((o) => readJson<SampleRecord>(ctx, o.sampleKey, "sample.json")));
    const selections = await Promise.all(outcomes.map((o) => (o.selectionKey ? readJson<Selection>(ctx, o.selectionKey, "selection.json") : undefined)));
    const interpretations = (await Promise.all(outcomes.map((o) => (o.interpretKey ? readJson<Interpretation>(ctx, o.interpretKey, "interpret.json") : undefined)))).filter((x): x is Interpretation => !!x);
    const scores = await Promise.all(outcomes.flatMap((o) => o.scoreKeys.map((k) => readJson<GroupScore>(ctx, k, "score.json"))));
    const levels = spec.noise.levels;
    const { table2, table3, differences } = buildTables(scores, spec.methods, plan.concepts, levels, spec.eval.bootstrap);
    const sel = selections.filter((s): s is Selection => !!s);
    const table4 = sel.map((s) => ({ concept: s.concept, sampleId: s.sampleId, act: s.thresholds.act, grad: s.thresholds.grad, tauAct: s.thresholds.tauAct, tauGrad: s.thresholds.tauGrad, candidates: s.candidates, selected: s.groups.find((g) => g.method === "two-stage")?.neurons.length ?? 0 }));
    // A control's layer distribution is that of its first group (the others are drawn alike).
    const layers = Object.fromEntries(spec.methods.map((m) => [m, layerDistribution(sel.flatMap((s) => s.groups.find((g) => g.method === m)?.neurons ?? []), layersCount)]));
    const neurons = sel.flatMap((s) => s.groups.flatMap((g) => g.neurons.map((n, rank) => ({ concept: s.concept, sampleId: s.sampleId, method: g.method, group: g.name, rank, layer: n.layer, index: n.index, score: n.score }))));
    // Each noise level's captions are read once, for the examples and the captions table.
    const perturbCache = new Map<string, Promise<PerturbLevel>>();
    const perturbLevel = (key: string) => {
      if (!perturbCache.has(key)) perturbCache.set(key, readJson<PerturbLevel>(ctx, key, "perturb.json"));
      return perturbCache.get(key)!;
    };
    const examples: SweepResults["examples"] = [];
    for (const [k, o] of outcomes.entries()) {
      // One example row per method and level: the first group (a control's `random-0`), first draw.
      for (const g of selections[k]?.groups ?? []) {
        if (g.name !== g.method && !g.name.endsWith("-0")) continue;
        for (const pk of o.perturbKeys[g.name] ?? []) {
          const lv = await perturbLevel(pk);
          examples.push({ concept: records[k].sample.concept, sampleId: records[k].sample.id, method: g.method, sigma: lv.sigma, caption: lv.captions[0]?.[records[k].sample.imageId] ?? "" });
        }
      }
    }
    const captions = await captionRows(ctx, plan, outcomes, records, selections, perturbLevel);
    const causal = await causalResults(ctx, spec, outcomes);
    const results: SweepResults = {
      sweepId: plan.sweepId, bundle: plan.bundle, dataset: plan.dataset, encoder,
      concepts: plan.concepts, methods: spec.methods, levels, evaluation,
      table2, differences, table3, table4,
      calibration: outcomes.map((o) => o.calibration).filter((c): c is CalibrationSummary => !!c).filter((c, i, a) => a.findIndex((x) => x.concept === c.concept) === i),
      layers, neurons,
      samples: records.map((r, k) => ({ sampleId: r.sample.id, concept: r.sample.concept, status: r.status, reasons: r.reasons, details: r.details, caption: r.caption, inpaintedCaption: r.inpaintedCaption, target: r.target?.word, inpaintKey: r.inpaintKey, heatmapKey: outcomes[k].interpretKey })),
      interpretations, examples,
      failures: [...plan.failures, ...failures],
      ...(causal ? { causal } : {}),
    };
    return {
      "results.json": json(results),
      "table2.csv": toCsv(table2),
      "differences.csv": toCsv(differences),
      "table3.csv": toCsv(table3),
      "table4.csv": toCsv(table4),
      "layers.csv": toCsv(Object.entries(layers).flatMap(([method, counts]) => counts.map((count, layer) => ({ method, layer, count })))),
      "neurons.csv": toCsv(neurons),
      "samples.csv": toCsv(results.samples.map(({ sampleId, concept, status, reasons, caption, inpaintedCaption, target }) => ({ sampleId, concept, status, reasons: reasons.join(";"), caption, inpaintedCaption, target: target ?? "" }))),
      "examples.csv": toCsv(examples),
      "captions.csv": toCsv(captions),
      "captions.parquet": captionsParquet(captions),
      ...(causal ? { "ablation.csv": toCsv(causal.ablation), "groundtruth.csv": toCsv(causal.groundTruth), "localisation.csv": toCsv(causal.localisation) } : {}),
      "failures.json": json(results.failures),
    };
  });
}
