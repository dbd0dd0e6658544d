// What a sweep will cost, from its spec and its bundle alone (before any data is read), so a
// run that cannot fit is refused with the numbers before it starts. Rough on purpose: the
// evaluation set's size is assumed, not read (ASSUMED_IMAGES_OF_K, splitImages), and the caption rate is the tiny
// model's measured one scaled by model size.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { CONCEPTS } from "../data/concepts.js";
import { BadInputError } from "../errors.js";
import { CONTROL_METHODS, type SweepSpec } from "../spec.js";

/** Images of one knowledge in an evaluation set (the synthetic experiment split: 120 images / 30 concepts). */
const ASSUMED_IMAGES_OF_K = 4;
/** Images in the split: the synthetic experiment split; COCO val2017, or train2017 for a train split. */
const splitImages = (d: SweepSpec["dataset"]) => (d.kind === "synthetic" ? 120 : d.split.startsWith("train") ? 118_287 : 5000);
/**
 * Calibrated on the full default sweep of models/tiny v5 (6 x 192 x 576), 2 quiet CPU cores
 * (docs/METHOD.md): 25.5 min of wall time for ≈ 70,000 captions (60 accepted samples) and 76,032
 * ground-truth rows. The row rate is v1's measured 470 rows/s (1,536-neuron model) scaled by the
 * per-row work (x 2.3), which leaves ≈ 61 captions/s for the rest. Every sample is counted as
 * accepted, so the default sweep's estimate (≈ 37 min) is an upper bound. A loaded machine is 2-4x slower.
 */
const TINY_ABLATION_ROWS_PER_S = 200;
const TINY_CAPTIONS_PER_S = 60;
const TINY_SIZE = 6 * 192 * 576; // layers x hidden x ffnDim of models/tiny
/** Node, onnxruntime, BERTScore encoder, sharp and OpenCV.js before any sweep data. */
const BASE_BYTES = 600 * 2 ** 20;

export interface BundleShape {
  family: string;
  layers: number;
  hidden: number;
  ffnDim: number;
  imageTokens: number;
  files: Record<string, { bytes: number }>;
}

export interface RunEstimate {
  captions: number;
  seconds: number;
  /** Peak memory of the process that runs the model (the direct runner, or one model worker). */
  bytes: number;
  /** How the numbers were reached, for the printout. */
  basis: string;
}

export async function readBundleShape(dir: string): Promise<BundleShape> {
  const file = join(dir, "bundle.json");
  const text = await readFile(file, "utf8").catch(() => {
    throw new BadInputError(`${dir}: not a model bundle (no bundle.json)`);
  });
  try {
    return JSON.parse(text) as BundleShape;
  } catch (e) {
    throw new BadInputError(`${file}: not JSON (${(e as Error).message})`);
  }
}

export function estimateRun(spec: SweepSpec, bundle: BundleShape): RunEstimate {
  const concepts = spec.concepts.length || CONCEPTS.length;
  const samples = concepts * spec.samplesPerConcept;
  const split = splitImages(spec.dataset);
  const evalImages = spec.eval.otherImages === "all" ? split : Math.min(split, ASSUMED_IMAGES_OF_K + spec.eval.otherImages);
  const groups = spec.methods.reduce((n, m) => n + (CONTROL_METHODS.includes(m) ? spec.randomGroups : 1), 0);
  const runsPerGroup = spec.noise.levels.length * spec.noise.draws;
  // Clean captions of the split, two constraint captions per sample, the noise runs of every group
  // (every sample counted as accepted: an upper bound).
  // The causal tests: one caption per group and image under ablation, and the ground truth's L·D
  // teacher-forced rows for the first sample of each knowledge (or every sample).
  const causal = spec.causal.enabled;
  const ablationCaptions = causal && spec.causal.captions ? samples * groups * evalImages : 0;
  const neurons = bundle.layers * bundle.ffnDim;
  const gtSamples = !causal || spec.causal.groundTruth === "off" || neurons > spec.causal.groundTruthMaxNeurons ? 0 : spec.causal.groundTruth === "all" ? samples : concepts;
  const captions = split + 2 * samples + samples * groups * runsPerGroup * evalImages + ablationCaptions;
  const size = bundle.layers * bundle.hidden * bundle.ffnDim;
  const speed = Math.min(1, TINY_SIZE / size);
  const seconds = captions / (TINY_CAPTIONS_PER_S * speed) + (gtSamples * neurons) / (TINY_ABLATION_ROWS_PER_S * speed);
  const modelBytes = Object.values(bundle.files).reduce((s, f) => s + f.bytes, 0);
  // One noise level of one group is held at once: a dense delta per draw, the captions of
  // draws x images, the image embeddings.
  const level =
    spec.noise.draws * bundle.layers * bundle.ffnDim * 4 +
    spec.noise.draws * evalImages * (spec.eval.maxNewTokens * 16 + 256) +
    evalImages * bundle.imageTokens * bundle.hidden * 4;
  const bytes = BASE_BYTES + 2 * modelBytes + 2 * level;
  const basis = `${concepts} concepts × ${spec.samplesPerConcept} samples × ${groups} groups × ${runsPerGroup} noise runs × ≈${evalImages} images` +
    (gtSamples ? `; ground truth ${gtSamples} × ${neurons} single-neuron ablations` : "");
  return { captions, seconds, bytes, basis };
}

export const formatBytes = (b: number) => (b >= 2 ** 30 ? `${(b / 2 ** 30).toFixed(1)} GiB` : `${Math.ceil(b / 2 ** 20)} MiB`);

export function formatDuration(s: number): string {
  if (s < 90) return `${Math.ceil(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86_400).toFixed(1)} days`;
}

/** A run whose estimated peak memory exceeds what this machine has. */
export class RunTooLargeError extends BadInputError {}

/** The estimate line a run prints; throws RunTooLargeError (with both numbers) when it cannot fit in `availableBytes`. */
export function checkEstimate(e: RunEstimate, availableBytes: number): string {
  const line = `≈ ${e.captions.toLocaleString("en-US")} captions, ≈ ${formatDuration(e.seconds)}, peak memory ≈ ${formatBytes(e.bytes)} (${e.basis})`;
  if (e.bytes > availableBytes) {
    throw new RunTooLargeError(`this run needs about ${formatBytes(e.bytes)} of memory, more than the ${formatBytes(availableBytes)} this machine has (${e.basis}); lower noise.draws, eval.otherImages or eval.maxNewTokens`);
  }
  return line;
}
