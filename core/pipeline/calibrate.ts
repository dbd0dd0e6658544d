// `auto` thresholds: closed-loop calibration of (tau_act, tau_grad) per knowledge on a held-out
// calibration split (never the scored images) — the paper's stated future work.
import type { SweepSpec } from "../spec.js";
import type { ThresholdRule } from "../method/thresholds.js";
import type { PipelineContext } from "./context.js";
import type { CalibrationSummary } from "./aggregate.js";
import type { SweepPlan } from "./plan.js";
import { checkSample, evaluationImages, identifySample, inpaintSample, perturbGroup, scoreGroup, selectNeurons, type SampleRecord } from "./steps.js";

export interface CalibrationResult {
  rules: { act: ThresholdRule; grad: ThresholdRule };
  summary: CalibrationSummary;
}

export async function calibrateConcept(ctx: PipelineContext, plan: SweepPlan, spec: SweepSpec, concept: string, cleanCalibrationKey: string): Promise<CalibrationResult> {
  const auto = spec.thresholds;
  if (auto.mode !== "auto") throw new Error("calibrateConcept: thresholds are not `auto`");
  if (!plan.calibration) throw new Error("auto thresholds need a calibration split; this dataset has none (use `rules` thresholds)");
  const cal = plan.calibration;
  const middle = spec.noise.levels[Math.floor(spec.noise.levels.length / 2)];
  const searchSpec: SweepSpec = { ...spec, methods: ["two-stage"], noise: { ...spec.noise, levels: [middle], draws: auto.draws } };
  const prepared: { record: SampleRecord; identifyKey: string }[] = [];
  for (const sample of cal.samples.filter((s) => s.concept === concept)) {
    const inpaint = await inpaintSample(ctx, plan, spec, sample, cal.instances);
    const { record } = await checkSample(ctx, plan, spec, sample, inpaint);
    if (record.status === "accepted") prepared.push({ record, identifyKey: await identifySample(ctx, plan, record, { panPosition: spec.pan.position }) });
  }
  const images = await evaluationImages(ctx, plan, spec, concept, cleanCalibrationKey, cal.images);
  const grid: CalibrationSummary["grid"] = [];
  for (const actQ of auto.actQuantiles) {
    for (const gradQ of auto.gradQuantiles) {
      const rules = { act: { mode: "quantile", q: actQ } as const, grad: { mode: "quantile", q: gradQ } as const };
      const scores: { suppression: number; retention: number; neurons: number }[] = [];
      for (const p of prepared) {
        const { selection } = await selectNeurons(ctx, searchSpec, p.record, p.identifyKey, rules);
        const group = selection.groups[0];
        if (group.neurons.length > auto.maxNeurons) { scores.push({ suppression: NaN, retention: NaN, neurons: group.neurons.length }); continue; }
        const keys = await perturbGroup(ctx, plan, searchSpec, p.record, group, images, cleanCalibrationKey);
        const { score } = await scoreGroup(ctx, searchSpec, p.record, group, images, keys, cleanCalibrationKey);
        scores.push({ suppression: score.levels[0].suppression, retention: score.levels[0].retention, neurons: group.neurons.length });
      }
      // No accepted calibration sample: the cell has no score (NaN), never a 0 that looks like one.
      const m = (f: (s: (typeof scores)[number]) => number) => (scores.length ? scores.reduce((a, s) => a + f(s), 0) / scores.length : NaN);
      const suppression = m((s) => s.suppression);
      const retention = m((s) => s.retention);
      grid.push({ actQ, gradQ, suppression, retention, score: (suppression + retention) / 2, neurons: m((s) => s.neurons) });
    }
  }
  // Best mean of suppression and retention within the neuron cap; ties go to fewer neurons.
  const valid = grid.filter((g) => Number.isFinite(g.score));
  valid.sort((a, b) => b.score - a.score || a.neurons - b.neurons);
  const best = valid[0] ?? null;
  const fallback = { actQ: auto.actQuantiles[Math.floor(auto.actQuantiles.length / 2)], gradQ: auto.gradQuantiles[Math.floor(auto.gradQuantiles.length / 2)] };
  const pick = best ?? fallback;
  const reason = best ? undefined
    : prepared.length === 0 ? `no calibration sample of ${concept} was accepted: fallback q_act = ${fallback.actQ}, q_grad = ${fallback.gradQ}`
    : `no grid point met the neuron cap (${auto.maxNeurons}): fallback q_act = ${fallback.actQ}, q_grad = ${fallback.gradQ}`;
  return {
    rules: { act: { mode: "quantile", q: pick.actQ }, grad: { mode: "quantile", q: pick.gradQ } },
    summary: { concept, chosen: best ? { actQ: best.actQ, gradQ: best.gradQ, score: best.score, neurons: best.neurons } : null, grid, accepted: prepared.length, ...(reason ? { reason } : {}) },
  };
}
