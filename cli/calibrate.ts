/**
 * `kneuron calibrate-noise`: choose the noise levels on the held-out calibration split, before any
 * method comparison (docs/METHOD.md). Prints the grid, the pooled suppression and the levels the
 * rule picks; a sweep spec then uses them as `noise.levels`.
 */
import { type Command, Option } from "commander";
import { createStore } from "../core/store/index.js";
import { loadModel, type ModelRuntime } from "../core/model/runtime.js";
import { calibrateNoiseLevels, NOISE_GRID } from "../core/pipeline/noise-levels.js";
import { loadConfig } from "../temporal.config.js";
import { sharedBertScorer } from "../workers/cpu.js";
import { modelLoadOptions } from "../workers/model.js";

export function registerCalibrate(program: Command): void {
  program.command("calibrate-noise")
    .description("choose noise levels (× each neuron's std) on the synthetic calibration split: the smallest grid levels where the suppression pooled over the methods reaches 10 / 50 / 80 %")
    .option("--bundle <dir>", "model bundle", "models/tiny")
    .option("--seed <n>", "synthetic dataset seed", (v) => Number(v), 1)
    .option("--grid <a,b,...>", "levels to try, in units of each neuron's std", (v) => v.split(",").map(Number), NOISE_GRID)
    .option("--draws <n>", "noise draws per level", (v) => Number(v), 2)
    .addOption(new Option("--store <kind>", "artifact store (default: the configured one)").choices(["local", "s3"]))
    .action(async (o: { bundle: string; seed: number; grid: number[]; draws: number; store?: "local" | "s3" }) => {
      if (o.grid.some((x) => !(x > 0))) throw new Error(`--grid: every level must be a positive number, got ${o.grid.join(",")}`);
      const base = loadConfig();
      const config = o.store && o.store !== base.store.kind ? loadConfig({ store: { kind: o.store } }) : base;
      let model: Promise<ModelRuntime> | undefined;
      const t0 = Date.now();
      const r = await calibrateNoiseLevels(
        { store: createStore(config.store), model: () => (model ??= loadModel(o.bundle, modelLoadOptions(config))), bertScorer: sharedBertScorer },
        { bundle: o.bundle, dataset: { kind: "synthetic", seed: o.seed, split: "calibration" } },
        { grid: o.grid, draws: o.draws, log: (m) => console.log(`  ${m}`) },
      );
      await (await model)?.close();
      console.log(`calibration sweep ${r.sweepId} in ${((Date.now() - t0) / 1000).toFixed(0)} s (results ${r.resultsKey})`);
      const methods = Object.keys(r.grid[0]?.perMethod ?? {});
      console.log(`\n σ (× std) | pooled S | pooled R | ${methods.map((m) => `S ${m}`).join(" | ")}`);
      for (const g of r.grid) console.log(` ${String(g.sigma).padStart(9)} | ${g.pooledSuppression.toFixed(3).padStart(8)} | ${g.pooledRetention.toFixed(3).padStart(8)} | ${methods.map((m) => g.perMethod[m].toFixed(3)).join(" | ")}`);
      console.log(`\nlevels for suppression targets ${r.targets.join(" / ")}: ${JSON.stringify(r.levels)}${r.unreached.length ? ` (not reached: ${r.unreached.join(", ")}; the grid's largest level stands in)` : ""}`);
    });
}
