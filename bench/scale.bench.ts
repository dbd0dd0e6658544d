// `npm run bench -- scale`: how the workflow histories grow with a sweep's size. A real sweep on
// its own Temporal dev server (free ports, its own state dir), one cpu and one model worker
// process, a local store, over a synthetic dataset generated for it (C concepts × N samples, COCO
// layout) with a fast configuration (1 level × 1 draw, few evaluation images, short captions).
// Concept workflows continue as new every R samples (R < N here, so the chain is exercised).
// Prints each workflow run's events and bytes, events per sample, the projection for
// 80 concepts × 500 samples at the production run size, samples/s and orchestration time.
// Sizes: KNEURON_SCALE_CONCEPTS (≤ 30, default 30), KNEURON_SCALE_SAMPLES (default 4),
// KNEURON_SCALE_RUN (samples per run, default 2). Bundle: KNEURON_BENCH_BUNDLE, else models/tiny
// (trained: most samples pass the check and take every step, as in a real sweep).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client } from "@temporalio/client";
import proto from "@temporalio/proto"; // CommonJS: no named exports under tsx
import { CONCEPTS } from "../core/data/concepts.js";
import { generateSynthetic } from "../core/data/synth/generate.js";
import { parseSpec } from "../core/spec.js";
import { connectClient } from "../infra/connect.js";
import { startDevServices } from "../infra/services.js";
import { loadConfig, PROJECT_ROOT } from "../temporal.config.js";
import { installRuntime } from "../workers/runtime.js";
import { spawnWorker } from "../workers/spawn.js";
import { SAMPLES_PER_RUN } from "../workflows/concept.js";
import { SweepIdKey } from "../workflows/search-attributes.js";
import { sweepWorkflow } from "../workflows/sweep.js";
import type { BenchRow } from "./run.js";

