// Choosing the noise levels before any method comparison: a sweep over the held-out calibration
// split on a wide grid (in units of each neuron's std), then a fixed rule on the suppression
// pooled over the methods under test — no method's own result picks a level, and the scored
// images are never looked at.
import { CONTROL_METHODS, parseSpec, type Method, type SweepSpec } from "../spec.js";
import type { PipelineContext } from "./context.js";
import { runDirect } from "./direct.js";
import type { ResultRow, SweepResults } from "./aggregate.js";
import { readJson } from "./context.js";

/** Grid and targets of the default calibration (docs/METHOD.md). */
export const NOISE_GRID = [8, 32, 128, 512, 2048];
/** Pooled suppression the three levels aim at: barely, about half, most target mentions gone. */
export const SUPPRESSION_TARGETS = [0.1, 0.5, 0.8];

export interface NoiseLevelChoice {
  grid: { sigma: number; pooledSuppression: number; pooledRetention: number; perMethod: Record<string, number> }[];
  targets: number[];
  /** One level per target: the smallest grid level whose pooled suppression reaches it. */
  levels: number[];
  /** Targets no grid level reached (their level is the largest of the grid). */
  unreached: number[];
}

/** The rule, on the "average" rows of Table II: pooled = mean over the non-control methods. */
export function chooseNoiseLevels(table2: ResultRow[], grid: number[], targets = SUPPRESSION_TARGETS): NoiseLevelChoice {
  const methods = [...new Set(table2.map((r) => r.method))].filter((m) => !CONTROL_METHODS.includes(m));
  const at = (m: Method, sigma: number) => table2.find((r) => r.method === m && r.concept === "average" && r.sigma === sigma);
  const rows = grid.map((sigma) => {
    const perMethod = Object.fromEntries(methods.map((m) => [m, at(m, sigma)?.suppression ?? NaN]));
    const mean = (f: (r: ResultRow) => number) => methods.reduce((a, m) => a + f(at(m, sigma)!), 0) / methods.length;
    return { sigma, pooledSuppression: mean((r) => r.suppression), pooledRetention: mean((r) => r.retention), perMethod };
  });
  const unreached: number[] = [];
  const levels = targets.map((t) => {
    const hit = rows.find((r) => r.pooledSuppression >= t);
    if (!hit) unreached.push(t);
    return hit ? hit.sigma : grid[grid.length - 1];
  });
  return { grid: rows, targets, levels: [...new Set(levels)].sort((a, b) => a - b), unreached };
}

/** Run the calibration sweep (direct runner, calibration split) and apply the rule. */
export async function calibrateNoiseLevels(ctx: PipelineContext, base: Partial<SweepSpec> & { bundle?: string }, opts: { grid?: number[]; draws?: number; id?: string; log?: (m: string) => void } = {}): Promise<NoiseLevelChoice & { sweepId: string; resultsKey: string }> {
  const grid = opts.grid ?? NOISE_GRID;
  const spec = parseSpec({
    ...base,
    dataset: { ...(base.dataset ?? { kind: "synthetic", seed: 1 }), split: "calibration" },
    methods: ["two-stage", "schwettmann", "pan"],
    samplesPerConcept: 2,
    noise: { unit: "std", levels: grid, draws: opts.draws ?? 2, scope: base.noise?.scope ?? "image" },
  });
  const sweepId = opts.id ?? `noise-calibration-${spec.dataset.kind === "synthetic" ? `seed${spec.dataset.seed}` : "coco"}`;
  const r = await runDirect(ctx, sweepId, spec, opts.log);
  const results = await readJson<SweepResults>(ctx, r.resultsKey, "results.json");
  return { ...chooseNoiseLevels(results.table2, grid), sweepId, resultsKey: r.resultsKey };
}
