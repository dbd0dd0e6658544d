/**
 * Small real datasets and real runtimes for the hostile tests: a COCO-format copy of a few
 * synthetic experiment images (real PNGs, real polygons) that a test then damages, the committed
 * models/tiny bundle and the real BERTScore encoder.
 */
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { parseSpec, type SweepSpec } from "../../core/spec.js";
import { resolveDataset } from "../../core/pipeline/plan.js";
import type { PipelineContext } from "../../core/pipeline/context.js";
import { type ArtifactStore } from "../../core/store/index.js";
import { loadModel, type ModelRuntime } from "../../core/model/runtime.js";
import { createBertScorer, DEFAULT_MINILM_DIR, type BertScorer } from "../../core/eval/metrics/index.js";
import { PROJECT_ROOT } from "../../temporal.config.js";

export const BUNDLE = path.join(PROJECT_ROOT, "models", "tiny");

interface Coco {
  images: { id: number; file_name: string; width: number; height: number; kneuron?: { role: string; concept?: string } }[];
  annotations: { id: number; image_id: number; category_id: number; bbox: number[]; area: number; iscrowd: number; segmentation?: unknown }[];
  categories: { id: number; name: string; supercategory?: string }[];
}

/**
 * `<dir>/val2017/*.png` + `<dir>/annotations/instances_val2017.json`: the synthetic experiment
 * split's `samples` bear samples and `others` further images, without the generator's markers (so
 * samples are chosen as for real COCO, by category id), categories renamed by `rename`.
 */
export async function cocoSubset(dir: string, o: { samples: number; others: number; rename?: (name: string) => string }): Promise<Coco> {
  const synth = await resolveDataset(parseSpec({}));
  const src = JSON.parse(await readFile(synth.instances, "utf8")) as Coco;
  const bears = src.images.filter((i) => i.kneuron?.role === "sample" && i.kneuron.concept === "bear").slice(0, o.samples);
  const others = src.images.filter((i) => i.kneuron?.role === "sample" && i.kneuron.concept !== "bear").slice(0, o.others);
  const keep = [...bears, ...others];
  const ids = new Set(keep.map((i) => i.id));
  await mkdir(path.join(dir, "val2017"), { recursive: true });
  await mkdir(path.join(dir, "annotations"), { recursive: true });
  for (const img of keep) await copyFile(path.join(synth.dir, synth.split, img.file_name), path.join(dir, "val2017", img.file_name));
  const coco: Coco = {
    images: keep.map(({ kneuron: _k, ...i }) => i),
    annotations: src.annotations.filter((a) => ids.has(a.image_id)),
    categories: src.categories.map((c) => ({ ...c, name: o.rename ? o.rename(c.name) : c.name })),
  };
  await writeCoco(dir, coco);
  return coco;
}

export const writeCoco = (dir: string, coco: Coco) => writeFile(path.join(dir, "annotations", "instances_val2017.json"), JSON.stringify(coco));

/** The smallest spec that runs every step: one concept, one method, one noise level and draw. */
export function smallSpec(dataset: SweepSpec["dataset"] | undefined, extra: Record<string, unknown> = {}): SweepSpec {
  return parseSpec({
    ...(dataset ? { dataset } : {}),
    bundle: BUNDLE, concepts: ["bear"], samplesPerConcept: 1, methods: ["two-stage"],
    noise: { levels: [15], draws: 1 }, eval: { otherImages: 2, maxNewTokens: 12, bootstrap: { resamples: 100 } },
    // The exhaustive single-neuron ground truth (every FFN neuron of the model) is tested in
    // causal-steps.test.ts; here it would only multiply the cost of every hostile run.
    causal: { groundTruth: "off" },
    ...extra,
  });
}

let bert: Promise<BertScorer> | undefined;

/** A pipeline context over `store` with its own model session (as a separate run would have). */
export function runtimeContext(store: ArtifactStore): PipelineContext & { close(): Promise<void> } {
  let model: Promise<ModelRuntime> | undefined;
  return {
    store,
    // One thread per session: the concurrent-run tests hold four sessions on a small machine.
    model: () => (model ??= loadModel(BUNDLE, { intraOpThreads: 1 })),
    bertScorer: () => (bert ??= createBertScorer({ dir: path.resolve(PROJECT_ROOT, DEFAULT_MINILM_DIR) })),
    close: async () => void (await (await model)?.close()),
  };
}
