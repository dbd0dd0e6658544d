/**
 * Four direct runs of one spec into one store at the same time, on a local directory and on real
 * SeaweedFS: every run completes with the same results, nothing a reader needs ever disappears.
 */
import path from "node:path";
import { rm } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runDirect } from "../../core/pipeline/direct.js";
import { type ArtifactStore, createStore, isComplete } from "../../core/store/index.js";
import type { SweepSpec } from "../../core/spec.js";
import { s3StoreConfig, tempDir, useSeaweed } from "../setup/services.js";
import { cocoSubset, runtimeContext, smallSpec } from "./fixtures.js";
import { sentinel } from "./harness.js";

const seaweed = useSeaweed();
const root = tempDir("kneuron-hostile-conc-");
let spec: SweepSpec;
beforeAll(async () => {
  const dir = path.join(root, "dataset");
  await cocoSubset(dir, { samples: 1, others: 1 });
  spec = smallSpec({ kind: "coco", dir, split: "val2017" });
});
afterAll(() => rm(root, { recursive: true, force: true }));

describe.each([
  ["local", () => createStore({ kind: "local", dir: path.join(root, "store") })],
  ["s3", () => createStore(s3StoreConfig(seaweed.s3, "concurrent/"))],
] as [string, () => ArtifactStore][])("%s store", (_kind, make) => {
  it("4 concurrent direct runs of one spec all complete with the same results; the store verifies", async () => {
    const store = make();
    const guard = await sentinel(store);
    const contexts = [0, 1, 2, 3].map(() => runtimeContext(store));
    try {
      const runs = await Promise.all(contexts.map((ctx) => runDirect(ctx, "same-spec", spec)));
      expect(new Set(runs.map((r) => r.resultsKey)).size).toBe(1);
      expect(runs.map((r) => r.failures)).toEqual([[], [], [], []]);
      expect(await isComplete(store, runs[0].resultsKey)).toBe(true);
      expect(await isComplete(store, runs[0].planKey)).toBe(true);
      expect(await guard.stillVerifies()).toBe(true);
    } finally {
      for (const ctx of contexts) await ctx.close();
    }
  });
});
