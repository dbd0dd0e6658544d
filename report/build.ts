// Builds a sweep's report from stored artifacts alone (nothing is recomputed) and writes it to
// the ArtifactStore as one step: index.html plus the images and result files beside it, so the
// step directory (or an export of it) opens from disk with no server.
import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { extname, join, resolve } from "node:path";
import sharp from "sharp";
import { z } from "zod";
import { BadInputError } from "../core/errors.js";
import type { SweepResults } from "../core/pipeline/aggregate.js";
import type { SweepPlan } from "../core/pipeline/plan.js";
import { readLatest, readSweepSpec, sweepRecordKey, writeReportRecord } from "../core/pipeline/records.js";
import type { SweepSpec } from "../core/spec.js";
import { ArtifactNotFoundError, type ArtifactStore, isComplete, readStep, safeSegment, stepKey, writeStep } from "../core/store/index.js";
import { readTree, readTreeFile, type Tree } from "../core/store/cache.js";
import { relativeName } from "../core/data/identity.js";
import { datasetTreeKey } from "../core/pipeline/push.js";
import { renderReport, type SampleImages } from "./render.js";

export type { SampleImages };

export class ReportError extends BadInputError {
  constructor(readonly item: string, readonly problem: string) {
    super(`report: ${item}: ${problem}`);
    this.name = "ReportError";
  }
}

/** The parts of results.json the page cannot do without; the rest is read as typed. */
const ResultsShape = z.looseObject({
  sweepId: z.string(), concepts: z.array(z.string()), methods: z.array(z.string()), levels: z.array(z.number()),
  table2: z.array(z.unknown()), table3: z.array(z.unknown()), table4: z.array(z.unknown()), calibration: z.array(z.unknown()),
  layers: z.record(z.string(), z.array(z.number())), samples: z.array(z.unknown()), interpretations: z.array(z.unknown()),
  examples: z.array(z.unknown()), failures: z.array(z.unknown()), differences: z.array(z.unknown()),
  evaluation: z.looseObject({ sets: z.enum(["faithful", "all"]), bootstrap: z.looseObject({ resamples: z.number(), seed: z.number(), level: z.number() }) }),
});

/** The result files copied beside the page for download. */
const DOWNLOADS = ["results.json", "table2.csv", "differences.csv", "table3.csv", "table4.csv", "layers.csv", "neurons.csv", "samples.csv", "examples.csv", "captions.csv", "captions.parquet", "ablation.csv", "groundtruth.csv", "localisation.csv"];

/** Widest image the page shows (2.5× its 136 px display width, for zoom and high-DPI screens). */
export const THUMB_WIDTH = 384;

/**
 * An image as the page shows it: unchanged when it is small (the synthetic scenes), else scaled
 * to THUMB_WIDTH and re-encoded (PNG stays PNG for masks and heatmaps, photos become JPEG), so a
 * report of COCO-sized images stays small. Display only: no result depends on it.
 */
export async function thumbnail(bytes: Uint8Array, ext: string): Promise<{ bytes: Uint8Array; ext: string }> {
  const meta = await sharp(bytes).metadata();
  if ((meta.width ?? 0) <= THUMB_WIDTH) return { bytes, ext };
  const img = sharp(bytes).resize({ width: THUMB_WIDTH });
  if (ext === ".png") return { bytes: new Uint8Array(await img.png({ compressionLevel: 9 }).toBuffer()), ext };
  return { bytes: new Uint8Array(await img.jpeg({ quality: 85 }).toBuffer()), ext: ".jpg" };
}

export interface BuildReportOptions {
  store: ArtifactStore;
  /** The sweep whose `sweeps/<id>/latest.json` names the results; or give resultsKey directly. */
  sweepId?: string;
  resultsKey?: string;
  /** The plan step of those results (for the original images); found via latest.json if omitted. */
  planKey?: string;
}

export interface BuiltReport {
  /** The report step's key; its `index.html` is the page. */
  key: string;
  /** File names in the step (index.html first). */
  files: string[];
  /** True when an identical report was already in the store. */
  reused: boolean;
  /** The step's image file per sample and role (original, inpainted, mask, heatmap). */
  images: Record<string, SampleImages>;
}

async function openStep(store: ArtifactStore, key: string, what: string) {
  try {
    return await readStep(store, key);
  } catch (e) {
    if (e instanceof ArtifactNotFoundError) throw new ReportError(what, `step ${key} is not finished or absent`);
    throw e;
  }
}

