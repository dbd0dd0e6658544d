/**
 * The workflows' branches, fast: the real sweep and concept workflow code on a local Temporal
 * (TestWorkflowEnvironment.createLocal on the pinned CLI binary, .tools/venv) with test workers
 * whose activities are stubs that answer at once. What is checked is the orchestration only —
 * a rejected sample stops after its check, a failed sample or concept is recorded and the rest
 * goes on, a transient error is retried, a cancel ends sweep and concepts CANCELLED, and the
 * `progress` query reports what is running. The steps themselves run for real in sweep.test.ts.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { temporal } from "@temporalio/proto";
import { PROJECT_ROOT } from "../../temporal.config.js";
import { Context } from "@temporalio/activity";
import { WorkflowFailedError } from "@temporalio/client";
import { ApplicationFailure, CancelledFailure } from "@temporalio/common";
import { TestWorkflowEnvironment } from "@temporalio/testing";
import { Worker } from "@temporalio/worker";
import type { SweepSpec } from "../../core/spec.js";
import { binPath } from "../../infra/process.js";
import { workflowBundle } from "../../workers/cpu.js";
import { installRuntime } from "../../workers/runtime.js";
import type { SweepTimeouts } from "../../workflows/options.js";
import { conceptProgressQuery, conceptWorkflowId, progressQuery, type SweepProgress } from "../../workflows/progress.js";
import { ConceptKey, PhaseKey, SweepIdKey } from "../../workflows/search-attributes.js";
import { sweepWorkflow, type SweepWorkflowResult } from "../../workflows/sweep.js";
import { sweepProgress } from "../../workflows/watch.js";

const queues = { cpu: "test-cpu", gpu: "test-gpu" };
const timeouts: SweepTimeouts = { heartbeat: "3 seconds", short: "30 seconds", long: "30 seconds" };
// The workflows read only the threshold mode and the methods; the stubs ignore the rest.
const spec = (mode: "rules" | "auto") => ({ thresholds: { mode }, methods: ["two-stage", "pan"] }) as unknown as SweepSpec;
const SAMPLES = [{ id: "bear/1", concept: "bear" }, { id: "bear/2", concept: "bear" }, { id: "clock/1", concept: "clock" }];
const ok = { computed: 1, reused: 0 };

/** What the activities would throw for bad input (activities/sweep.ts asFailure): non-retryable, reason in details[0]. */
const badInput = (item: string, reason: string) =>
  ApplicationFailure.create({ message: `${item}: ${reason}`, type: "DataError", nonRetryable: true, details: [{ item, reason }] });

interface Script {
  /** Samples the paper's constraints reject. */
  reject?: string[];
  /** Samples whose check fails as bad input, with the reason. */
  badCheck?: Record<string, string>;
  /** Concepts whose calibration fails as bad input. */
  badCalibration?: Record<string, string>;
  /** Samples whose inpainting fails once with a transient error. */
  flakyInpaint?: string[];
  /** perturbGroup heartbeats until cancelled (and says when it started). */
  blockPerturb?: () => void;
}

