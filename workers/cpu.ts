/**
 * The cpu worker (task queue `kneuron-cpu`): runs every workflow plus the cpu-side activities
 * (images, metrics, aggregation, report; for now the round trip).
 * Run it: `npx tsx workers/cpu.ts` (config from temporal.config.ts + KNEURON_* env).
 */
import { fileURLToPath } from "node:url";
import { Worker, bundleWorkflowCode, type NativeConnection, type WorkflowBundleWithSourceMap } from "@temporalio/worker";
import { createRoundTripActivities } from "../activities/roundtrip.js";
import { createStore, type ArtifactStore } from "../core/store/index.js";
import { connectWorker } from "../infra/connect.js";
import { loadConfig, redactConfig, type Config } from "../temporal.config.js";

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

/** Every cpu-queue activity, bound to one store. Later issues add theirs here. */
export function cpuActivities(store: ArtifactStore) {
  return { ...createRoundTripActivities(store) };
}

export interface CpuWorkerOptions {
  config: Config;
  connection: NativeConnection;
  store: ArtifactStore;
}

export async function createCpuWorker({ config, connection, store }: CpuWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.taskQueues.cpu,
    workflowBundle: await workflowBundle(),
    activities: cpuActivities(store),
    maxConcurrentActivityTaskExecutions: config.worker.cpuConcurrency,
  });
}

async function main(): Promise<void> {
  const config = loadConfig();
  const store = createStore(config.store);
  const connection = await connectWorker(config);
  const worker = await createCpuWorker({ config, connection, store });
  console.log(`kneuron cpu worker: queue ${config.taskQueues.cpu} on ${config.temporal.address} (${config.temporal.namespace}), store ${store.describe()}`);
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
