// Sweep results: the paper's Table II/III/IV analogues, layer distributions, neuron lists and
// caption examples, as JSON (for the report) and CSV (for a researcher's notebook).
import type { Method } from "../spec.js";
import { layerDistribution } from "../method/decode.js";
import { meanDefined } from "../eval/scores.js";
import { cachedStep, json, readJson, type PipelineContext } from "./context.js";
import type { PlanFailure, SweepPlan } from "./plan.js";
import type { GroupScore, Interpretation, PerturbLevel, SampleRecord, Selection } from "./steps.js";

/** Everything the sweep learned about one sample (keys into the store). */
export interface SampleOutcome {
  sampleKey: string;
  selectionKey?: string;
  interpretKey?: string;
  scoreKeys: string[];
  /** perturb keys per method, one per level (for caption examples). */
  perturbKeys: Record<string, string[]>;
  calibration?: CalibrationSummary;
}

export interface CalibrationSummary {
  concept: string;
  chosen: { actQ: number; gradQ: number; score: number; neurons: number } | null;
  grid: { actQ: number; gradQ: number; score: number; suppression: number; retention: number; neurons: number }[];
}

export interface ResultRow { method: Method; concept: string; sigma: number | "all"; suppression: number; retention: number; score: number; groups: number }

export interface SweepResults {
  sweepId: string;
  bundle: SweepPlan["bundle"];
  dataset: SweepPlan["dataset"];
  encoder: Record<string, unknown> | null;
  concepts: string[];
  methods: Method[];
  levels: number[];
  table2: ResultRow[];
  table3: { method: Method; bleu: number; rouge1: number; rougeL: number; bertscore: number; groups: number }[];
  table4: { concept: string; sampleId: string; act: unknown; grad: unknown; tauAct: number; tauGrad: number; candidates: number; selected: number }[];
  calibration: CalibrationSummary[];
  layers: Record<string, number[]>;
  neurons: { concept: string; sampleId: string; method: Method; rank: number; layer: number; index: number; score: number }[];
  samples: { sampleId: string; concept: string; status: string; reasons: string[]; details: string[]; caption: string; inpaintedCaption: string; target?: string; inpaintKey: string; heatmapKey?: string }[];
  interpretations: Interpretation[];
  examples: { concept: string; sampleId: string; method: Method; sigma: number; caption: string }[];
  failures: PlanFailure[];
}

const mean = meanDefined;

