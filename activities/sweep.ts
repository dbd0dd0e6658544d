/**
 * The sweep's activities: thin adapters over core/pipeline. Each one zod-parses its input, reads
 * the plan by key, runs one idempotent step (a finished step is found in the store and reused)
 * and returns small references. Bad input becomes a non-retryable ApplicationFailure naming the
 * item; anything else is thrown as is and retried by the workflow's retry policy.
 */
import { z } from "zod";
import { ApplicationFailure, CancelledFailure } from "@temporalio/common";
import { Context } from "@temporalio/activity";
import type { ArtifactStore } from "../core/store/index.js";
import { loadBundleManifest } from "../core/model/bundle.js";
import type { ModelRuntime } from "../core/model/runtime.js";
import { parseSpec, type SweepSpec } from "../core/spec.js";
import { ThresholdRuleSchema } from "../core/method/thresholds.js";
import { type BertScorerLike, cachedStep, json, type PipelineContext, readJson, type StepStats } from "../core/pipeline/context.js";
import { planSweep as planStep, relocatePlan, type PlanFailure, type SampleRef, type SweepPlan } from "../core/pipeline/plan.js";
import { bundleTreeKey, datasetTreeKey } from "../core/pipeline/push.js";
import { fetchTree, hasTree } from "../core/store/cache.js";
import * as steps from "../core/pipeline/steps.js";
import * as causal from "../core/pipeline/causal.js";
import { calibrateConcept as calibrateStep, type CalibrationResult } from "../core/pipeline/calibrate.js";
import { aggregateSweep as aggregateStep, type SampleOutcome } from "../core/pipeline/aggregate.js";
import { writeLatest, writeSweepSpec } from "../core/pipeline/records.js";
import { isBadInput, type ItemFailure } from "../core/errors.js";

export interface SweepActivityDeps {
  store: ArtifactStore;
  /** The model worker's one model (by bundle dir); absent on the cpu worker. */
  model?: (bundleDir: string) => Promise<ModelRuntime>;
  /** BERTScore, loaded on first use; absent on the model worker. */
  bertScorer?: () => Promise<BertScorerLike>;
  /**
   * The report hook: renders the sweep report from its results and returns the report's store
   * key. Absent until a report renderer is installed; the workflow then records "no report".
   */
  renderReport?: (ctx: PipelineContext, input: { sweepId: string; planKey: string; resultsKey: string }) => Promise<string>;
  /** Observer of every step (tests and the bench count reused vs computed steps). */
  onStep?: (event: { step: string; key: string; reused: boolean }) => void;
  /** Keep-alive heartbeat period while an activity runs (detects a lost worker within heartbeatTimeout). */
  heartbeatEveryMs?: number;
  /**
   * This worker's local cache (KNEURON_WORKER_CACHE_DIR): a sweep's dataset and bundle pushed to
   * the store (core/pipeline/push.ts) are fetched here, hash-verified, and read from here.
   */
  cacheDir?: string;
}

// ------------------------------------------------------------------------------------- inputs

const Key = z.string().min(1).max(900);
const Spec = z.unknown();
const Rules = z.object({ act: ThresholdRuleSchema, grad: ThresholdRuleSchema });
const Overlap = z.object({ ok: z.boolean(), reasons: z.array(z.string()), details: z.array(z.string()), mentionIndex: z.number().optional() });