const log = (s: string) => process.stderr.write(`[scale] ${s}\n`);
const int = (name: string, dflt: number) => {
  const v = Number(process.env[name] ?? dflt);
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name}=${process.env[name]}: expected a positive integer`);
  return v;
};
const BUNDLE = process.env.KNEURON_BENCH_BUNDLE ?? join(PROJECT_ROOT, "models", "tiny");
/** Temporal's warning threshold per history (the hard limit is 51,200). */
const WARN_EVENTS = 10_240;
const TARGET = { concepts: 80, samples: 500 };

/** One workflow run's history: events, bytes, workflow-task time (the orchestration's own cost). */
interface RunStats {
  workflowId: string;
  runId: string;
  type: string;
  events: number;
  bytes: number;
  signals: number;
  /** Samples this run took (concept runs: inpaint activities scheduled). */
  samples: number;
  /** Σ (workflow task completed − scheduled): time the workflow code and its queueing took. */
  wftMs: number;
}

const { temporal } = proto;
type Event = proto.temporal.api.history.v1.IHistoryEvent;
const ms = (t?: Event["eventTime"]) => (t ? Number(t.seconds ?? 0) * 1000 + (t.nanos ?? 0) / 1e6 : 0);

async function runStats(client: Client, workflowId: string, runId: string, type: string): Promise<RunStats> {
  const h = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  const events = h.events ?? [];
  const scheduled = new Map<string, number>();
  const activity = new Map<string, string>();
  let wftMs = 0, samples = 0, signals = 0;
  for (const e of events) {
    if (e.workflowTaskScheduledEventAttributes) scheduled.set(String(e.eventId), ms(e.eventTime));
    const done = e.workflowTaskCompletedEventAttributes;
    if (done) wftMs += ms(e.eventTime) - (scheduled.get(String(done.scheduledEventId)) ?? ms(e.eventTime));
    const a = e.activityTaskScheduledEventAttributes;
    if (a) activity.set(String(e.eventId), a.activityType?.name ?? "");
    if (a?.activityType?.name === "inpaintSample") samples++;
    if (e.workflowExecutionSignaledEventAttributes) signals++;
  }
  return { workflowId, runId, type, events: events.length, bytes: temporal.api.history.v1.History.encode(h).finish().length, signals, samples, wftMs };
}

export default async function bench(): Promise<BenchRow[]> {
  installRuntime("WARN");
  const C = Math.min(int("KNEURON_SCALE_CONCEPTS", 30), CONCEPTS.length);
  const N = int("KNEURON_SCALE_SAMPLES", 4);
  const R = int("KNEURON_SCALE_RUN", 2);
  const dir = mkdtempSync(join(tmpdir(), "kneuron-bench-scale-"));
  const data = join(dir, "data");
  log(`synthetic dataset: ${C} concepts × ${N} samples ...`);
  // The first 30 × N experiment images are the samples (30 concepts), a few more are distractors.
  await generateSynthetic({ outDir: data, seed: 7, splits: ["experiment"], samplesPerConcept: N, sizes: { experiment: CONCEPTS.length * N + 8 } });
  const spec = parseSpec({
    dataset: { kind: "coco", dir: data, split: "experiment" },
    bundle: BUNDLE,
    concepts: CONCEPTS.slice(0, C).map((c) => c.name),
    samplesPerConcept: N,
    noise: { levels: [4], draws: 1 },
    eval: { otherImages: 2, maxNewTokens: 8, bootstrap: { resamples: 100, seed: 0 } },
  });
  const services = await startDevServices({ stateDir: join(dir, "dev") });
  const config = loadConfig({ temporal: { address: services.temporal.address, namespace: services.temporal.namespace }, store: { kind: "local", dir: join(dir, "store") } }, {});
  const workers = [
    spawnWorker("cpu", { config, logFile: join(dir, "cpu.log") }),
    spawnWorker("model", { config, args: ["--bundle", BUNDLE], logFile: join(dir, "model.log") }),
  ];
  try {
    await Promise.all(workers.map((w) => w.ready()));
    const client = await connectClient(config);
    const sweepId = "scale";
    log(`sweep: ${spec.concepts.length} concepts × ${N}, ${R} samples per concept run, ${spec.methods.length} methods + ${spec.randomGroups} random groups ...`);
    const t0 = performance.now();
    const r = await client.workflow.execute(sweepWorkflow, {
      workflowId: sweepId, taskQueue: config.taskQueues.cpu,
      args: [{ sweepId, spec, taskQueues: config.taskQueues, samplesPerRun: R }],
      typedSearchAttributes: [{ key: SweepIdKey, value: sweepId }],
    });
    const wall = (performance.now() - t0) / 1000;
    // Every run of every workflow of the sweep (a concept's continue-as-new chain: one per run).
    const runs: RunStats[] = [];
    for await (const w of client.workflow.list({ query: `KneuronSweepId = "${sweepId}"` })) runs.push(await runStats(client, w.workflowId, w.runId, w.type));
    await client.connection.close();
    return report(runs, { C, N, R, wall, samples: r.samples, rejected: r.rejected, failures: r.failures.length });
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await services.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function report(runs: RunStats[], m: { C: number; N: number; R: number; wall: number; samples: number; rejected: number; failures: number }): BenchRow[] {
  const sweep = runs.find((r) => r.type === "sweepWorkflow");
  const concepts = runs.filter((r) => r.type === "conceptWorkflow");
  if (!sweep || concepts.length === 0) throw new Error(`expected the sweep and its concept runs in visibility, found ${runs.map((r) => r.type).join(", ") || "none"}`);
  const max = concepts.reduce((a, b) => (b.events > a.events ? b : a));
  const sampled = concepts.filter((r) => r.samples > 0);
  const perSample = sampled.reduce((s, r) => s + r.events, 0) / sampled.reduce((s, r) => s + r.samples, 0);
  // Upper bound for a run at the production size: the costliest run's events per sample (its fixed
  // part included; accepted samples take every step, rejected ones stop after the check) × run size.
  const worst = Math.max(...sampled.map((r) => r.events / r.samples));
  const runAtTarget = Math.round(SAMPLES_PER_RUN * worst);
  // The sweep: a constant part plus a part per concept (its child's start, completion, workflow tasks).
  const sweepPerConcept = sweep.events / m.C;
  const sweepAtTarget = Math.round(sweep.events * (TARGET.concepts / m.C));
  const wftMs = runs.reduce((s, r) => s + r.wftMs, 0);
  const events = runs.reduce((s, r) => s + r.events, 0);
  const ok = Math.max(runAtTarget, sweepAtTarget) <= WARN_EVENTS;
  const kb = (b: number) => `${(b / 1024).toFixed(0)} KB`;
  return [
    { name: "sweep workflow history", value: `${sweep.events} events, ${kb(sweep.bytes)}`, detail: `${m.C} concepts × ${m.N} samples (${m.samples} planned, ${m.rejected} rejected, ${m.failures} failures); ${sweep.signals} signals; ${(sweep.events / m.samples).toFixed(2)} events per sample, ${sweepPerConcept.toFixed(1)} per concept` },
    { name: "concept workflow runs", value: `${concepts.length} runs, largest ${max.events} events / ${kb(max.bytes)}`, detail: `${m.R} samples per run; ${perSample.toFixed(1)} events per sample on average, ≤ ${worst.toFixed(0)} in the costliest run; ${concepts.reduce((s, r) => s + r.signals, 0)} signals` },
    { name: `projection ${TARGET.concepts} concepts × ${TARGET.samples} samples`, value: `sweep ${sweepAtTarget}, concept run ${runAtTarget} events`, goal: `every history ≤ ${WARN_EVENTS}`, met: ok, detail: `concept runs of ${SAMPLES_PER_RUN} samples (${Math.ceil(TARGET.samples / SAMPLES_PER_RUN)} runs per concept) at the costliest run's events per sample; sweep scaled by concepts (its constant part too: an upper bound)` },
    { name: "throughput", value: `${(m.samples / m.wall).toFixed(2)} samples/s`, detail: `${m.samples} samples in ${m.wall.toFixed(0)} s (1 cpu + 1 model worker)` },
    { name: "orchestration time per sample", value: `${(wftMs / m.samples).toFixed(0)} ms`, detail: `Σ workflow-task time (scheduled → completed, concurrent workflows summed, queueing for a busy worker included) over ${runs.length} runs, ${events} events: ${(wftMs / 1000).toFixed(1)} s; wall ${m.wall.toFixed(0)} s` },
  ];
}
