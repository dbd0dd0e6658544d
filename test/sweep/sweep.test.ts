/**
 * Sweeps on the real Temporal dev server, real SeaweedFS and real worker processes: a reference
 * sweep (equal, file for file, to the direct runner), then the faults of issue 9 item 7, each
 * compared with the reference: (a) SIGKILL of a model worker mid-perturb, (b) a Temporal restart,
 * (c) S3 down for 30 s, (d) terminate + `sweep resume` (zero recomputation), (e) bad inputs.
 * One small sweep (2 concepts × 1 sample, 3 levels × 3 draws, 6 other images) is reused throughout.
 */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultPayloadConverter } from "@temporalio/common";
import { temporal } from "@temporalio/proto";
import { generateSynthetic } from "../../core/data/synth/generate.js";
import { createStore, isComplete } from "../../core/store/index.js";
import type { SweepWorkflowResult } from "../../workflows/sweep.js";
import { conceptWorkflowId, progressQuery } from "../../workflows/progress.js";
import { PhaseKey } from "../../workflows/search-attributes.js";
import { tempDir, useDevServices } from "../setup/services.js";
import { PROJECT_ROOT } from "../../temporal.config.js";
import { type Pool, smallSpec, snapshot, startPool, stepFiles, until } from "./pool.js";

const dev = useDevServices();
let pool: Pool;
const spec = smallSpec();
const ID = "sweep-t";

/** The undisturbed run every fault run is compared with. */
let ref: { result: SweepWorkflowResult; files: Record<string, string>; keys: string[] };

beforeAll(async () => {
  pool = await startPool(dev, "main", 2);
}, 180_000);
afterAll(async () => {
  await pool?.stop();
});

const EventType = { scheduled: 10, started: 11, failed: 13, timedOut: 14 } as const; // temporal.api.enums.v1.EventType

/** Attempts of every activity of a workflow's history: type → [attempt of each started event]. */
async function activityAttempts(workflowId: string): Promise<{ attempts: Record<string, number[]>; failed: temporal.api.history.v1.IHistoryEvent[] }> {
  const history = await pool.client.workflow.getHandle(workflowId).fetchHistory();
  const type = new Map<string, string>();
  const attempts: Record<string, number[]> = {};
  const failed: temporal.api.history.v1.IHistoryEvent[] = [];
  for (const e of history.events ?? []) {
    if (e.activityTaskScheduledEventAttributes) type.set(String(e.eventId), e.activityTaskScheduledEventAttributes.activityType?.name ?? "");
    if (e.activityTaskStartedEventAttributes) {
      const t = type.get(String(e.activityTaskStartedEventAttributes.scheduledEventId)) ?? "?";
      (attempts[t] ??= []).push(e.activityTaskStartedEventAttributes.attempt ?? 0);
    }
    if (e.activityTaskFailedEventAttributes) failed.push(e);
  }
  return { attempts, failed };
}

/** Waits until a perturbGroup activity has heartbeated progress; returns its worker's pid. */
async function perturbRunning(sweepId: string, concepts: string[]): Promise<number> {
  return until("a perturbGroup activity with progress", async () => {
    for (const c of concepts) {
      const d = await pool.client.workflow.getHandle(conceptWorkflowId(sweepId, c)).describe().catch(() => undefined);
      for (const a of d?.raw.pendingActivities ?? []) {
        const details = a.heartbeatDetails?.payloads?.[0];
        const progress = details ? (defaultPayloadConverter.fromPayload(details) as { done?: number } | undefined) : undefined;
        if (a.activityType?.name === "perturbGroup" && (progress?.done ?? 0) > 0) return Number(a.lastWorkerIdentity?.split("@")[0]);
      }
    }
    return undefined;
  }, 240_000);
}