/** Tree keys of the pushed dataset and bundle (core/pipeline/push.ts): workers read their own fetched copies. */
const Pushed = z.object({ dataset: Key, bundle: Key });
const PlanInput = z.object({ sweepId: z.string().min(1), spec: Spec, data: Pushed.optional() });
const CaptionsInput = z.object({ planKey: Key, spec: Spec, set: z.enum(["eval", "calibration"]) });
const CalibrateInput = z.object({ planKey: Key, spec: Spec, concept: z.string().min(1), cleanKey: Key.optional() });
const InpaintInput = z.object({ planKey: Key, spec: Spec, sampleId: z.string().min(1) });
const CheckInput = InpaintInput.extend({ inpaint: z.object({ key: Key, overlap: Overlap }) });
const IdentifyInput = z.object({ planKey: Key, sampleId: z.string().min(1), sampleKey: Key, panPosition: z.enum(["image", "predicting-token"]).optional() });
const SelectInput = z.object({ spec: Spec, sampleId: z.string().min(1), sampleKey: Key, identifyKey: Key, rules: Rules.optional() });
const InterpretInput = z.object({ planKey: Key, sampleId: z.string().min(1), sampleKey: Key, identifyKey: Key, selectionKey: Key });
const GroupInput = z.object({ planKey: Key, spec: Spec, sampleId: z.string().min(1), sampleKey: Key, identifyKey: Key, selectionKey: Key, group: z.string().min(1) });
const PerturbInput = GroupInput.extend({ cleanKey: Key });
const ScoreInput = GroupInput.extend({ perturbKeys: z.array(Key).min(1), cleanKey: Key });
const CausalInput = z.object({ planKey: Key, spec: Spec, sampleId: z.string().min(1), sampleKey: Key, identifyKey: Key, selectionKey: Key, cleanKey: Key });
const Outcome = z.object({
  sampleKey: Key,
  selectionKey: Key.optional(),
  interpretKey: Key.optional(),
  scoreKeys: z.array(Key),
  cleanKey: Key.optional(),
  perturbKeys: z.record(z.string(), z.array(Key)),
  calibration: z.unknown().optional(),
  ablateKey: Key.optional(),
  localiseKey: Key.optional(),
});
const Failure: z.ZodType<ItemFailure> = z.object({ item: z.string(), reason: z.string() });
/** A list of outcomes a bounded concept-workflow run stored (saveOutcomes), in place of the outcomes. */
const Stored = z.object({ stored: Key });
export type StoredOutcomes = z.infer<typeof Stored>;
const AggregateInput = z.object({ planKey: Key, spec: Spec, outcomes: z.array(z.union([Stored, Outcome])), failures: z.array(Failure) });
const SaveOutcomesInput = z.object({ outcomes: z.array(Outcome) });
const ReportInput = z.object({ sweepId: z.string().min(1), planKey: Key, resultsKey: Key });

// ------------------------------------------------------------------------------------ plumbing

function parse<T>(schema: z.ZodType<T>, input: unknown, what: string): T {
  const r = schema.safeParse(input);
  if (!r.success) throw ApplicationFailure.nonRetryable(`${what}: invalid input: ${z.prettifyError(r.error)}`, "InvalidInput");
  return r.data;
}

/** Bad input → non-retryable, named after the item; `details[0]` keeps the bare reason for the sweep's records. */
function asFailure(e: unknown, item: string): unknown {
  if (e instanceof ApplicationFailure || e instanceof CancelledFailure) return e;
  if (!isBadInput(e)) return e;
  return ApplicationFailure.create({ message: `${item}: ${e.message}`, type: e.name, nonRetryable: true, details: [{ item, reason: e.message }] });
}

/** Details a long activity heartbeats: what it is doing, how far along. */
export interface HeartbeatDetail {
  step: string;
  done: number;
  total: number;
}