/** Stub activities by queue, and every call they received in order. */
function stubs(script: Script) {
  const calls: { name: string; input: Record<string, unknown> }[] = [];
  const saved = new Map<string, unknown[]>();
  const flaky = new Set(script.flakyInpaint);
  const log = (name: string, input: unknown) => calls.push({ name, input: input as Record<string, unknown> });
  const cpu = {
    async planSweep(input: unknown) {
      log("planSweep", input);
      const auto = (input as { spec: SweepSpec }).spec.thresholds.mode === "auto";
      return { planKey: "plan/p", concepts: ["bear", "clock"], samples: SAMPLES, evalImages: 6, calibration: auto, failures: [{ item: "concept zebra", reason: "not in the dataset" }], steps: ok };
    },
    async inpaintSample(input: { sampleId: string }) {
      log("inpaintSample", input);
      if (flaky.delete(input.sampleId)) throw new Error(`${input.sampleId}: store unreachable (transient)`);
      return { key: `inpaint/${input.sampleId}`, overlap: { ok: true, reasons: [], details: [] }, steps: ok };
    },
    async selectNeurons(input: { sampleId: string }) {
      log("selectNeurons", input);
      return { selectionKey: `select/${input.sampleId}`, groups: ["two-stage", "pan"].map((m) => ({ method: m, name: m, neurons: 3 })), steps: ok };
    },
    async scoreGroup(input: { sampleId: string; group?: string; method?: string }) {
      log("scoreGroup", input);
      return { scoreKey: `score/${input.sampleId}/${input.group ?? input.method}`, steps: ok };
    },
    async saveOutcomes(input: { outcomes: unknown[] }) {
      log("saveOutcomes", input);
      const key = `outcomes/${saved.size}`;
      saved.set(key, input.outcomes);
      return { outcomesKey: key, steps: ok };
    },
    async aggregateSweep(input: { outcomes: ({ stored: string } | object)[] }) {
      // As activities/sweep.ts does: stored lists expanded in place.
      log("aggregateSweep", { ...input, outcomes: input.outcomes.flatMap((o) => ("stored" in o ? saved.get(o.stored)! : [o])) });
      return { resultsKey: "results/r", steps: ok };
    },
    async reportSweep(input: unknown) {
      log("reportSweep", input);
      return { reportKey: "report/r", steps: ok };
    },
    async localiseSample(input: { sampleId: string }) {
      log("localiseSample", input);
      return { localiseKey: `localise/${input.sampleId}`, steps: ok };
    },
  };
  const gpu = {
    async ablateSample(input: { sampleId: string }) {
      log("ablateSample", input);
      return { ablateKey: `ablate/${input.sampleId}`, steps: ok };
    },
    async captionImages(input: { set: string }) {
      log("captionImages", input);
      return { cleanKey: `clean/${input.set}`, steps: ok };
    },
    async calibrateConcept(input: { concept: string }) {
      log("calibrateConcept", input);
      const bad = script.badCalibration?.[input.concept];
      if (bad) throw badInput(`concept ${input.concept}`, bad);
      return { rules: { act: { mode: "count", n: 4 }, grad: { mode: "count", n: 2 } }, summary: { concept: input.concept }, steps: ok };
    },
    async checkSample(input: { sampleId: string }) {
      log("checkSample", input);
      const bad = script.badCheck?.[input.sampleId];
      if (bad) throw badInput(`sample ${input.sampleId}`, bad);
      const rejected = script.reject?.includes(input.sampleId);
      return { sampleKey: `sample/${input.sampleId}`, status: rejected ? "rejected" : "accepted", reasons: rejected ? ["target token absent"] : [], steps: ok };
    },
    async identifySample(input: { sampleId: string }) {
      log("identifySample", input);
      return { identifyKey: `identify/${input.sampleId}`, steps: ok };
    },
    async interpretSample(input: { sampleId: string }) {
      log("interpretSample", input);
      return { interpretKey: `interpret/${input.sampleId}`, steps: ok };
    },
    async perturbGroup(input: { sampleId: string; group?: string; method?: string }) {
      log("perturbGroup", input);
      if (script.blockPerturb) {
        script.blockPerturb();
        const ctx = Context.current();
        for (;;) {
          ctx.heartbeat();
          await ctx.sleep(200); // throws CancelledFailure once the cancel reaches this activity
        }
      }
      return { perturbKeys: [`perturb/${input.sampleId}/${input.group ?? input.method}/0`], steps: ok };
    },
  };
  return { cpu, gpu, calls };
}

let env: TestWorkflowEnvironment;

beforeAll(async () => {
  installRuntime("WARN");
  env = await TestWorkflowEnvironment.createLocal({
    server: { executable: { type: "existing-path", path: binPath("temporal") }, searchAttributes: [SweepIdKey, ConceptKey, PhaseKey] },
  });
});

afterAll(async () => {
  await env?.teardown();
});

