/**
 * The cpu worker (task queue `kneuron-cpu`): runs every workflow plus the cpu-side activities
 * (plan, inpainting, neuron selection, BERTScore metrics, aggregation, report).
 * Run it: `npx tsx workers/cpu.ts` (config from temporal.config.ts + KNEURON_* env).
 */
import { fileURLToPath } from "node:url";
import { Worker, bundleWorkflowCode, type NativeConnection, type WorkflowBundleWithSourceMap } from "@temporalio/worker";
import path from "node:path";
import { CPU_ACTIVITIES, createSweepActivities, pick, type SweepActivityDeps } from "../activities/sweep.js";
import { createStore, type ArtifactStore } from "../core/store/index.js";
import { createBertScorer, DEFAULT_MINILM_DIR, type BertScorer } from "../core/eval/metrics/index.js";
import { buildReport } from "../report/build.js";
import { connectWorker } from "../infra/connect.js";
import { loadConfig, PROJECT_ROOT, redactConfig, type Config } from "../temporal.config.js";
import { leashToParent } from "./leash.js";
import { workerCacheDir } from "./runtime.js";

export const WORKFLOWS_PATH = fileURLToPath(new URL("../workflows/index.ts", import.meta.url));

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;
/** The workflow bundle, built once per process (webpack takes a few seconds). */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietBundlerLogger });
  return bundle;
}
const quietBundlerLogger = {
  log() {}, trace() {}, debug() {}, info() {},
  warn: (m: string, meta?: unknown) => console.warn(m, meta ?? ""),
  error: (m: string, meta?: unknown) => console.error(m, meta ?? ""),
};

/** BERTScore's encoder, loaded once per process on first use (scoring runs on this queue). */
let scorer: Promise<BertScorer> | undefined;
export function sharedBertScorer(): Promise<BertScorer> {
  scorer ??= createBertScorer({ dir: path.resolve(PROJECT_ROOT, DEFAULT_MINILM_DIR) }).catch((e) => {
    scorer = undefined;
    throw e;
  });
  return scorer;
}

/** The sweep's last step: the HTML report (report/build.ts) as a store step; returns its key. */
const renderReport: SweepActivityDeps["renderReport"] = async (ctx, { sweepId, planKey, resultsKey }) =>
  (await buildReport({ store: ctx.store, sweepId, planKey, resultsKey })).key;

/** Every cpu-queue activity, bound to one store. Later issues add theirs here. */
export function cpuActivities(store: ArtifactStore, sweep: Partial<SweepActivityDeps> = {}) {
  const all = createSweepActivities({ store, bertScorer: sharedBertScorer, renderReport, ...sweep });
  return pick(all, CPU_ACTIVITIES);
}

export interface CpuWorkerOptions {
  config: Config;
  connection: NativeConnection;
  store: ArtifactStore;
  /** Extra sweep-activity dependencies (the report hook, a step observer). */
  sweep?: Partial<SweepActivityDeps>;
}

export async function createCpuWorker({ config, connection, store, sweep }: CpuWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.taskQueues.cpu,
    workflowBundle: await workflowBundle(),
    activities: cpuActivities(store, sweep),
    maxConcurrentActivityTaskExecutions: config.worker.cpuConcurrency,
    // On SIGTERM: stop polling, give running activities this long, then cancel them (they resume elsewhere).
    shutdownGraceTime: "20 seconds",
    // Progress reaches the server (UI, `sweep watch`, a lost-worker check) within a second.
    maxHeartbeatThrottleInterval: "1 second",
  });
}

async function main(): Promise<void> {
  const config = loadConfig();
  const store = createStore(config.store);
  const connection = await connectWorker(config);
  const cacheDir = workerCacheDir();
  const worker = await createCpuWorker({ config, connection, store, sweep: { cacheDir } });
  leashToParent(worker);
  console.log(`kneuron cpu worker: queue ${config.taskQueues.cpu} on ${config.temporal.address} (${config.temporal.namespace}), store ${store.describe()}${cacheDir ? `, cache ${cacheDir}` : ""}`);
  if (process.env.KNEURON_DEBUG_CONFIG) console.log(JSON.stringify(redactConfig(config), null, 2));
  await worker.run(); // returns after SIGINT/SIGTERM, once in-flight tasks finish
  await connection.close();
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