export function createSweepActivities(deps: SweepActivityDeps) {
  const plans = new Map<string, Promise<SweepPlan>>();
  const every = deps.heartbeatEveryMs ?? 1000;

  /**
   * Runs one activity body with a pipeline context bound to this activity: progress becomes
   * heartbeat details (and the point where a cancellation stops the step), steps are counted.
   */
  async function run<T>(item: string, bundleDir: string | undefined, body: (ctx: PipelineContext) => Promise<T>): Promise<T & { steps: StepStats }> {
    const act = Context.current();
    let last: HeartbeatDetail | undefined;
    const keepAlive = setInterval(() => act.heartbeat(last), every);
    const stats: StepStats = { computed: 0, reused: 0 };
    const ctx: PipelineContext = {
      store: deps.store,
      model: () => {
        if (!deps.model || !bundleDir) throw new Error(`${act.info.activityType}: this worker has no model (model steps run on the model worker's queue)`);
        return deps.model(bundleDir);
      },
      bertScorer: () => {
        if (!deps.bertScorer) throw new Error(`${act.info.activityType}: this worker has no BERTScore encoder`);
        return deps.bertScorer();
      },
      progress: (d) => {
        if (act.cancellationSignal.aborted) throw new CancelledFailure(`${item}: cancelled at ${d.step} ${d.done}/${d.total}`);
        last = d;
        act.heartbeat(d);
      },
      onStep: (e) => {
        stats[e.reused ? "reused" : "computed"]++;
        deps.onStep?.(e);
      },
    };
    act.heartbeat(undefined);
    try {
      const out = await body(ctx);
      return { ...out, steps: stats };
    } catch (e) {
      throw asFailure(e, item);
    } finally {
      clearInterval(keepAlive);
    }
  }

  /** The dataset and bundle trees in this worker's cache (local directories). */
  async function fetched(trees: z.infer<typeof Pushed>): Promise<{ dataset: string; bundle: string }> {
    if (!deps.cacheDir) throw ApplicationFailure.nonRetryable("this sweep's data is in the store, and this worker has no cache dir (set KNEURON_WORKER_CACHE_DIR)", "NoCache");
    const [dataset, bundle] = await Promise.all([fetchTree(deps.store, trees.dataset, deps.cacheDir), fetchTree(deps.store, trees.bundle, deps.cacheDir)]);
    return { dataset, bundle };
  }

  /** A plan as this worker reads it: with a cache dir and the plan's data pushed, its files are the fetched copies. */
  async function readPlan(ctx: PipelineContext, key: string): Promise<SweepPlan> {
    const p = await readJson<SweepPlan>(ctx, key, "plan.json");
    if (!deps.cacheDir) return p;
    const trees = { dataset: datasetTreeKey(p.dataset.sha256), bundle: bundleTreeKey(p.bundle.sha256) };
    if (!(await hasTree(deps.store, trees.dataset)) || !(await hasTree(deps.store, trees.bundle))) return p;
    return relocatePlan(p, await fetched(trees));
  }

  /** The plan is immutable per key: read once per process. */
  function plan(ctx: PipelineContext, key: string): Promise<SweepPlan> {
    let p = plans.get(key);
    if (!p) {
      p = readPlan(ctx, key);
      p.catch(() => plans.delete(key));
      plans.set(key, p);
      if (plans.size > 16) plans.delete(plans.keys().next().value!);
    }
    return p;
  }

  const sampleOf = (p: SweepPlan, id: string): SampleRef => {
    const s = p.samples.find((x) => x.id === id);
    if (!s) throw ApplicationFailure.nonRetryable(`sample ${id}: not in plan ${p.sweepId}`, "UnknownSample");
    return s;
  };
  const groupOf = (sel: steps.Selection, name: string) => {
    const g = sel.groups.find((x) => x.name === name);
    if (!g) throw ApplicationFailure.nonRetryable(`sample ${sel.sampleId}: no ${name} group in its selection`, "UnknownGroup");
    return g;
  };
  /** Bundle dir of a plan (for the model worker's one-model slot), read before the step runs. */
  const bundleOf = async (planKey: string) => (await plan({ store: deps.store } as PipelineContext, planKey)).bundle.dir;

  return {
    // ------------------------------------------------------------------ cpu: plan, images, scores
    async planSweep(raw: z.input<typeof PlanInput>) {
      const input = parse(PlanInput, raw, "planSweep");
      return run(`sweep ${input.sweepId}`, undefined, async (ctx) => {
        const spec = parseSpec(input.spec);
        // The spec beside the sweep, so `sweep resume <id>` starts it again exactly.
        await writeSweepSpec(deps.store, input.sweepId, spec);
        const { key, plan: p } = await planStep(ctx, input.sweepId, spec, input.data && await fetched(input.data));
        return {
          planKey: key,
          concepts: p.concepts,
          samples: p.samples.map((s) => ({ id: s.id, concept: s.concept })),
          evalImages: p.evalImages.length,
          calibration: p.calibration !== null,
          failures: p.failures,
        };
      });
    },

    async inpaintSample(raw: z.input<typeof InpaintInput>) {
      const input = parse(InpaintInput, raw, "inpaintSample");
      return run(`sample ${input.sampleId}`, undefined, async (ctx) => {
        const p = await plan(ctx, input.planKey);
        return steps.inpaintSample(ctx, p, parseSpec(input.spec), sampleOf(p, input.sampleId));
      });
    },

    async selectNeurons(raw: z.input<typeof SelectInput>) {
      const input = parse(SelectInput, raw, "selectNeurons");
      return run(`sample ${input.sampleId}`, undefined, async (ctx) => {
        const record = await readJson<steps.SampleRecord>(ctx, input.sampleKey, "sample.json");
        const { key, selection } = await steps.selectNeurons(ctx, parseSpec(input.spec), record, input.identifyKey, input.rules);
        return { selectionKey: key, groups: selection.groups.map((g) => ({ method: g.method, name: g.name, neurons: g.neurons.length })) };
      });
    },

    async scoreGroup(raw: z.input<typeof ScoreInput>) {
      const input = parse(ScoreInput, raw, "scoreGroup");
      return run(`group ${input.sampleId}/${input.group}`, undefined, async (ctx) => {
        const p = await plan(ctx, input.planKey);
        const spec = parseSpec(input.spec);
        const record = await readJson<steps.SampleRecord>(ctx, input.sampleKey, "sample.json");
        const sel = await readJson<steps.Selection>(ctx, input.selectionKey, "selection.json");
        const images = await steps.evaluationImages(ctx, p, spec, record.sample.concept, input.cleanKey);
        const { key } = await steps.scoreGroup(ctx, spec, record, groupOf(sel, input.group), images, input.perturbKeys, input.cleanKey);
        return { scoreKey: key };
      });
    },

    async aggregateSweep(raw: z.input<typeof AggregateInput>) {
      const input = parse(AggregateInput, raw, "aggregateSweep");
      return run(`sweep ${input.planKey}`, undefined, async (ctx) => {
        const p = await plan(ctx, input.planKey);
        const spec = parseSpec(input.spec);
        const layers = (await loadBundleManifest(p.bundle.dir, { verifyHashes: false })).layers;
        const encoder = (await ctx.bertScorer()).identity;
        // The results name the plan's places, not this worker's cached copies: the same results on any host.
        const recorded = await readJson<SweepPlan>(ctx, input.planKey, "plan.json");
        const resultsKey = await aggregateStep(ctx, recorded, spec, await expandOutcomes(ctx, input.outcomes), input.failures, layers, encoder);
        await writeLatest(deps.store, p.sweepId, { resultsKey, planKey: input.planKey });
        return { resultsKey };
      });
    },

    /** A run's outcomes into the store (content-addressed), so that no workflow history carries them. */
    async saveOutcomes(raw: z.input<typeof SaveOutcomesInput>) {
      const input = parse(SaveOutcomesInput, raw, "saveOutcomes");
      return run(`${input.outcomes.length} outcomes`, undefined, async (ctx) => ({
        outcomesKey: await cachedStep(ctx, "outcomes", input.outcomes, async () => ({ "outcomes.json": json(input.outcomes) })),
      }));
    },

    /** The report hook (see SweepActivityDeps.renderReport). */
    async reportSweep(raw: z.input<typeof ReportInput>) {
      const input = parse(ReportInput, raw, "reportSweep");
      return run(`sweep ${input.sweepId}`, undefined, async (ctx) => ({
        reportKey: deps.renderReport ? await deps.renderReport(ctx, input) : null,
      }));
    },

    // ------------------------------------------------------------------------- model (gpu queue)
    async captionImages(raw: z.input<typeof CaptionsInput>) {
      const input = parse(CaptionsInput, raw, "captionImages");
      return run(`${input.set} images`, await bundleOf(input.planKey), async (ctx) => {
        const p = await plan(ctx, input.planKey);
        const images = input.set === "eval" ? p.evalImages : p.calibration?.images;
        if (!images) throw ApplicationFailure.nonRetryable(`plan ${input.planKey} has no calibration split`, "NoCalibration");
        return { cleanKey: await steps.captionImages(ctx, p, parseSpec(input.spec), images) };
      });
    },

    async calibrateConcept(raw: z.input<typeof CalibrateInput>): Promise<CalibrationResult & { steps: StepStats }> {
      const input = parse(CalibrateInput, raw, "calibrateConcept");
      if (!input.cleanKey) throw ApplicationFailure.nonRetryable(`concept ${input.concept}: auto thresholds need a calibration split; this dataset has none (use \`rules\` thresholds)`, "NoCalibration");
      const cleanKey = input.cleanKey;
      return run(`concept ${input.concept}`, await bundleOf(input.planKey), async (ctx) =>
        calibrateStep(ctx, await plan(ctx, input.planKey), parseSpec(input.spec), input.concept, cleanKey));
    },

    async checkSample(raw: z.input<typeof CheckInput>) {
      const input = parse(CheckInput, raw, "checkSample");
      return run(`sample ${input.sampleId}`, await bundleOf(input.planKey), async (ctx) => {
        const p = await plan(ctx, input.planKey);
        const inpaint = input.inpaint as unknown as steps.InpaintResult;
        const { key, record } = await steps.checkSample(ctx, p, parseSpec(input.spec), sampleOf(p, input.sampleId), inpaint);
        return { sampleKey: key, status: record.status, reasons: record.reasons };
      });
    },

    async identifySample(raw: z.input<typeof IdentifyInput>) {
      const input = parse(IdentifyInput, raw, "identifySample");
      return run(`sample ${input.sampleId}`, await bundleOf(input.planKey), async (ctx) => {
        const record = await readJson<steps.SampleRecord>(ctx, input.sampleKey, "sample.json");
        return { identifyKey: await steps.identifySample(ctx, await plan(ctx, input.planKey), record, { panPosition: input.panPosition }) };
      });
    },

    async interpretSample(raw: z.input<typeof InterpretInput>) {
      const input = parse(InterpretInput, raw, "interpretSample");
      return run(`sample ${input.sampleId}`, await bundleOf(input.planKey), async (ctx) => {
        const record = await readJson<steps.SampleRecord>(ctx, input.sampleKey, "sample.json");
        return { interpretKey: await steps.interpretSample(ctx, await plan(ctx, input.planKey), record, input.identifyKey, input.selectionKey) };
      });
    },

    /** The noise runs of one group, one artifact per level: a retry resumes at the first unfinished level. */
    async perturbGroup(raw: z.input<typeof PerturbInput>) {
      const input = parse(PerturbInput, raw, "perturbGroup");
      return run(`group ${input.sampleId}/${input.group}`, await bundleOf(input.planKey), async (ctx) => {
        const p = await plan(ctx, input.planKey);
        const spec = parseSpec(input.spec);
        const record = await readJson<steps.SampleRecord>(ctx, input.sampleKey, "sample.json");
        const sel = await readJson<steps.Selection>(ctx, input.selectionKey, "selection.json");
        const images = await steps.evaluationImages(ctx, p, spec, record.sample.concept, input.cleanKey);
        const perturbKeys = await steps.perturbGroup(ctx, p, spec, record, groupOf(sel, input.group), images, input.cleanKey);
        return { perturbKeys };
      });
    },

    /** Heatmap localisation of every group (pure: stored tensors, the image and its mask). */
    async localiseSample(raw: z.input<typeof CausalInput>) {
      const input = parse(CausalInput, raw, "localiseSample");
      return run(`sample ${input.sampleId}`, undefined, async (ctx) => {
        const record = await readJson<steps.SampleRecord>(ctx, input.sampleKey, "sample.json");
        return { localiseKey: (await causal.localiseSample(ctx, await plan(ctx, input.planKey), record, input.identifyKey, input.selectionKey)).key };
      });
    },

    /** Deterministic ablation: groups, curve, captions under ablation, ground truth (skipped without ffn_scale). */
    async ablateSample(raw: z.input<typeof CausalInput>) {
      const input = parse(CausalInput, raw, "ablateSample");
      return run(`sample ${input.sampleId}`, await bundleOf(input.planKey), async (ctx) => {
        const p = await plan(ctx, input.planKey);
        const spec = parseSpec(input.spec);
        const record = await readJson<steps.SampleRecord>(ctx, input.sampleKey, "sample.json");
        const images = await steps.evaluationImages(ctx, p, spec, record.sample.concept, input.cleanKey);
        return { ablateKey: (await causal.ablateSample(ctx, p, spec, record, input.identifyKey, input.selectionKey, images, input.cleanKey)).key };
      });
    },
  };
}

