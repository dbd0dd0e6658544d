/**
 * A real worker pool for sweep tests: one cpu worker and N model workers as separate processes
 * (so a test can SIGKILL one), on this file's Temporal + SeaweedFS, with a store prefix and task
 * queues of their own. Plus helpers to run the CLI against the same settings.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import type { Client } from "@temporalio/client";
import { type ArtifactStore, createStore, readStep } from "../../core/store/index.js";
import { parseSpec, type SweepSpec } from "../../core/spec.js";
import { connectClient } from "../../infra/connect.js";
import { PROJECT_ROOT, type Config } from "../../temporal.config.js";
import { configEnv, spawnWorker, type WorkerProcess } from "../../workers/spawn.js";
import { sweepWorkflow, type SweepWorkflowResult } from "../../workflows/sweep.js";
import type { SweepTimeouts } from "../../workflows/options.js";
import { SweepIdKey } from "../../workflows/search-attributes.js";
import { configFor, type DevServicesRef } from "../setup/services.js";

/** The trained default model when present (samples pass the paper's constraints), else the random fixture. */
export const TEST_BUNDLE = process.env.KNEURON_TEST_BUNDLE
  ?? (existsSync(path.join(PROJECT_ROOT, "models", "tiny", "bundle.json")) ? path.join(PROJECT_ROOT, "models", "tiny") : path.join(PROJECT_ROOT, "test", "fixtures", "model", "tiny-random"));

/** A small sweep: few concepts, one sample each, few draws and images, so the suite stays fast. */
export function smallSpec(over: Record<string, unknown> = {}): SweepSpec {
  return parseSpec({
    bundle: TEST_BUNDLE,
    concepts: ["clock", "bear"],
    samplesPerConcept: 1,
    noise: { levels: [1, 2, 4], draws: 3 },
    // The control runs like every method; two groups keep the sweep small.
    randomGroups: 2,
    eval: { otherImages: 6, maxNewTokens: 12 },
    // Ablations run (they are part of every sweep); the exhaustive ground truth (L·D rows per
    // sample) is tested in test/pipeline/causal-steps.test.ts, not in every orchestration test.
    causal: { groundTruth: "off" },
    ...over,
  });
}

/** Short timeouts: a lost worker is noticed within seconds. */
export const TEST_TIMEOUTS: SweepTimeouts = { heartbeat: "4 seconds", short: "2 minutes", long: "5 minutes" };

export interface Pool {
  name: string;
  config: Config;
  store: ArtifactStore;
  client: Client;
  cpu: WorkerProcess;
  models: WorkerProcess[];
  /** Starts model workers until `n` run. */
  ensureModelWorkers(n: number): Promise<void>;
  start(sweepId: string, spec: SweepSpec): Promise<void>;
  run(sweepId: string, spec: SweepSpec): Promise<SweepWorkflowResult>;
  /** Deletes every object under this pool's prefix. */
  wipe(): Promise<void>;
  /** Runs `kneuron <args>` with this pool's settings (plus `env`). */
  cli(args: string[], env?: Record<string, string>): Promise<{ code: number; out: string; err: string }>;
  stop(): Promise<void>;
}

export async function startPool(dev: DevServicesRef, name: string, modelWorkers = 1): Promise<Pool> {
  const base = configFor(dev.services, `${name}/`);
  const config: Config = { ...base, taskQueues: { cpu: `kneuron-cpu-${name}`, gpu: `kneuron-gpu-${name}` } };
  const store = createStore(config.store);
  const logDir = path.join(dev.stateDir, "workers");
  let n = 0;
  const spawnModel = () => spawnWorker("model", { config, args: ["--bundle", TEST_BUNDLE], logFile: path.join(logDir, `${name}-model-${++n}.log`) });
  const cpu = spawnWorker("cpu", { config, logFile: path.join(logDir, `${name}-cpu.log`) });
  const models: WorkerProcess[] = [];
  for (let i = 0; i < modelWorkers; i++) models.push(spawnModel());
  await Promise.all([cpu.ready(), ...models.map((m) => m.ready())]);
  const client = await connectClient(config);
  const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("KNEURON_"))), ...configEnv(config) };

  const pool: Pool = {
    name, config, store, client, cpu, models,
    async ensureModelWorkers(want) {
      for (let i = models.length - 1; i >= 0; i--) if (models[i].exited) models.splice(i, 1);
      const fresh: WorkerProcess[] = [];
      while (models.length + fresh.length < want) fresh.push(spawnModel());
      await Promise.all(fresh.map((m) => m.ready()));
      models.push(...fresh);
    },
    async start(sweepId, spec) {
      await client.workflow.start(sweepWorkflow, {
        workflowId: sweepId,
        taskQueue: config.taskQueues.cpu,
        args: [{ sweepId, spec, taskQueues: config.taskQueues, timeouts: TEST_TIMEOUTS }],
        typedSearchAttributes: [{ key: SweepIdKey, value: sweepId }],
      });
    },
    async run(sweepId, spec) {
      await pool.start(sweepId, spec);
      return client.workflow.getHandle(sweepId).result();
    },
    async wipe() {
      const keys = await store.list("");
      for (let i = 0; i < keys.length; i += 32) await Promise.all(keys.slice(i, i + 32).map((k) => store.delete(k)));
    },
    async cli(args, extra = {}) {
      try {
        const { stdout, stderr } = await promisify(execFile)(process.execPath, [path.join(PROJECT_ROOT, "cli", "bin.mjs"), ...args], { env: { ...env, ...extra }, cwd: PROJECT_ROOT, maxBuffer: 16 << 20 });
        return { code: 0, out: stdout, err: stderr };
      } catch (e) {
        const x = e as { code: number; stdout: string; stderr: string };
        return { code: x.code, out: x.stdout, err: x.stderr };
      }
    },
    async stop() {
      await client.connection.close();
      await Promise.all([cpu, ...models].map((w) => w.stop(10_000)));
    },
  };
  return pool;
}

/** Every file of a finished step, by name. */
export async function stepFiles(store: ArtifactStore, key: string): Promise<Record<string, string>> {
  const step = await readStep(store, key);
  const out: Record<string, string> = {};
  for (const name of Object.keys(step.manifest.files).sort()) out[name] = await step.readText(name);
  return out;
}

/** Every object key under the store, with the manifests' bytes (a recomputed step has a new createdAt). */
export async function snapshot(store: ArtifactStore): Promise<{ keys: string[]; manifests: Map<string, string> }> {
  const keys = await store.list("");
  const manifests = new Map<string, string>();
  for (const k of keys.filter((k) => k.endsWith("/manifest.json"))) manifests.set(k, new TextDecoder().decode(await store.get(k)));
  return { keys, manifests };
}

/** Polls `check` every 100 ms until it returns a value (not undefined). */
export async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