/** With KNEURON_RECORD_HISTORIES=1: keep a finished sweep's histories for the replay test. */
async function record(sweepId: string, concepts: string[], tag: string): Promise<void> {
  if (process.env.KNEURON_RECORD_HISTORIES !== "1") return;
  const dir = path.join(PROJECT_ROOT, "test", "fixtures", "sweep");
  for (const [type, id] of [["sweepWorkflow", sweepId], ...concepts.map((c) => ["conceptWorkflow", conceptWorkflowId(sweepId, c)])]) {
    // Binary protobuf: the JSON path needs one protobufjs instance, and this install has two.
    const history = await pool.client.workflow.getHandle(id).fetchHistory();
    writeFileSync(path.join(dir, `${type}-${tag}-${id.replace(/\//g, "_")}.history.bin`), temporal.api.history.v1.History.encode(history).finish());
  }
}

async function expectSameAsReference(result: SweepWorkflowResult): Promise<void> {
  expect(result.resultsKey).toBe(ref.result.resultsKey);
  expect(await stepFiles(pool.store, result.resultsKey)).toEqual(ref.files);
}

describe("sweeps on Temporal", () => {
  it("a sweep finishes with progress, search attributes and memo, and its result files equal the direct runner's", async () => {
    await pool.wipe();
    const result = await pool.run(ID, spec);
    expect(result.samples).toBe(2);
    expect(result.failures).toEqual([]);
    expect(result.rejected, `${spec.bundle} must accept a sample of ${spec.concepts} for the perturb faults`).toBeLessThan(2);
    const files = await stepFiles(pool.store, result.resultsKey);
    expect(Object.keys(files)).toEqual(expect.arrayContaining(["results.json", "table2.csv", "table3.csv", "table4.csv", "failures.json"]));
    ref = { result, files, keys: (await snapshot(pool.store)).keys };
    await record(ID, spec.concepts, "ok");

    // Progress: every counted phase done; each concept its own child workflow `<sweepId>/<concept>`.
    const h = pool.client.workflow.getHandle(ID);
    const p = await h.query(progressQuery);
    expect(p.phase).toBe("done");
    for (const [phase, c] of Object.entries(p.phases)) expect(c.done, phase).toBe(c.total);
    expect(p.phases.inpaint.total).toBe(2);
    expect(p.samples).toEqual({ done: 2, total: 2 });
    expect(p.steps.computed).toBeGreaterThan(5);
    const d = await h.describe();
    expect(d.typedSearchAttributes.get(PhaseKey)).toBe("done");
    for (const c of spec.concepts) {
      const child = await pool.client.workflow.getHandle(conceptWorkflowId(ID, c)).describe();
      expect(child.status.name).toBe("COMPLETED");
      expect(child.typedSearchAttributes.get(PhaseKey)).toBe("done");
    }

    // The direct runner (`kneuron run --direct`, one process, another store) writes the same files.
    const dir = tempDir("kneuron-direct-");
    const cfg = path.join(dir, "spec.json");
    writeFileSync(cfg, JSON.stringify(spec));
    const run = await pool.cli(["run", "--direct", "--config", cfg, "--id", ID, "--store", "local"], { KNEURON_STORE: "local", KNEURON_STORE_DIR: dir });
    expect(run.err + run.out).toContain("results:");
    expect(run.code).toBe(0);
    const direct = createStore({ kind: "local", dir });
    expect(await stepFiles(direct, result.resultsKey)).toEqual(ref.files);
  });

  it("(e) bad inputs fail their own item with a clear reason; the rest completes and the results list the failures", async () => {
    // A COCO-layout copy of the experiment split with one sample's image corrupted and one annotation broken.
    const ds = tempDir("kneuron-bad-ds-");
    await generateSynthetic({ outDir: ds, seed: 1, splits: ["experiment"] });
    const instances = path.join(ds, "annotations", "instances_experiment.json");
    const coco = JSON.parse(readFileSync(instances, "utf8")) as { images: { id: number; file_name: string }[]; annotations: { id: number; image_id: number; category_id: number; segmentation: unknown }[]; categories: { id: number; name: string }[] };
    const cat = (name: string) => coco.categories.find((c) => c.name === name)!.id;
    const file = (imageId: number) => path.join(ds, "experiment", coco.images.find((i) => i.id === imageId)!.file_name);
    for (const a of coco.annotations.filter((a) => a.category_id === cat("bus"))) writeFileSync(file(a.image_id), readFileSync(file(a.image_id)).subarray(0, 40));
    for (const a of coco.annotations.filter((a) => a.category_id === cat("clock"))) a.segmentation = [[1, 2, 3, 4, 5]];
    writeFileSync(instances, JSON.stringify(coco));

    const bad = smallSpec({ dataset: { kind: "coco", dir: ds, split: "experiment" }, concepts: ["bus", "clock", "bear", "unicorn"] });
    const result = await pool.run("sweep-bad", bad);
    await record("sweep-bad", ["clock", "bear"], "bad");
    const items = result.failures.map((f) => f.item);
    expect(items).toContain('concept "unicorn"');
    expect(result.failures.find((f) => f.item === 'concept "unicorn"')!.reason).toMatch(/not one of COCO 2017's 80 categories/);
    expect(result.failures.find((f) => f.item.startsWith("sample bus/"))!.reason).toMatch(/not a decodable image|empty|cannot read/);
    const clock = result.failures.find((f) => f.item.startsWith("sample clock/"))!;
    expect(clock.reason).toMatch(/polygon 0 has 5 coordinates/);
    // The broken annotation failed its activity once, non-retryable, naming the sample.
    const { attempts, failed } = await activityAttempts(conceptWorkflowId("sweep-bad", "clock"));
    expect(attempts.inpaintSample).toEqual([1]);
    expect(failed).toHaveLength(1);
    const f = failed[0].activityTaskFailedEventAttributes!.failure!;
    expect(f.applicationFailureInfo?.nonRetryable).toBe(true);
    expect(f.message).toMatch(/^sample clock\//);
    // bear went through; the results file lists every failure.
    const results = JSON.parse((await stepFiles(pool.store, result.resultsKey))["failures.json"]) as { item: string }[];
    expect(results.map((r) => r.item)).toEqual(items);
    expect(result.samples).toBe(2); // clock and bear (bus's image was dropped by the plan)

    // A bad bundle path fails the start (the plan) with a clear, non-retryable error.
    const nope = await pool.cli(["sweep", "start", "--bundle", "/nonexistent/bundle", "--concepts", "bear", "--wait", "--id", "sweep-nobundle"]);
    expect(nope.code).not.toBe(0);
    expect(nope.err).toMatch(/\/nonexistent\/bundle: not a model bundle \(no bundle.json\)/);
    // An invalid spec never starts a workflow.
    const cfg = path.join(ds, "bad-spec.json");
    writeFileSync(cfg, JSON.stringify({ samplesPerConcept: 0, noise: { levels: [] }, methods: ["magic"] }));
    const invalid = await pool.cli(["sweep", "start", "--config", cfg, "--id", "sweep-invalid"]);
    expect(invalid.code).toBe(1);
    expect(invalid.err).toMatch(/invalid sweep spec/);
    expect(invalid.err).toMatch(/samplesPerConcept/);
    expect(invalid.err).toMatch(/noise\.levels/);
    expect(invalid.err).toMatch(/methods\.0/);
    await expect(pool.client.workflow.getHandle("sweep-invalid").describe()).rejects.toThrow(/not found/i);
  });

  it("(a) SIGKILL of a model worker mid-perturb: the other worker resumes it and the results are byte-identical", async () => {
    await pool.wipe();
    await pool.ensureModelWorkers(2);
    await pool.start(ID, spec);
    const pid = await perturbRunning(ID, spec.concepts);
    const victim = pool.models.find((m) => m.pid === pid);
    expect(victim, `perturb runs on pid ${pid}, one of ${pool.models.map((m) => m.pid)}`).toBeDefined();
    await victim!.kill();
    const result = await pool.client.workflow.getHandle(ID).result();
    await expectSameAsReference(result);
    // The killed attempt timed out on its heartbeat and a second attempt finished the group.
    const retried = await Promise.all(spec.concepts.map((c) => activityAttempts(conceptWorkflowId(ID, c))));
    expect(retried.flatMap((r) => r.attempts.perturbGroup ?? []).some((n) => n >= 2)).toBe(true);
    await pool.ensureModelWorkers(2);
  });

  it("(b) a Temporal dev server restart mid-sweep (same SQLite file): the sweep finishes with the same results", async () => {
    await pool.wipe();
    await pool.start(ID, spec);
    await perturbRunning(ID, spec.concepts);
    await dev.temporal.restart();
    const result = await until("the sweep's result after the restart", () => pool.client.workflow.getHandle(ID).result(), 240_000);
    await expectSameAsReference(result);
  });

  it("(c) SeaweedFS down for 30 s mid-sweep: activities retry, the sweep finishes, no artifact missing or duplicated", async () => {
    await pool.wipe();
    await pool.start(ID, spec);
    await perturbRunning(ID, spec.concepts);
    await dev.s3.stop();
    await new Promise((r) => setTimeout(r, 30_000));
    await dev.s3.restart();
    const result = await pool.client.workflow.getHandle(ID).result();
    await expectSameAsReference(result);
    const after = await snapshot(pool.store);
    // Same objects, none extra or missing (the report page shows the results' time, so its key is per run).
    const sameKeys = (keys: string[]) => keys.map((k) => k.replace(/\/report\/[0-9a-f]{20}\//, "/report/<key>/"));
    expect(sameKeys(after.keys)).toEqual(sameKeys(ref.keys));
    for (const m of after.manifests.keys()) expect(await isComplete(pool.store, m.slice(0, -"/manifest.json".length)), m).toBe(true);
  });

  it("(d) terminate, then `kneuron sweep resume`: no committed step is computed again", async () => {
    await pool.wipe();
    await pool.start(ID, spec);
    await until("a committed noise level", async () => ((await pool.store.list("perturb/")).some((k) => k.endsWith("manifest.json")) ? true : undefined), 240_000);
    await pool.client.workflow.getHandle(ID).terminate("test: stop mid-sweep");
    await new Promise((r) => setTimeout(r, 6000)); // orphaned activities see the termination on their next heartbeat
    const before = await snapshot(pool.store);
    expect(before.manifests.size).toBeGreaterThan(3);

    const resumed = await pool.cli(["sweep", "resume", ID, "--wait"]);
    expect(resumed.code, resumed.err).toBe(0);
    expect(resumed.out).toContain("resumed");
    const result = await pool.client.workflow.getHandle(ID).result();
    await expectSameAsReference(result);
    const after = await snapshot(pool.store);
    for (const [k, manifest] of before.manifests) expect(after.manifests.get(k), k).toBe(manifest); // same createdAt: not rewritten
    expect(result.steps.reused).toBeGreaterThanOrEqual(before.manifests.size);
    console.info(`(d) committed before resume: ${before.manifests.size} steps; resume reused ${result.steps.reused}, computed ${result.steps.computed}; rewritten: 0`);
    expect(result.steps.computed).toBeLessThanOrEqual(after.manifests.size - before.manifests.size);
  });

  it("`kneuron sweep cancel` stops a running sweep cleanly: sweep and concept workflows end CANCELLED", async () => {
    await pool.wipe();
    await pool.start("sweep-cancel", spec);
    await perturbRunning("sweep-cancel", spec.concepts);
    const out = await pool.cli(["sweep", "cancel", "sweep-cancel"]);
    expect(out.code, out.err).toBe(0);
    expect(out.out).toMatch(/CANCELLED/);
    for (const c of spec.concepts) {
      const child = await pool.client.workflow.getHandle(conceptWorkflowId("sweep-cancel", c)).describe();
      expect(["CANCELLED", "COMPLETED"]).toContain(child.status.name);
    }
    const d = await pool.client.workflow.getHandle("sweep-cancel").describe();
    expect(d.typedSearchAttributes.get(PhaseKey)).toBe("cancelled");
  });
});