/** Stored lists expanded in place: the same outcomes, in the same order, as if passed inline. */
async function expandOutcomes(ctx: PipelineContext, parts: z.infer<typeof AggregateInput>["outcomes"]): Promise<SampleOutcome[]> {
  const lists = await Promise.all(parts.map(async (p) => ("stored" in p ? readJson<SampleOutcome[]>(ctx, p.stored, "outcomes.json") : [p as SampleOutcome])));
  return lists.flat();
}

export type SweepActivities = ReturnType<typeof createSweepActivities>;

/** Activities served on the cpu queue (no model) and on the model queue. */
export const CPU_ACTIVITIES = ["planSweep", "inpaintSample", "selectNeurons", "scoreGroup", "saveOutcomes", "aggregateSweep", "reportSweep", "localiseSample"] as const satisfies readonly (keyof SweepActivities)[];
export const MODEL_ACTIVITIES = ["captionImages", "calibrateConcept", "checkSample", "identifySample", "interpretSample", "perturbGroup", "ablateSample"] as const satisfies readonly (keyof SweepActivities)[];

export type CpuSweepActivities = Pick<SweepActivities, (typeof CPU_ACTIVITIES)[number]>;
export type ModelSweepActivities = Pick<SweepActivities, (typeof MODEL_ACTIVITIES)[number]>;

export function pick<T extends object, K extends keyof T>(o: T, keys: readonly K[]): Pick<T, K> {
  return Object.fromEntries(keys.map((k) => [k, o[k]])) as Pick<T, K>;
}

export type { PlanFailure, SampleOutcome, SweepSpec };
