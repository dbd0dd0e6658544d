// Orchestration cost: the same small sweep through Temporal (real dev server, one cpu and one
// model worker process, local store) and through the direct runner (one process), each on an
// empty store, measured side by side in this run. Goal: Temporal ≤ 1.15× direct.
// `KNEURON_BENCH_FULL=1` (npm run bench:sweep-full) instead times the full default sweep
// (`kneuron sweep start` defaults: every concept, models/tiny) through Temporal.
// Bundle: KNEURON_BENCH_BUNDLE, else models/tiny.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createBertScorer, DEFAULT_MINILM_DIR } from "../core/eval/metrics/index.js";
import { loadModel } from "../core/model/runtime.js";
import { runDirect } from "../core/pipeline/direct.js";
import { parseSpec, type SweepSpec } from "../core/spec.js";
import { createStore } from "../core/store/index.js";
import { connectClient } from "../infra/connect.js";
import { startDevServices } from "../infra/services.js";
import { loadConfig, PROJECT_ROOT } from "../temporal.config.js";
import { installRuntime } from "../workers/runtime.js";
import { spawnWorker } from "../workers/spawn.js";
import { sweepWorkflow, type SweepWorkflowResult } from "../workflows/sweep.js";
import type { BenchRow } from "./run.js";

const log = (s: string) => process.stderr.write(`[sweep] ${s}\n`);
const BUNDLE = process.env.KNEURON_BENCH_BUNDLE ?? join(PROJECT_ROOT, "models", "tiny");
const FULL = process.env.KNEURON_BENCH_FULL === "1";

/** Big enough that model work dominates as it does in a real sweep, small enough for a bench run. */
const SMALL = { bundle: BUNDLE, concepts: ["clock", "bear", "cake"], samplesPerConcept: 1, noise: { levels: [1, 2, 4], draws: 4 }, eval: { otherImages: 12 } };

export default async function bench(): Promise<BenchRow[]> {
  installRuntime("WARN");
  const spec = parseSpec(FULL ? { bundle: BUNDLE } : SMALL);
  const dir = mkdtempSync(join(tmpdir(), "kneuron-bench-sweep-"));
  const services = await startDevServices({ stateDir: join(dir, "dev") });
  try {
    const config = loadConfig({ temporal: { address: services.temporal.address, namespace: services.temporal.namespace }, store: { kind: "local", dir: join(dir, "store-temporal") } }, {});
    const workers = [
      spawnWorker("cpu", { config, logFile: join(dir, "cpu.log") }),
      spawnWorker("model", { config, args: ["--bundle", BUNDLE], logFile: join(dir, "model.log") }),
    ];
    await Promise.all(workers.map((w) => w.ready()));
    const client = await connectClient(config);
    let temporal: { s: number; r: SweepWorkflowResult };
    try {
      log(`Temporal: ${FULL ? "the full default sweep" : "small sweep"} on ${BUNDLE} ...`);
      const t0 = performance.now();
      const r = await client.workflow.execute(sweepWorkflow, {
        workflowId: "bench-sweep", taskQueue: config.taskQueues.cpu,
        args: [{ sweepId: "bench-sweep", spec, taskQueues: config.taskQueues }],
      });
      temporal = { s: (performance.now() - t0) / 1000, r };
    } finally {
      await client.connection.close();
      await Promise.all(workers.map((w) => w.stop()));
    }
    const accepted = temporal.r.samples - temporal.r.rejected - temporal.r.failures.filter((f) => f.item.startsWith("sample")).length;
    const what = `${spec.concepts.length || "all"} concepts × ${spec.samplesPerConcept}, ${accepted} accepted, ${spec.noise.levels.length} levels × ${spec.noise.draws} draws, ${temporal.r.steps.computed} steps`;
    if (FULL) {
      return [{ name: "full default sweep wall time (Temporal, 1 cpu + 1 model worker)", value: `${(temporal.s / 60).toFixed(1)} min`, goal: "≤ 15 min", met: temporal.s <= 900, detail: what }];
    }
    log("direct runner: the same sweep ...");
    const model = await loadModel(BUNDLE);
    let scorer: ReturnType<typeof createBertScorer> | undefined;
    const t1 = performance.now();
    const direct = await runDirect({
      store: createStore({ kind: "local", dir: join(dir, "store-direct") }),
      model: async () => model,
      bertScorer: () => (scorer ??= createBertScorer({ dir: join(PROJECT_ROOT, DEFAULT_MINILM_DIR) })),
    }, "bench-sweep", spec as SweepSpec);
    const ds = (performance.now() - t1) / 1000;
    await model.close();
    const same = direct.resultsKey === temporal.r.resultsKey;
    return [{
      name: "Temporal sweep / direct run, same sweep",
      value: `${(temporal.s / ds).toFixed(2)}x`,
      goal: "≤ 1.15x",
      met: temporal.s / ds <= 1.15,
      detail: `${temporal.s.toFixed(1)} s vs ${ds.toFixed(1)} s (${what}; same results key: ${same})`,
    }];
  } finally {
    await services.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