/** Runs `body` while a cpu worker (the real workflow bundle + cpu stubs) and a gpu worker (model stubs) serve the queues. */
async function withWorkers<T>(script: Script, body: (calls: ReturnType<typeof stubs>["calls"]) => Promise<T>): Promise<T> {
  const s = stubs(script);
  const cpu = await Worker.create({ connection: env.nativeConnection, taskQueue: queues.cpu, workflowBundle: await workflowBundle(), activities: s.cpu });
  const gpu = await Worker.create({ connection: env.nativeConnection, taskQueue: queues.gpu, activities: s.gpu, maxHeartbeatThrottleInterval: "200 milliseconds" });
  return cpu.runUntil(gpu.runUntil(body(s.calls)));
}

const start = (sweepId: string, mode: "rules" | "auto" = "rules", samplesPerRun?: number) =>
  env.client.workflow.start(sweepWorkflow, { workflowId: sweepId, taskQueue: queues.cpu, args: [{ sweepId, spec: spec(mode), taskQueues: queues, timeouts, samplesPerRun }] });

/**
 * With KNEURON_RECORD_HISTORIES=1: keep histories (by run) for the replay test. Stub activities,
 * but the workflows' own code and commands: what determinism is about.
 */
async function record(tag: string, runs: [type: string, workflowId: string, runId: string | undefined][]): Promise<void> {
  if (process.env.KNEURON_RECORD_HISTORIES !== "1") return;
  for (const [k, [type, id, runId]] of runs.entries()) {
    const history = await env.client.workflow.getHandle(id, runId).fetchHistory();
    const file = `${type}-bounded-${tag}-${k}-${id.replace(/\//g, "_")}.history.bin`;
    writeFileSync(path.join(PROJECT_ROOT, "test", "fixtures", "sweep", file), temporal.api.history.v1.History.encode(history).finish());
  }
}

const phaseOf = async (workflowId: string) => (await env.client.workflow.getHandle(workflowId).describe()).typedSearchAttributes.get(PhaseKey);

