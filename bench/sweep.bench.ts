// Orchestration cost: the same small sweep through Temporal (real dev server, one cpu and one
// model worker process, local store) and through the direct runner (one process), each on an
// empty store, twice each in the order T D D T, in this run. Goal: Temporal ≤ 1.15× direct.
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

/** One sweep through Temporal: fresh workers (model preloaded, not timed), fresh store. */
async function viaTemporal(services: Awaited<ReturnType<typeof startDevServices>>, dir: string, spec: SweepSpec, round: number): Promise<{ s: number; r: SweepWorkflowResult }> {
  const config = loadConfig({ temporal: { address: services.temporal.address, namespace: services.temporal.namespace }, store: { kind: "local", dir: join(dir, `store-temporal-${round}`) } }, {});
  const workers = [
    spawnWorker("cpu", { config, logFile: join(dir, "cpu.log") }),
    spawnWorker("model", { config, args: ["--bundle", BUNDLE], logFile: join(dir, "model.log") }),
  ];
  await Promise.all(workers.map((w) => w.ready()));
  const client = await connectClient(config);
  try {
    const t0 = performance.now();
    const r = await client.workflow.execute(sweepWorkflow, {
      workflowId: `bench-sweep-${round}`, taskQueue: config.taskQueues.cpu,
      args: [{ sweepId: "bench-sweep", spec, taskQueues: config.taskQueues }],
    });
    return { s: (performance.now() - t0) / 1000, r };
  } finally {
    await client.connection.close();
    await Promise.all(workers.map((w) => w.stop()));
  }
}

/** The same sweep in this process: a freshly loaded model (not timed), fresh store. */
async function direct(dir: string, spec: SweepSpec, round: number): Promise<{ s: number; resultsKey: string }> {
  const model = await loadModel(BUNDLE);
  let scorer: ReturnType<typeof createBertScorer> | undefined;
  const t0 = performance.now();
  const r = await runDirect({
    store: createStore({ kind: "local", dir: join(dir, `store-direct-${round}`) }),
    model: async () => model,
    bertScorer: () => (scorer ??= createBertScorer({ dir: join(PROJECT_ROOT, DEFAULT_MINILM_DIR) })),
  }, "bench-sweep", spec);
  const s = (performance.now() - t0) / 1000;
  await model.close();
  await (await scorer)?.close();
  return { s, resultsKey: r.resultsKey };
}

export default async function bench(): Promise<BenchRow[]> {
  installRuntime("WARN");
  const spec = parseSpec(FULL ? { bundle: BUNDLE } : SMALL);
  const dir = mkdtempSync(join(tmpdir(), "kneuron-bench-sweep-"));
  const services = await startDevServices({ stateDir: join(dir, "dev") });
  try {
    if (FULL) {
      log(`Temporal: the full default sweep on ${BUNDLE} ...`);
      const t = await viaTemporal(services, dir, spec, 0);
      const accepted = t.r.samples - t.r.rejected;
      return [{ name: "full default sweep wall time (Temporal, 1 cpu + 1 model worker)", value: `${(t.s / 60).toFixed(1)} min`, goal: "≤ 15 min", met: t.s <= 900, detail: `${t.r.samples} samples, ${accepted} accepted or failed, ${t.r.steps.computed} steps` }];
    }
    // T D D T: a drift in machine load over the run hits both sides alike.
    const t: number[] = [], d: number[] = [];
    const keys = new Set<string>();
    let last: SweepWorkflowResult | undefined;
    for (const [round, side] of (["temporal", "direct", "direct", "temporal"] as const).entries()) {
      log(`round ${round + 1}/4: ${side} ...`);
      if (side === "temporal") {
        const r = await viaTemporal(services, dir, spec, round);
        t.push(r.s);
        keys.add(r.r.resultsKey);
        last = r.r;
      } else {
        const r = await direct(dir, spec, round);
        d.push(r.s);
        keys.add(r.resultsKey);
      }
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const ratio = mean(t) / mean(d);
    const accepted = last!.samples - last!.rejected;
    return [{
      name: "Temporal sweep / direct run, same sweep",
      value: `${ratio.toFixed(2)}x`,
      goal: "≤ 1.15x",
      met: ratio <= 1.15,
      detail: `Temporal ${t.map((x) => x.toFixed(1)).join(", ")} s vs direct ${d.map((x) => x.toFixed(1)).join(", ")} s (order T D D T; ${spec.concepts.length} concepts × 1, ${accepted} accepted, ` +
        `${spec.noise.levels.length} levels × ${spec.noise.draws} draws, ${last!.steps.computed} steps; one results key for all: ${keys.size === 1})`,
    }];
  } finally {
    await services.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
