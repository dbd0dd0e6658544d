// Sweep planning: resolve the dataset, pick the samples of each knowledge, list the evaluation
// images. The plan is an artifact; every later step refers to it by key.
import { createHash } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { conceptOfCategory, imageInside, loadCoco, type CocoDataset } from "../data/coco.js";
import { cocoCategory, CONCEPTS } from "../data/concepts.js";
import { sampleCandidates } from "../data/select.js";
import { DataError } from "../data/errors.js";
import { datasetIdentity, relativeName } from "../data/identity.js";
import { isBadInput, type ItemFailure } from "../errors.js";
import { loadImage } from "../image/io.js";
import { safeSegment } from "../store/index.js";
import type { SweepSpec } from "../spec.js";
import { cachedStep, json, readJson, type PipelineContext } from "./context.js";

export interface SampleRef {
  /** `<concept>/<imageId>-<annotationId>`, safe as a key segment pair. */
  id: string;
  concept: string;
  imageId: number;
  annotationId: number;
  file: string;
}

export interface EvalImage {
  imageId: number;
  file: string;
  /** Knowledge annotated on the image (what its caption should mention). */
  concepts: string[];
}

/** A sample or image the plan leaves out, with the reason (core/errors ItemFailure). */
export type PlanFailure = ItemFailure;

export interface SweepPlan {
  sweepId: string;
  dataset: { kind: string; dir: string; split: string; instances: string; captions?: string; sha256: string };
  bundle: { dir: string; sha256: string };
  concepts: string[];
  samples: SampleRef[];
  evalImages: EvalImage[];
  /** Held-out images for `auto` threshold calibration (never scored). */
  calibration: { split: string; instances: string; samples: SampleRef[]; images: EvalImage[] } | null;
  failures: PlanFailure[];
}

const sha256 = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex");

export interface ResolvedDataset {
  kind: string;
  dir: string;
  split: string;
  instances: string;
  captions?: string;
  calibrationSplit?: string;
}

/** Where the dataset lives; the synthetic one is generated (and cached) on first use. */
export async function resolveDataset(spec: SweepSpec, check = true): Promise<ResolvedDataset> {
  if (spec.dataset.kind === "synthetic") {
    const { generateSynthetic } = await import("../data/synth/generate.js");
    const dir = resolve(spec.dataset.dir ?? join(".cache", `synth-seed${spec.dataset.seed}`));
    // Only the splits a sweep reads (the training split is the trainer's, and large).
    if (check) await generateSynthetic({ outDir: dir, seed: spec.dataset.seed, splits: ["experiment", "calibration"] });
    const split = spec.dataset.split;
    return {
      kind: "synthetic", dir, split, calibrationSplit: split === "experiment" ? "calibration" : undefined,
      instances: join(dir, "annotations", `instances_${split}.json`),
      captions: join(dir, "annotations", `captions_${split}.json`),
    };
  }
  const dir = resolve(spec.dataset.dir);
  const instances = join(dir, "annotations", `instances_${spec.dataset.split}.json`);
  if (check) await stat(instances).catch(() => {
    throw new DataError(instances, "COCO instances file not found (expected <dir>/annotations/instances_<split>.json)");
  });
  return { kind: "coco", dir, split: spec.dataset.split, instances };
}

function imagePath(ds: ResolvedDataset, split: string, fileName: string): string {
  return join(ds.dir, split, fileName);
}

function evalImagesOf(coco: CocoDataset, ds: ResolvedDataset, split: string, concepts: Set<string>): EvalImage[] {
  return coco.images.map((img) => {
    const names = new Set<string>();
    for (const a of coco.annsByImage.get(img.id) ?? []) {
      const name = conceptOfCategory(a.category_id);
      if (name !== undefined && concepts.has(name)) names.add(name);
    }
    return { imageId: img.id, file: imagePath(ds, split, img.file_name), concepts: [...names].sort() };
  }).sort((a, b) => a.imageId - b.imageId);
}

function samplesOf(coco: CocoDataset, ds: ResolvedDataset, split: string, concept: string, n: number): SampleRef[] {
  return sampleCandidates(coco, concept, { limit: n }).map((s) => ({
    id: `${safeSegment(concept)}/${s.imageId}-${s.annotationId}`,
    concept,
    imageId: s.imageId,
    annotationId: s.annotationId,
    file: imagePath(ds, split, coco.image(s.imageId).file_name),
  }));
}

/** Files outside `root` (after symlinks) or that do not decode, with the reason (each read once, 8 at a time). */
async function undecodable(files: string[], root: string): Promise<Map<string, string>> {
  const bad = new Map<string, string>();
  const unique = [...new Set(files)];
  for (let i = 0; i < unique.length; i += 8) {
    await Promise.all(unique.slice(i, i + 8).map((f) => imageInside(root, f).then((real) => loadImage(real, f)).catch((e) => {
      if (!isBadInput(e)) throw e; // DataError, ImageDecodeError: this file only
      bad.set(f, e.message);
    })));
  }
  return bad;
}

/** A corrupt image fails its own items (its sample, its evaluation slot) and never the whole sweep. */
async function dropUndecodable(samples: SampleRef[], images: EvalImage[], failures: PlanFailure[], root: string): Promise<{ samples: SampleRef[]; images: EvalImage[] }> {
  const bad = await undecodable([...samples.map((s) => s.file), ...images.map((i) => i.file)], root);
  if (bad.size === 0) return { samples, images };
  for (const s of samples) if (bad.has(s.file)) failures.push({ item: `sample ${s.id}`, reason: bad.get(s.file)! });
  for (const i of images) if (bad.has(i.file)) failures.push({ item: `image ${i.imageId}`, reason: bad.get(i.file)! });
  return { samples: samples.filter((s) => !bad.has(s.file)), images: images.filter((i) => !bad.has(i.file)) };
}

