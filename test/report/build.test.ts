// buildReport's refusals on a real local store: results from before the evaluation had intervals
// get their own message; anything else not shaped like a sweep result names what is wrong.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStore, writeStep, type ArtifactStore } from "../../core/store/index.js";
import { buildReport, ReportError } from "../../report/build.js";

describe("buildReport refuses results it cannot show", () => {
  let dir: string;
  let store: ArtifactStore;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kn-report-build-"));
    store = createStore({ kind: "local", dir });
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const base = {
    sweepId: "old", concepts: ["bear"], methods: ["two-stage"], levels: [1], table2: [{ method: "two-stage", concept: "bear", sigma: 1, suppression: 0.5, retention: 0.5, score: 0.5, groups: 1 }],
    table3: [], table4: [], calibration: [], layers: {}, samples: [], interpretations: [], examples: [], failures: [],
  };

  it("names results that predate the intervals", async () => {
    await writeStep(store, "sweeps/old/results/a", { "results.json": JSON.stringify(base) });
    const err = await buildReport({ store, resultsKey: "sweeps/old/results/a" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReportError);
    expect((err as Error).message).toBe("report: results sweeps/old/results/a: results.json predates the evaluation with intervals (no differences or evaluation): aggregate the sweep again with this version");
  });

  it("names the missing field of anything else", async () => {
    await writeStep(store, "sweeps/old/results/b", { "results.json": JSON.stringify({ ...base, differences: [] }) });
    await expect(buildReport({ store, resultsKey: "sweeps/old/results/b" })).rejects.toThrow(/results\.json is not a sweep result: .*→ at evaluation/);
  });
});
