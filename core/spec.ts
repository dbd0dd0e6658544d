// The sweep specification: every knob of DESIGN.md §2, validated at the edge (CLI, workflow input).
import { z } from "zod";
import { BadInputError } from "./errors.js";
import { closest, didYouMean } from "./suggest.js";
import { ThresholdRuleSchema } from "./method/thresholds.js";

/** Default noise levels in units of each neuron's std (chosen on the calibration split: docs/METHOD.md). */
export const DEFAULT_STD_LEVELS = [8, 2048];

/** Seeds are 32-bit (the samplers hash them with the draw). */
const MAX_SEED = 2 ** 31 - 1;

const PairRule = z.object({ act: ThresholdRuleSchema, grad: ThresholdRuleSchema });

export const ThresholdsSchema = z.discriminatedUnion("mode", [
  /** One rule pair for every knowledge, or a per-knowledge table (the paper's Table IV) with a fallback. */
  z.object({
    mode: z.literal("rules"),
    default: PairRule,
    perConcept: z.record(z.string(), PairRule).default({}),
  }),
  /**
   * Closed-loop calibration (the paper's future work): pick (q_act, q_grad) from the grid that
   * maximises (S + R)/2 on the calibration split, never on scored images, with |N_k| <= maxNeurons.
   */
  z.object({
    mode: z.literal("auto"),
    actQuantiles: z.array(z.number().min(0).max(1)).min(1).max(20).default([0.95, 0.97, 0.99]),
    gradQuantiles: z.array(z.number().min(0).max(1)).min(1).max(20).default([0.0, 0.5, 0.9]),
    maxNeurons: z.number().int().positive().max(1_000_000).default(200),
    calibrationSamples: z.number().int().positive().max(100).default(2),
    /** Noise draws per grid point, at the middle noise level (calibration is a search, not the score). */
    draws: z.number().int().positive().max(100).default(2),
  }),
]);
export type Thresholds = z.infer<typeof ThresholdsSchema>;

export const DatasetSchema = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("synthetic"), seed: z.number().int().min(0).max(MAX_SEED).default(1), dir: z.string().optional(),
    /** "calibration": sweep the held-out calibration images (choosing noise levels, `kneuron calibrate-noise`). */
    split: z.enum(["experiment", "calibration"]).default("experiment"),
  }),
  z.object({ kind: z.literal("coco"), dir: z.string().min(1), split: z.string().default("val2017") }),
]);

/**
 * `random` is the control: seeded groups of the two-stage group's size with its count per layer
 * (layer-matched); `random-uniform` draws the same number of neurons from any layer.
 */
export const MethodSchema = z.enum(["two-stage", "schwettmann", "pan", "random", "random-uniform"]);
export type Method = z.infer<typeof MethodSchema>;
export const CONTROL_METHODS: readonly Method[] = ["random", "random-uniform"];