export async function buildReport(opts: BuildReportOptions): Promise<BuiltReport> {
  const { store } = opts;
  let resultsKey = opts.resultsKey;
  let planKey: string | undefined;
  if (!resultsKey) {
    if (!opts.sweepId) throw new ReportError("buildReport", "give a sweepId or a resultsKey");
    const latest = await readLatest(store, opts.sweepId);
    if (!latest) throw new ReportError(`sweep ${opts.sweepId}`, `not in the store (${sweepRecordKey(opts.sweepId, "latest.json")})`);
    ({ resultsKey, planKey } = latest);
  }
  const resultsStep = await openStep(store, resultsKey, "results");
  if (!resultsStep.manifest.files["results.json"]) throw new ReportError(`results ${resultsKey}`, "the step holds no results.json (not a sweep's results step)");
  const rawResults = await resultsStep.readJson<unknown>("results.json");
  const shape = ResultsShape.safeParse(rawResults);
  if (!shape.success) {
    // Results aggregated before the evaluation had intervals carry Table II but no differences.
    const old = typeof rawResults === "object" && rawResults !== null && "table2" in rawResults && !("differences" in rawResults);
    if (old) throw new ReportError(`results ${resultsKey}`, "results.json predates the evaluation with intervals (no differences or evaluation): aggregate the sweep again with this version");
    throw new ReportError(`results ${resultsKey}`, `results.json is not a sweep result: ${z.prettifyError(shape.error).replace(/\n/g, "; ")}`);
  }
  const results = rawResults as SweepResults;
  const sweepId = safeSegment(opts.sweepId ?? results.sweepId);
  // Given only a results key, the plan (original image paths) is the one the sweep's pointer
  // names with those same results.
  planKey ??= opts.planKey;
  if (!planKey) {
    const latest = await readLatest(store, sweepId);
    if (latest?.resultsKey === resultsKey) planKey = latest.planKey;
  }

  // Every run stores its spec (sweep start, the plan activity, the direct runner); results copied
  // without it have none (the page says so).
  const spec: SweepSpec | null = (await readSweepSpec(store, sweepId)) ?? null;

  const plan = planKey ? await (await openStep(store, planKey, "plan")).readJson<SweepPlan>("plan.json") : null;
  const files: Record<string, Uint8Array | string> = {};
  const images: Record<string, SampleImages> = {};
  const missing: Record<string, string[]> = {};
  // Content-addressed names: an image shared by samples (or rebuilt unchanged) is stored once.
  const place = async (original: Uint8Array, originalExt: string) => {
    const { bytes, ext } = await thumbnail(original, originalExt);
    const name = `img-${createHash("sha256").update(bytes).digest("hex").slice(0, 16)}${ext}`;
    files[name] = bytes;
    return name;
  };
  // The original image from the plan's path, or — on a host without the data — from the dataset
  // tree pushed to the store for workers on other hosts (`--push`), verified against its hash.
  let pushed: Promise<Tree | undefined> | undefined;
  const originalBytes = async (file: string): Promise<Uint8Array> => {
    try {
      return new Uint8Array(await readFile(file));
    } catch (e) {
      pushed ??= plan ? readTree(store, datasetTreeKey(plan.dataset.sha256)) : Promise.resolve(undefined);
      const tree = await pushed;
      const bytes = tree && plan ? await readTreeFile(store, tree, relativeName(plan.dataset.dir, file)) : undefined;
      if (!bytes) throw e;
      return bytes;
    }
  };
  for (const s of results.samples) {
    const im: SampleImages = (images[s.sampleId] = {});
    const miss = (missing[s.sampleId] = [] as string[]);
    const file = plan?.samples.find((p) => p.id === s.sampleId)?.file;
    if (file) {
      try {
        im.original = await place(await originalBytes(file), extname(file).toLowerCase() || ".png");
      } catch (e) {
        miss.push(`original image ${file} is not readable here (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}) nor in the store's pushed dataset`);
      }
    } else miss.push(plan ? "sample not in the plan" : "no plan recorded, so no original image");
    const inpaint = await openStep(store, s.inpaintKey, `inpainting of ${s.sampleId}`);
    im.inpainted = await place(await inpaint.read("inpainted.png"), ".png");
    if (inpaint.manifest.files["mask.png"]) im.mask = await place(await inpaint.read("mask.png"), ".png");
    if (s.heatmapKey) {
      const interp = await openStep(store, s.heatmapKey, `interpretation of ${s.sampleId}`);
      if (interp.manifest.files["heatmap.png"]) im.heatmap = await place(await interp.read("heatmap.png"), ".png");
      else miss.push("no heatmap (the two-stage group is empty)");
    }
  }
  const downloads = DOWNLOADS.filter((f) => resultsStep.manifest.files[f]);
  for (const f of downloads) files[f] = await resultsStep.read(f);

  const page = await renderReport({
    results, spec, keys: { results: resultsKey, plan: planKey }, images, missing, downloads,
    // The results' own time, not the build's: the same results give the same page (and key).
    resultsAt: resultsStep.manifest.createdAt.replace(/\.\d+Z$/, "Z"),
  });
  files["index.html"] = page;
  // Keyed by content: the same results rendered by the same code land on the same key.
  const digest = Object.fromEntries(Object.entries(files).map(([n, b]) => [n, createHash("sha256").update(b).digest("hex")]));
  const key = stepKey(`sweeps/${sweepId}/report`, { resultsKey, files: digest });
  const names = ["index.html", ...Object.keys(files).filter((n) => n !== "index.html").sort()];
  const reused = await isComplete(store, key);
  if (!reused) await writeStep(store, key, files, { step: `sweeps/${sweepId}/report`, resultsKey, planKey });
  await writeReportRecord(store, sweepId, { reportKey: key, resultsKey });
  return { key, files: names, reused, images };
}

/** Copies a report step into a local directory; returns the path of its index.html. */
export async function exportReport(store: ArtifactStore, key: string, outDir: string): Promise<string> {
  const step = await openStep(store, key, "report");
  if (!step.manifest.files["index.html"]) throw new ReportError(`step ${key}`, "is not a report (no index.html)");
  const dir = resolve(outDir);
  await mkdir(dir, { recursive: true });
  for (const name of Object.keys(step.manifest.files)) await writeFile(join(dir, name), await step.read(name));
  return join(dir, "index.html");
}