/**
 * The plan with its dataset files under `to.dataset` and its bundle at `to.bundle` (the same
 * relative names): a worker's local copies (core/store/cache.ts), or back to the spec's places.
 */
export function relocatePlan(plan: SweepPlan, to: { dataset: string; bundle: string }): SweepPlan {
  const move = (f: string) => join(to.dataset, relativeName(plan.dataset.dir, f));
  const all = <T extends { file: string }>(xs: T[]) => xs.map((x) => ({ ...x, file: move(x.file) }));
  const { dataset: d, calibration: c } = plan;
  return {
    ...plan,
    dataset: { ...d, dir: to.dataset, instances: move(d.instances), captions: d.captions === undefined ? undefined : move(d.captions) },
    bundle: { ...plan.bundle, dir: to.bundle },
    samples: all(plan.samples),
    evalImages: all(plan.evalImages),
    calibration: c && { ...c, instances: move(c.instances), samples: all(c.samples), images: all(c.images) },
  };
}

/**
 * Build (or reuse) the plan of a sweep. Unknown concepts become recorded failures, not a crash.
 * `local`: read the dataset and bundle from these copies (a worker's cache); the plan still names
 * the spec's places, so it is the same plan, file for file, as on the host that has them.
 */
export async function planSweep(ctx: PipelineContext, sweepId: string, asked: SweepSpec, local?: { dataset: string; bundle: string }): Promise<{ key: string; plan: SweepPlan }> {
  const spec: SweepSpec = local ? { ...asked, bundle: local.bundle, dataset: { ...asked.dataset, dir: local.dataset } } : asked;
  const ds = await resolveDataset(spec);
  const bundleDir = resolve(spec.bundle);
  const bundleJson = await readFile(join(bundleDir, "bundle.json")).catch(() => {
    throw new DataError(bundleDir, "not a model bundle (no bundle.json)");
  });
  // Path-free: the data and the bundle by content, the spec without where they lie.
  const splits = [ds.split, ...(ds.calibrationSplit ? [ds.calibrationSplit] : [])].map((s) => ({ instances: join(ds.dir, "annotations", `instances_${s}.json`), imageDir: join(ds.dir, s) }));
  const located = { bundle: undefined, dataset: { ...spec.dataset, dir: undefined } };
  const inputs = { sweepId, spec: { ...spec, ...located }, dataset: (await datasetIdentity(ds.dir, splits)).sha256, bundle: sha256(bundleJson) };
  const key = await cachedStep(ctx, `sweeps/${safeSegment(sweepId)}/plan`, inputs, async () => {
    const coco = await loadCoco({ instancesPath: ds.instances, captionsPath: ds.captions });
    const failures: PlanFailure[] = [];
    // Each concept once: a repeated name would sweep (and key) the same samples twice.
    const wanted = [...new Set(spec.concepts.length ? spec.concepts : CONCEPTS.map((c) => c.name))];
    const concepts: string[] = [];
    for (const c of wanted) {
      try {
        cocoCategory(c);
        concepts.push(c);
      } catch (e) {
        failures.push({ item: `concept ${JSON.stringify(c)}`, reason: (e as Error).message });
      }
    }
    let samples: SampleRef[] = [];
    for (const c of concepts) {
      const picked = samplesOf(coco, ds, ds.split, c, spec.samplesPerConcept);
      if (picked.length < spec.samplesPerConcept) failures.push({ item: `concept ${c}`, reason: `only ${picked.length} of ${spec.samplesPerConcept} samples in ${ds.split}` });
      samples.push(...picked);
    }
    // Every concept the dataset annotates counts for retention, not only the swept ones.
    const all = new Set(CONCEPTS.map((c) => c.name).concat(concepts));
    let evalImages = evalImagesOf(coco, ds, ds.split, all);
    ({ samples, images: evalImages } = await dropUndecodable(samples, evalImages, failures, ds.dir));
    let calibration: SweepPlan["calibration"] = null;
    if (spec.thresholds.mode === "auto" && ds.calibrationSplit) {
      const calInstances = join(ds.dir, "annotations", `instances_${ds.calibrationSplit}.json`);
      const cal = await loadCoco({ instancesPath: calInstances });
      const calSamples = concepts.flatMap((c) => samplesOf(cal, ds, ds.calibrationSplit!, c, spec.thresholds.mode === "auto" ? spec.thresholds.calibrationSamples : 0));
      const checked = await dropUndecodable(calSamples, evalImagesOf(cal, ds, ds.calibrationSplit, all), failures, ds.dir);
      calibration = { split: ds.calibrationSplit, instances: calInstances, samples: checked.samples, images: checked.images };
    }
    const plan: SweepPlan = {
      sweepId,
      dataset: { kind: ds.kind, dir: ds.dir, split: ds.split, instances: ds.instances, captions: ds.captions, sha256: inputs.dataset },
      bundle: { dir: bundleDir, sha256: inputs.bundle },
      concepts, samples, evalImages, calibration, failures,
    };
    const placed = local ? relocatePlan(plan, { dataset: (await resolveDataset(asked, false)).dir, bundle: resolve(asked.bundle) }) : plan;
    return { "plan.json": json(placed) };
  });
  return { key, plan: await readJson<SweepPlan>(ctx, key, "plan.json") };
}