export const SweepSpecSchema = z.object({
  dataset: DatasetSchema.default({ kind: "synthetic", seed: 1, split: "experiment" }),
  bundle: z.string().default("models/tiny"),
  /** Knowledge to sweep; empty = every concept of the dataset's experiment table. */
  concepts: z.array(z.string().min(1)).max(80).default([]),
  samplesPerConcept: z.number().int().positive().max(1000).default(3),
  seed: z.number().int().min(0).max(MAX_SEED).default(0),
  maskDilation: z.number().int().nonnegative().max(256).default(4),
  inpaintRadius: z.number().positive().max(64).default(3),
  maxOtherOverlap: z.number().min(0).max(1).default(0),
  aggregate: z.enum(["max", "mean"]).default("max"),
  thresholds: ThresholdsSchema.default({
    mode: "rules",
    // Stage 1 keeps the top 3% of neurons by activation drop, stage 2 the better half of those by
    // GradCAM: on the tiny model (4 x 384 neurons) about 45 candidates and 23 neurons per sample.
    default: { act: { mode: "quantile", q: 0.97 }, grad: { mode: "quantile", q: 0.5 } },
    perConcept: {},
  }),
  methods: z.array(MethodSchema).min(1).max(MethodSchema.options.length).default(["two-stage", "schwettmann", "pan", "random"]),
  /** Seeded groups per sample for each control method (evaluated like every other group). */
  randomGroups: z.number().int().positive().max(100).default(5),
  baselineK: z.union([z.literal("matched"), z.number().int().positive().max(1_000_000)]).default("matched"),
  schwettmann: z.object({ aggregate: z.enum(["mean", "pairs"]).default("mean"), pairsPerImage: z.number().int().positive().max(100_000).default(100) }).default({ aggregate: "mean", pairsPerImage: 100 }),
  noise: z.object({
    /**
     * "std": a level is a multiple of each neuron's standard deviation over the image positions of
     * the evaluation images (its natural range; computed with the clean captions). "absolute": raw
     * units, like the paper's 40/80/120 on MiniGPT-4. Default levels: chosen on the calibration
     * split before any method comparison (docs/METHOD.md, `kneuron calibrate-noise`).
     */
    unit: z.enum(["std", "absolute"]).default("std"),
    levels: z.array(z.number().positive().max(1e6)).min(1).max(16).default(DEFAULT_STD_LEVELS),
    draws: z.number().int().positive().max(1000).default(4),
    /** Where the noise is added: the image positions (the paper) or every prompt (prefill) position. */
    scope: z.enum(["image", "prompt"]).default("image"),
  }).default({ unit: "std", levels: DEFAULT_STD_LEVELS, draws: 4, scope: "image" }),
  /**
   * Pan et al.'s score reads A at the image patches (as the other methods do, default) or, as
   * their paper does, at the text position that predicts t ("predicting-token").
   */
  pan: z.object({ position: z.enum(["image", "predicting-token"]).default("image") }).default({ position: "image" }),
  /** The causal tests (docs/METHOD.md "Causal tests"): deterministic ablation, ground truth, localisation. */
  causal: z.object({
    enabled: z.boolean().default(true),
    /** The value an ablated neuron is set to: its mean over the evaluation images' image positions, or 0. */
    value: z.enum(["mean", "zero"]).default("mean"),
    /** Where: the image positions (as the noise), or every prompt position. */
    scope: z.enum(["image", "prompt"]).default("image"),
    /** The ablation curve over k = 1, 2, 4, … 4·|N_k| along each ranking, with random groups of each k. */
    curve: z.boolean().default(true),
    /** Captions of the evaluation images under each group's ablation (one deterministic run per group). */
    captions: z.boolean().default(true),
    /** Exhaustive single-neuron ablation: the first sample of each knowledge ("one"), every accepted sample, or none. */
    groundTruth: z.enum(["one", "all", "off"]).default("one"),
    /** Bundles with more FFN neurons (L·D) skip the ground truth, and the report says so. */
    groundTruthMaxNeurons: z.number().int().positive().max(100_000_000).default(65_536),
  }).default({ enabled: true, value: "mean", scope: "image", curve: true, captions: true, groundTruth: "one", groundTruthMaxNeurons: 65_536 }),
  eval: z.object({
    /**
     * "faithful" (the paper's protocol): P_same(k) over images of k whose clean caption names k,
     * P_other(k) over (image without k, k') pairs whose clean caption names k', so σ = 0 gives
     * S = 0 and R = 1. "all": every annotated image / pair, whatever the clean caption said.
     */
    sets: z.enum(["faithful", "all"]).default("faithful"),
    /**
     * "all" captions every evaluation image under every noise run; n scores the images of k plus a
     * seeded sample of n other-concept images. Default 12: "all" costs about 10x the captions
     * (docs/METHOD.md).
     */
    otherImages: z.union([z.literal("all"), z.number().int().positive().max(100_000)]).default(12),
    maxNewTokens: z.number().int().positive().max(512).default(32),
    /** Hierarchical paired bootstrap (knowledge → samples → draws) for every interval. */
    bootstrap: z.object({ resamples: z.number().int().min(100).max(100_000).default(2000), seed: z.number().int().min(0).max(MAX_SEED).default(0) }).default({ resamples: 2000, seed: 0 }),
  }).default({ sets: "faithful", otherImages: 12, maxNewTokens: 32, bootstrap: { resamples: 2000, seed: 0 } }),
});
export type SweepSpec = z.infer<typeof SweepSpecSchema>;

export class SpecError extends BadInputError {
  constructor(readonly issues: string[]) {
    super(`invalid sweep spec:\n${issues.map((i) => `  - ${i}`).join("\n")}`);
    this.name = "SpecError";
  }
}

/**
 * Parse a user spec (defaults filled in); every bad field is named in one error. Strict: a key
 * the schema does not know (zod drops it silently) is an error naming it and the nearest valid key.
 */
export function parseSpec(input: unknown): SweepSpec {
  const r = SweepSpecSchema.safeParse(input ?? {});
  if (!r.success) throw new SpecError(r.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`));
  const unknown = unknownKeys(input ?? {}, r.data, [], r.data);
  if (unknown.length) throw new SpecError(unknown);
  return r.data;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Keys of the input that parsing dropped (the parsed value holds every known key, defaults
 * filled), each with the nearest valid key: at its own level, else anywhere (`draw` → noise.draws).
 */
function unknownKeys(input: unknown, parsed: unknown, path: string[], root: SweepSpec): string[] {
  if (Array.isArray(input) && Array.isArray(parsed)) return input.flatMap((x, i) => unknownKeys(x, parsed[i], [...path, String(i)], root));
  if (!isObj(input) || !isObj(parsed)) return [];
  const out: string[] = [];
  for (const k of Object.keys(input)) {
    if (k in parsed) out.push(...unknownKeys(input[k], parsed[k], [...path, k], root));
    else out.push(`${[...path, k].join(".")}: unknown key${didYouMean(k, Object.keys(parsed)) || nearestPath(k, root)}`);
  }
  return out;
}

function nearestPath(key: string, root: unknown): string {
  const paths: string[] = [];
  const walk = (v: unknown, p: string) => {
    if (!isObj(v)) return;
    for (const [k, x] of Object.entries(v)) paths.push(p + k), walk(x, `${p}${k}.`);
  };
  walk(root, "");
  const leaf = closest(key, paths.map((p) => p.slice(p.lastIndexOf(".") + 1)));
  const hit = leaf === undefined ? undefined : paths.find((p) => p === leaf || p.endsWith(`.${leaf}`));
  return hit ? ` (did you mean ${JSON.stringify(hit)}?)` : "";
}

/** The threshold rules that apply to one knowledge under a `rules` spec. */
export function rulesFor(t: Thresholds, concept: string) {
  if (t.mode !== "rules") throw new Error("rulesFor: thresholds are auto-calibrated");
  return t.perConcept[concept] ?? t.default;
}
