/**
 * The model worker (task queue `kneuron-gpu`): serves the model activities (clean captions, sample
 * checks, gradients, interpretation, the noise runs, auto calibration) with one model session per
 * process, `worker.gpuConcurrency` (default 1) activities at a time per device. Run one per device:
 *   npx tsx workers/model.ts [--bundle DIR]     (config from temporal.config.ts + KNEURON_* env)
 * Several model workers may serve one queue; SIGINT/SIGTERM stop polling, let the running
 * activity finish (or cancel it after the grace time: a retry resumes at its first unfinished level).
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Worker, type NativeConnection } from "@temporalio/worker";
import { createSweepActivities, MODEL_ACTIVITIES, pick, type SweepActivityDeps } from "../activities/sweep.js";
import { createStore, type ArtifactStore } from "../core/store/index.js";
import { loadModel, type LoadModelOptions, type ModelRuntime } from "../core/model/runtime.js";
import { connectWorker } from "../infra/connect.js";
import { loadConfig, PROJECT_ROOT, type Config } from "../temporal.config.js";
import { leashToParent } from "./leash.js";
import { installRuntime, workerCacheDir } from "./runtime.js";

/**
 * The process's one model. A sweep names its bundle; the slot loads it on first use and keeps it.
 * A different bundle replaces it (the old session is closed first), so memory holds one model.
 */
export class ModelSlot {
  private current?: { dir: string; model: Promise<ModelRuntime> };
  constructor(private readonly options: LoadModelOptions = {}) {}

  async get(bundleDir: string): Promise<ModelRuntime> {
    const dir = path.resolve(bundleDir);
    if (this.current?.dir !== dir) {
      const old = this.current;
      this.current = undefined;
      if (old) await (await old.model.catch(() => undefined))?.close();
      this.current = { dir, model: loadModel(dir, this.options) };
    }
    const slot = this.current;
    try {
      return await slot.model;
    } catch (e) {
      if (this.current === slot) this.current = undefined; // a bad bundle is not cached
      throw e;
    }
  }

  get loaded(): string | undefined {
    return this.current?.dir;
  }

  async close(): Promise<void> {
    const old = this.current;
    this.current = undefined;
    if (old) await (await old.model.catch(() => undefined))?.close();
  }
}

export function modelActivities(store: ArtifactStore, slot: ModelSlot, sweep: Partial<SweepActivityDeps> = {}) {
  const all = createSweepActivities({ store, model: (dir) => slot.get(dir), ...sweep });
  return pick(all, MODEL_ACTIVITIES);
}

export interface ModelWorkerOptions {
  config: Config;
  connection: NativeConnection;
  store: ArtifactStore;
  slot: ModelSlot;
  sweep?: Partial<SweepActivityDeps>;
}

export async function createModelWorker({ config, connection, store, slot, sweep }: ModelWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.taskQueues.gpu,
    activities: modelActivities(store, slot, sweep),
    // One model session per device: the activities never share it concurrently.
    maxConcurrentActivityTaskExecutions: config.worker.gpuConcurrency,
    shutdownGraceTime: "20 seconds",
    // Progress reaches the server (UI, `sweep watch`, a lost-worker check) within a second.
    maxHeartbeatThrottleInterval: "1 second",
  });
}

export function modelLoadOptions(config: Config): LoadModelOptions {
  return { executionProviders: config.worker.executionProvider === "cuda" ? ["cuda", "cpu"] : ["cpu"] };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { bundle: { type: "string" } } });
  installRuntime("WARN");
  const config = loadConfig();
  const store = createStore(config.store);
  const slot = new ModelSlot(modelLoadOptions(config));
  // Load the bundle before taking work, so the first activity does not pay for it (and a bad one fails now).
  if (values.bundle) await slot.get(path.resolve(PROJECT_ROOT, values.bundle));
  const connection = await connectWorker(config);
  const cacheDir = workerCacheDir();
  const worker = await createModelWorker({ config, connection, store, slot, sweep: { cacheDir } });
  leashToParent(worker);
  console.log(`kneuron model worker: queue ${config.taskQueues.gpu} on ${config.temporal.address} (${config.temporal.namespace}), ` +
    `store ${store.describe()}, ${config.worker.executionProvider}, concurrency ${config.worker.gpuConcurrency}${slot.loaded ? `, model ${slot.loaded}` : ""}${cacheDir ? `, cache ${cacheDir}` : ""}`);
  await worker.run(); // returns after SIGINT/SIGTERM, once the running activity finished or was cancelled
  await slot.close();
  await connection.close();
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