describe("sweep and concept workflows on a local Temporal, stub activities", () => {
  it("with causal tests on, each accepted sample is localised and ablated after its groups, and the keys reach aggregation", async () => {
    const { result, calls } = await withWorkers({ reject: ["bear/2"] }, async (calls) => {
      const h = await env.client.workflow.start(sweepWorkflow, { workflowId: "wf-causal", taskQueue: queues.cpu, args: [{ sweepId: "wf-causal", spec: { ...spec("rules"), causal: { enabled: true } } as unknown as SweepSpec, taskQueues: queues, timeouts }] });
      return { result: (await h.result()) as SweepWorkflowResult, calls };
    });
    expect(result.rejected).toBe(1);
    const named = (name: string) => calls.filter((c) => c.name === name).map((c) => c.input.sampleId);
    expect(named("localiseSample").sort()).toEqual(["bear/1", "clock/1"]);
    expect(named("ablateSample").sort()).toEqual(["bear/1", "clock/1"]);
    const agg = calls.find((c) => c.name === "aggregateSweep")!.input as { outcomes: { sampleKey: string; ablateKey?: string; localiseKey?: string }[] };
    expect(agg.outcomes.map((o) => [o.ablateKey, o.localiseKey])).toEqual([["ablate/bear/1", "localise/bear/1"], [undefined, undefined], ["ablate/clock/1", "localise/clock/1"]]);
  });

  it("a rejected sample stops after its check; a transient error is retried; outcomes reach aggregation in plan order", async () => {
    const { result, calls } = await withWorkers({ reject: ["bear/2"], flakyInpaint: ["clock/1"] }, async (calls) => {
      const h = await start("wf-rejected");
      return { result: (await h.result()) as SweepWorkflowResult, calls };
    });
    expect(result.rejected).toBe(1);
    expect(result.failures).toEqual([{ item: "concept zebra", reason: "not in the dataset" }]);
    expect([result.resultsKey, result.reportKey]).toEqual(["results/r", "report/r"]);
    const named = (name: string) => calls.filter((c) => c.name === name).map((c) => c.input.sampleId);
    expect(named("checkSample").sort()).toEqual(["bear/1", "bear/2", "clock/1"]);
    expect(named("identifySample").sort()).toEqual(["bear/1", "clock/1"]);
    expect(named("inpaintSample").filter((id) => id === "clock/1")).toHaveLength(2); // failed once, retried
    expect(named("perturbGroup")).toHaveLength(4); // 2 accepted samples × 2 groups
    const agg = calls.find((c) => c.name === "aggregateSweep")!.input as { outcomes: { sampleKey: string; selectionKey?: string; scoreKeys: string[] }[]; failures: unknown[] };
    expect(agg.outcomes.map((o) => o.sampleKey)).toEqual(["sample/bear/1", "sample/bear/2", "sample/clock/1"]);
    expect(agg.outcomes[1].selectionKey).toBeUndefined();
    expect(agg.outcomes[0].scoreKeys).toEqual(["score/bear/1/two-stage", "score/bear/1/pan"]);
    expect(agg.failures).toEqual([]);
    // Every activity reported one computed step; the sweep adds them all up (children included).
    const succeeded = calls.length - 1; // the failed inpaint attempt reported nothing
    expect(result.steps).toEqual({ computed: succeeded, reused: 0 });
    expect(await phaseOf("wf-rejected")).toBe("done");
    expect(await phaseOf(conceptWorkflowId("wf-rejected", "bear"))).toBe("done");
  });

  it("a failed sample and a failed concept are recorded with their reasons; the others complete", async () => {
    const script: Script = { badCheck: { "bear/2": "annotation 7: bbox outside the image" }, badCalibration: { clock: "no calibration samples" } };
    const { result, calls } = await withWorkers(script, async (calls) => ({ result: (await (await start("wf-failed", "auto")).result()) as SweepWorkflowResult, calls }));
    expect(result.failures).toEqual([
      { item: "concept zebra", reason: "not in the dataset" },
      { item: "sample bear/2", reason: "annotation 7: bbox outside the image" },
      { item: "concept clock", reason: "no calibration samples" },
    ]);
    expect(calls.filter((c) => c.name === "captionImages").map((c) => c.input.set)).toEqual(["eval", "calibration"]);
    expect(calls.filter((c) => c.name === "inpaintSample").map((c) => c.input.sampleId).sort()).toEqual(["bear/1", "bear/2"]);
    expect(calls.filter((c) => c.name === "checkSample" && c.input.sampleId === "bear/2")).toHaveLength(1); // non-retryable: one attempt
    const agg = calls.find((c) => c.name === "aggregateSweep")!.input as { outcomes: { sampleKey: string }[]; failures: unknown[] };
    expect(agg.outcomes.map((o) => o.sampleKey)).toEqual(["sample/bear/1"]);
    expect(agg.failures).toEqual(result.failures.slice(1));
    expect(await phaseOf(conceptWorkflowId("wf-failed", "clock"))).toBe("failed");
  });

  it("bounded histories: a concept continues as new every samplesPerRun samples with its progress and failures; nothing is signalled", async () => {
    const script: Script = { badCheck: { "bear/1": "annotation 3: empty mask" }, reject: ["clock/1"] };
    const { result, calls, p, whole } = await withWorkers(script, async (calls) => {
      const result = (await (await start("wf-runs", "auto", 1)).result()) as SweepWorkflowResult;
      // Queries need a worker: asked while the workers still run.
      const p = await env.client.workflow.getHandle(conceptWorkflowId("wf-runs", "bear")).query(conceptProgressQuery);
      return { result, calls, p, whole: await sweepProgress(env.client, "wf-runs") };
    });
    expect(result.failures).toEqual([{ item: "concept zebra", reason: "not in the dataset" }, { item: "sample bear/1", reason: "annotation 3: empty mask" }]);
    expect(result.rejected).toBe(1);
    // Calibrated once (the second run carries the rules); each run stored its outcomes; plan order kept.
    expect(calls.filter((c) => c.name === "calibrateConcept").map((c) => c.input.concept).sort()).toEqual(["bear", "clock"]);
    expect(calls.filter((c) => c.name === "saveOutcomes")).toHaveLength(3);
    const agg = calls.find((c) => c.name === "aggregateSweep")!.input as { outcomes: { sampleKey: string }[] };
    expect(agg.outcomes.map((o) => o.sampleKey)).toEqual(["sample/bear/2", "sample/clock/1"]);
    const steps = calls.length - 1; // the failed check reported nothing
    expect(result.steps).toEqual({ computed: steps, reused: 0 });
    const sweep = await env.client.workflow.getHandle("wf-runs").fetchHistory();
    expect(sweep.events!.filter((e) => e.workflowExecutionSignaledEventAttributes)).toEqual([]);
    const bear = env.client.workflow.getHandle(conceptWorkflowId("wf-runs", "bear"));
    const last = await bear.fetchHistory();
    const started = last.events![0].workflowExecutionStartedEventAttributes!;
    expect(started.continuedExecutionRunId, "the last run of bear continued an earlier one").toBeTruthy();
    expect(last.events!.filter((e) => e.signalExternalWorkflowExecutionInitiatedEventAttributes)).toEqual([]);
    const d = await bear.describe();
    expect([d.typedSearchAttributes.get(ConceptKey), d.typedSearchAttributes.get(SweepIdKey), d.typedSearchAttributes.get(PhaseKey)]).toEqual(["bear", "wf-runs", "done"]);
    expect(p).toMatchObject({ phase: "done", samples: { done: 2, total: 2 }, phases: { inpaint: { done: 2, total: 2 }, calibrate: { done: 1, total: 1 } } });
    expect(whole.samples).toEqual({ done: 3, total: 3 });
    expect(whole.live).toEqual([]);
    await record("wf-runs", [["sweepWorkflow", "wf-runs", undefined], ["conceptWorkflow", bear.workflowId, started.continuedExecutionRunId!], ["conceptWorkflow", bear.workflowId, undefined]]);
  });

  it("the progress query shows the running sweep; a cancel ends sweep and concepts CANCELLED", async () => {
    let started!: () => void;
    const perturbing = new Promise<void>((r) => (started = r));
    await withWorkers({ blockPerturb: () => started() }, async () => {
      const h = await start("wf-cancel");
      await perturbing;
      // The running children answer their own query (nothing is signalled): the client adds them up.
      let p: SweepProgress | undefined;
      for (let i = 0; i < 100 && !(p && p.phases.perturb.total === 6 && p.samples.total === 3 && p.phases.identify.done === 3); i++) {
        p = await sweepProgress(env.client, "wf-cancel");
        await new Promise((r) => setTimeout(r, 100));
      }
      const own = await h.query(progressQuery);
      expect(own.live?.sort()).toEqual(["bear", "clock"]);
      expect(own.phases.perturb.total).toBe(0); // the sweep's own state holds no child step
      expect(p!.phase).toBe("concepts");
      expect(p!.phases.plan).toEqual({ done: 1, total: 1 });
      expect(p!.phases.check).toEqual({ done: 3, total: 3 });
      expect(p!.phases.perturb).toEqual({ done: 0, total: 6 });
      expect(p!.concepts.bear).toMatchObject({ phase: "samples", samples: { done: 0, total: 2 }, rejected: 0, failures: 0 });
      expect(p!.failures).toEqual([{ item: "concept zebra", reason: "not in the dataset" }]);

      await h.cancel();
      const err = await h.result().catch((e) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
      for (const id of ["wf-cancel", conceptWorkflowId("wf-cancel", "bear"), conceptWorkflowId("wf-cancel", "clock")]) {
        const d = await env.client.workflow.getHandle(id).describe();
        expect(d.status.name, id).toBe("CANCELLED");
        expect(d.typedSearchAttributes.get(PhaseKey), id).toBe("cancelled");
      }
    });
  });
});
