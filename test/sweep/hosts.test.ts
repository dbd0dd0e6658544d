/**
 * Data and bundles through the store: a sweep's dataset and bundle are pushed to SeaweedFS, the
 * originals are moved away, and a cpu worker and a model worker started in two other working
 * directories, each with its own cache dir, finish the sweep from their fetched, hash-verified
 * copies; its results are byte-identical to the same sweep run by workers reading the originals.
 * Plus the cache itself: a tampered blob is refused, a complete copy is reused.
 */
import { cpSync, existsSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { generateSynthetic } from "../../core/data/synth/generate.js";
import { pushData } from "../../core/pipeline/push.js";
import { buildReport } from "../../report/build.js";
import { parseSpec, type SweepSpec } from "../../core/spec.js";
import { fetchTree, pushTree } from "../../core/store/cache.js";
import { CorruptArtifactError, createStore } from "../../core/store/index.js";
import { connectClient } from "../../infra/connect.js";
import type { Config } from "../../temporal.config.js";
import { spawnWorker } from "../../workers/spawn.js";
import { SweepIdKey } from "../../workflows/search-attributes.js";
import { sweepWorkflow, type SweepWorkflowInput } from "../../workflows/sweep.js";
import { configFor, tempDir, useDevServices } from "../setup/services.js";
import { stepFiles, TEST_BUNDLE, TEST_TIMEOUTS } from "./pool.js";

const dev = useDevServices();

/** One sweep on its own store prefix and queues, by a cpu and a model worker placed as asked. */
async function sweep(name: string, spec: SweepSpec, where: { cwd?: string; cacheDir?: string }[], data?: SweepWorkflowInput["data"]) {
  const base = configFor(dev.services, `${name}/`);
  const config: Config = { ...base, taskQueues: { cpu: `kneuron-cpu-${name}`, gpu: `kneuron-gpu-${name}` } };
  const logs = path.join(dev.stateDir, "workers");
  const workers = (["cpu", "model"] as const).map((kind, k) => spawnWorker(kind, {
    config, cwd: where[k].cwd, logFile: path.join(logs, `${name}-${kind}.log`),
    env: where[k].cacheDir ? { KNEURON_WORKER_CACHE_DIR: where[k].cacheDir! } : {},
  }));
  try {
    await Promise.all(workers.map((w) => w.ready()));
    const client = await connectClient(config);
    try {
      const result = await client.workflow.execute(sweepWorkflow, {
        workflowId: name, taskQueue: config.taskQueues.cpu, typedSearchAttributes: [{ key: SweepIdKey, value: name }],
        args: [{ sweepId: "hosts", spec, taskQueues: config.taskQueues, timeouts: TEST_TIMEOUTS, data }],
      });
      return { result, store: createStore(config.store) };
    } finally {
      await client.connection.close();
    }
  } finally {
    await Promise.all(workers.map((w) => w.stop(10_000)));
  }
}

describe("a sweep across hosts: data and bundle through the store", () => {
  it("workers in two other directories, own caches, no access to the data: results byte-identical to the single-host run", async () => {
    const root = tempDir("kneuron-hosts-");
    const [data, bundle] = [path.join(root, "data"), path.join(root, "bundle")];
    await generateSynthetic({ outDir: data, seed: 1, splits: ["experiment"] });
    cpSync(TEST_BUNDLE, bundle, { recursive: true });
    const spec = parseSpec({
      dataset: { kind: "coco", dir: data, split: "experiment" }, bundle,
      concepts: ["clock"], samplesPerConcept: 1,
      noise: { levels: [4], draws: 1 }, eval: { otherImages: 2, maxNewTokens: 8, bootstrap: { resamples: 100, seed: 0 } },
      causal: { groundTruth: "off" }, // tested in causal-steps.test.ts; the ablations still run here
    });
    const single = await sweep("single", spec, [{}, {}]);
    expect(single.result.failures).toEqual([]);

    // Another host: the data only in the store (another prefix: nothing computed is shared).
    const pushed = await pushData(createStore(configFor(dev.services, "multi/").store), spec);
    expect(pushed.uploaded).toBeGreaterThan(100);
    renameSync(data, `${data}-gone`);
    renameSync(bundle, `${bundle}-gone`);
    const hostA = path.join(root, "host-a"), hostB = path.join(root, "host-b");
    for (const d of [hostA, hostB]) mkdirSync(d);
    const multi = await sweep("multi", spec, [{ cwd: hostA, cacheDir: path.join(hostA, "cache") }, { cwd: hostB, cacheDir: path.join(hostB, "cache") }], pushed);

    expect(multi.result.failures).toEqual([]);
    expect(multi.result.resultsKey).toBe(single.result.resultsKey);
    expect(multi.result.samples).toBe(single.result.samples);
    expect(multi.result.steps.reused).toBe(0); // a fresh store: every step computed on the two "hosts"
    expect(await stepFiles(multi.store, multi.result.resultsKey)).toEqual(await stepFiles(single.store, single.result.resultsKey));
    // Each worker fetched what it reads into its own cache: the model worker the bundle, both the images.
    expect(existsSync(path.join(hostB, "cache", ...pushed.bundle.split("/"), "bundle.json"))).toBe(true);
    expect(existsSync(path.join(hostA, "cache", ...pushed.dataset.split("/"), ".complete"))).toBe(true);
    // The report, built where the data is gone, takes the original images from the pushed dataset.
    const report = await buildReport({ store: multi.store, sweepId: "hosts" });
    expect(multi.result.samples).toBeGreaterThan(0);
    expect(Object.keys(report.images).length).toBe(multi.result.samples);
    expect(Object.values(report.images).every((im) => im.original)).toBe(true);
  }, 900_000);

  it("the cache verifies every file by hash and reuses a complete copy", async () => {
    const store = createStore({ kind: "local", dir: tempDir("kneuron-cache-store-") });
    const src = tempDir("kneuron-cache-src-");
    mkdirSync(path.join(src, "a"));
    writeFileSync(path.join(src, "a", "x.txt"), "first");
    writeFileSync(path.join(src, "y.bin"), "second");
    const { tree } = await pushTree(store, "trees/t1", src, ["a/x.txt", "y.bin"]);
    const cache = tempDir("kneuron-cache-");
    const local = await fetchTree(store, "trees/t1", cache);
    expect(await fetchTree(store, "trees/t1", cache)).toBe(local);
    // A blob changed in the store: a fresh cache refuses it, naming the file.
    await store.put(`blobs/${tree["y.bin"].sha256}`, "tampered");
    await expect(fetchTree(store, "trees/t1", tempDir("kneuron-cache-"))).rejects.toThrow(CorruptArtifactError);
    await expect(pushTree(store, "trees/t2", src, ["../y.bin"])).rejects.toThrow(/stays inside its root/);
  });
});