export function buildTables(scores: GroupScore[], methods: Method[], concepts: string[], levels: number[]): Pick<SweepResults, "table2" | "table3"> {
  const table2: ResultRow[] = [];
  for (const method of methods) {
    const mine = scores.filter((s) => s.method === method);
    const row = (concept: string, sigma: number | "all", groups: GroupScore[]): ResultRow => {
      const lv = groups.flatMap((g) => g.levels.filter((l) => sigma === "all" || l.sigma === sigma));
      const suppression = mean(lv.map((l) => l.suppression));
      const retention = mean(lv.map((l) => l.retention));
      return { method, concept, sigma, suppression, retention, score: (suppression + retention) / 2, groups: groups.length };
    };
    for (const concept of concepts) {
      const groups = mine.filter((s) => s.concept === concept);
      for (const sigma of levels) table2.push(row(concept, sigma, groups));
      table2.push(row(concept, "all", groups));
    }
    // The paper's "average" row: mean over knowledge of the per-knowledge means.
    for (const sigma of [...levels, "all" as const]) {
      const per = table2.filter((r) => r.method === method && r.sigma === sigma && r.concept !== "average" && r.groups > 0);
      const suppression = mean(per.map((r) => r.suppression));
      const retention = mean(per.map((r) => r.retention));
      table2.push({ method, concept: "average", sigma, suppression, retention, score: (suppression + retention) / 2, groups: mine.length });
    }
  }
  const table3 = methods.map((method) => {
    const lv = scores.filter((s) => s.method === method).flatMap((s) => s.levels);
    return { method, bleu: mean(lv.map((l) => l.bleu)), rouge1: mean(lv.map((l) => l.rouge1)), rougeL: mean(lv.map((l) => l.rougeL)), bertscore: mean(lv.map((l) => l.bertscore)), groups: lv.length / Math.max(1, levels.length) };
  });
  return { table2, table3 };
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
export async function aggregateSweep(ctx: PipelineContext, plan: SweepPlan, spec: { methods: Method[]; noise: { levels: number[] } }, outcomes: SampleOutcome[], failures: PlanFailure[], layersCount: number, encoder: Record<string, unknown> | null): Promise<string> {
  const inputs = { plan: plan.sweepId, bundle: plan.bundle.sha256, dataset: plan.dataset.sha256, outcomes, failures, encoder };
  return cachedStep(ctx, `sweeps/${plan.sweepId}/results`, inputs, async () => {
    const records = await Promise.all(outcomes.map((o) => readJson<SampleRecord>(ctx, o.sampleKey, "sample.json")));
    const selections = await Promise.all(outcomes.map((o) => (o.selectionKey ? readJson<Selection>(ctx, o.selectionKey, "selection.json") : undefined)));
    const interpretations = (await Promise.all(outcomes.map((o) => (o.interpretKey ? readJson<Interpretation>(ctx, o.interpretKey, "interpret.json") : undefined)))).filter((x): x is Interpretation => !!x);
    const scores = await Promise.all(outcomes.flatMap((o) => o.scoreKeys.map((k) => readJson<GroupScore>(ctx, k, "score.json"))));
    const levels = spec.noise.levels;
    const { table2, table3 } = buildTables(scores, spec.methods, plan.concepts, levels);
    const sel = selections.filter((s): s is Selection => !!s);
    const table4 = sel.map((s) => ({ concept: s.concept, sampleId: s.sampleId, act: s.thresholds.act, grad: s.thresholds.grad, tauAct: s.thresholds.tauAct, tauGrad: s.thresholds.tauGrad, candidates: s.candidates, selected: s.groups.find((g) => g.method === "two-stage")?.neurons.length ?? 0 }));
    const layers = Object.fromEntries(spec.methods.map((m) => [m, layerDistribution(sel.flatMap((s) => s.groups.find((g) => g.method === m)?.neurons ?? []), layersCount)]));
    const neurons = sel.flatMap((s) => s.groups.flatMap((g) => g.neurons.map((n, rank) => ({ concept: s.concept, sampleId: s.sampleId, method: g.method, rank, layer: n.layer, index: n.index, score: n.score }))));
    const examples: SweepResults["examples"] = [];
    for (const [k, o] of outcomes.entries()) {
      for (const [method, keys] of Object.entries(o.perturbKeys)) {
        for (const pk of keys) {
          const lv = await readJson<PerturbLevel>(ctx, pk, "perturb.json");
          examples.push({ concept: records[k].sample.concept, sampleId: records[k].sample.id, method: method as Method, sigma: lv.sigma, caption: lv.captions[0]?.[records[k].sample.imageId] ?? "" });
        }
      }
    }
    const results: SweepResults = {
      sweepId: plan.sweepId, bundle: plan.bundle, dataset: plan.dataset, encoder,
      concepts: plan.concepts, methods: spec.methods, levels,
      table2, table3, table4,
      calibration: outcomes.map((o) => o.calibration).filter((c): c is CalibrationSummary => !!c).filter((c, i, a) => a.findIndex((x) => x.concept === c.concept) === i),
      layers, neurons,
      samples: records.map((r, k) => ({ sampleId: r.sample.id, concept: r.sample.concept, status: r.status, reasons: r.reasons, details: r.details, caption: r.caption, inpaintedCaption: r.inpaintedCaption, target: r.target?.word, inpaintKey: r.inpaintKey, heatmapKey: outcomes[k].interpretKey })),
      interpretations, examples,
      failures: [...plan.failures, ...failures],
    };
    return {
      "results.json": json(results),
      "table2.csv": toCsv(table2),
      "table3.csv": toCsv(table3),
      "table4.csv": toCsv(table4),
      "layers.csv": toCsv(Object.entries(layers).flatMap(([method, counts]) => counts.map((count, layer) => ({ method, layer, count })))),
      "neurons.csv": toCsv(neurons),
      "samples.csv": toCsv(results.samples.map(({ sampleId, concept, status, reasons, caption, inpaintedCaption, target }) => ({ sampleId, concept, status, reasons: reasons.join(";"), caption, inpaintedCaption, target: target ?? "" }))),
      "examples.csv": toCsv(examples),
      "failures.json": json(results.failures),
    };
  });
}
