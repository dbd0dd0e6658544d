/**
 * Synthetic COCO 2017-format scenes: emoji objects on procedural backgrounds, with instances
 * and captions files exactly as COCO lays them out, deterministic from a seed and cached.
 *
 *   <out>/<split>/<000000000001>.png
 *   <out>/annotations/instances_<split>.json, captions_<split>.json
 */
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { z } from "zod";
import { COCO_CATEGORIES, CONCEPTS, HELD_OUT_STYLE, TRAIN_STYLES, type Concept, type IconStyle } from "../concepts.js";
import { DataError } from "../errors.js";
import { maskArea, segmentationToMask } from "../mask.js";
import type { SynthMarker } from "../select.js";
import { BACKGROUNDS, type Background } from "./backgrounds.js";
import { hasIcon, sprite } from "./icons.js";
import { Rng } from "../../rng.js";

/** Bump when the output for a given seed changes; cached sets with another version are rebuilt. */
export const SYNTH_VERSION = 2; // 2: train/val draw in five icon styles (was two)

export const SPLITS = ["train", "val", "experiment", "calibration"] as const;
export type SplitName = (typeof SPLITS)[number];

export const DEFAULT_SIZES: Record<SplitName, number> = { train: 6000, val: 300, experiment: 120, calibration: 60 };

export const SynthOptionsSchema = z.object({
  outDir: z.string().min(1),
  seed: z.number().int().nonnegative(),
  splits: z.array(z.enum(SPLITS)).min(1).default([...SPLITS]),
  /** Images per split. experiment: the first concepts × samplesPerConcept are samples, the rest distractors. */
  sizes: z.partialRecord(z.enum(SPLITS), z.number().int().nonnegative()).default({}),
  samplesPerConcept: z.number().int().positive().default(3),
  imageSize: z.number().int().min(32).max(1024).default(128),
  /** Regenerate even when a matching cached split exists. */
  force: z.boolean().default(false),
});
export type SynthOptions = z.input<typeof SynthOptionsSchema> & {
  onProgress?: (split: SplitName, done: number, total: number) => void;
};

export interface SynthSplitResult {
  split: SplitName;
  images: number;
  annotations: number;
  imageDir: string;
  instancesPath: string;
  captionsPath: string;
  reused: boolean;
  seconds: number;
}
export interface SynthResult {
  outDir: string;
  seed: number;
  version: number;
  splits: Partial<Record<SplitName, SynthSplitResult>>;
}

const ID_BASE: Record<SplitName, number> = { train: 0, val: 1_000_000, experiment: 2_000_000, calibration: 3_000_000 };
const STYLE_LICENSE: Record<IconStyle, number> = { noto: 1, twemoji: 2, "fluent-emoji-flat": 3, openmoji: 4, emojione: 5, "noto-v1": 6 };
const LICENSES = [
  { id: 1, name: "Apache License 2.0 (Noto Emoji, Google)", url: "https://www.apache.org/licenses/LICENSE-2.0" },
  { id: 2, name: "CC BY 4.0 (Twemoji, Twitter)", url: "https://creativecommons.org/licenses/by/4.0/" },
  { id: 3, name: "MIT License (Fluent Emoji, Microsoft)", url: "https://opensource.org/licenses/MIT" },
  { id: 4, name: "CC BY-SA 4.0 (OpenMoji)", url: "https://creativecommons.org/licenses/by-sa/4.0/" },
  { id: 5, name: "CC BY 4.0 (Emoji One)", url: "https://creativecommons.org/licenses/by/4.0/" },
  { id: 6, name: "Apache License 2.0 (Noto Emoji v1, Google)", url: "https://www.apache.org/licenses/LICENSE-2.0" },
];

/** The object's caption word: the COCO name, except where that is not how one says it. */
const CAPTION_WORD: Record<string, string> = { "sports ball": "ball" };
export const captionWord = (c: Concept): string => CAPTION_WORD[c.name] ?? c.name;

interface PlannedObject {
  concept: Concept;
  /** content size: the icon's longer visible side, px */
  size: number;
  x: number;
  y: number;
  w: number;
  h: number;
  target: boolean;
}
interface PlannedImage {
  index: number;
  id: number;
  style: IconStyle;
  background: Background;
  objects: PlannedObject[];
  role: SynthMarker["role"];
  concept?: Concept;
}

/** Generate (or reuse) the requested splits. */
export async function generateSynthetic(options: SynthOptions): Promise<SynthResult> {
  const parsed = SynthOptionsSchema.safeParse(options);
  if (!parsed.success) throw new DataError("synth options", parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
  const opts = parsed.data;
  const out = opts.outDir;
  await mkdir(join(out, "annotations"), { recursive: true });
  const stampPath = join(out, ".kneuron-synth.json");
  const stamp = await readStamp(stampPath);
  const result: SynthResult = { outDir: out, seed: opts.seed, version: SYNTH_VERSION, splits: {} };
  for (const split of opts.splits) {
    const params = { version: SYNTH_VERSION, seed: opts.seed, imageSize: opts.imageSize, size: opts.sizes[split] ?? DEFAULT_SIZES[split], samplesPerConcept: opts.samplesPerConcept };
    const paths = splitPaths(out, split);
    const cached = stamp[split];
    if (!opts.force && cached && JSON.stringify(cached.params) === JSON.stringify(params) && existsSync(paths.instancesPath) && existsSync(paths.captionsPath)) {
      result.splits[split] = { split, ...paths, images: cached.images, annotations: cached.annotations, reused: true, seconds: 0 };
      continue;
    }
    delete stamp[split];
    await writeFile(stampPath, JSON.stringify(stamp, null, 2));
    const t0 = performance.now();
    const { images, annotations } = await renderSplit(split, params.size, opts, paths, options.onProgress);
    stamp[split] = { params, images, annotations };
    await writeFile(stampPath, JSON.stringify(stamp, null, 2)); // last: the split is done iff stamped
    result.splits[split] = { split, ...paths, images, annotations, reused: false, seconds: (performance.now() - t0) / 1000 };
  }
  return result;
}

function splitPaths(out: string, split: SplitName) {
  return {
    imageDir: join(out, split),
    instancesPath: join(out, "annotations", `instances_${split}.json`),
    captionsPath: join(out, "annotations", `captions_${split}.json`),
  };
}

type Stamp = Partial<Record<SplitName, { params: unknown; images: number; annotations: number }>>;
async function readStamp(path: string): Promise<Stamp> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as Stamp;
  } catch {
    return {};
  }
}

/** Plan every image of a split first (cheap, deterministic), then render them. */
export async function planSplit(split: SplitName, count: number, seed: number, imageSize: number, samplesPerConcept = 3): Promise<PlannedImage[]> {
  const plans: PlannedImage[] = [];
  const styles: readonly IconStyle[] = split === "train" || split === "val" ? TRAIN_STYLES : [HELD_OUT_STYLE];
  for (let i = 0; i < count; i++) {
    const rng = new Rng(`kneuron-synth/${seed}/${split}/${i}`);
    const id = ID_BASE[split] + i + 1;
    let style = rng.pick(styles);
    const background = rng.pick(BACKGROUNDS);
    let role: SynthMarker["role"] = "scene";
    let target: Concept | undefined;
    let concepts: Concept[];
    if (split === "experiment" && i < CONCEPTS.length * samplesPerConcept) {
      role = "sample";
      target = CONCEPTS[Math.floor(i / samplesPerConcept)];
    } else if (split === "calibration") {
      role = "calibration";
      target = CONCEPTS[i % CONCEPTS.length];
    } else if (split === "experiment") role = "distractor";
    if (target) {
      // The target, and usually one object of another supercategory (the "other knowledge").
      const others = CONCEPTS.filter((c) => c.supercategory !== target!.supercategory);
      concepts = rng.next() < 0.8 ? [target, rng.pick(others)] : [target];
    } else {
      const n = 1 + rng.weighted(role === "distractor" ? [0.4, 0.6] : [0.35, 0.4, 0.25]);
      concepts = rng.shuffle([...CONCEPTS]).slice(0, n);
    }
    // A style that lacks one of the scene's icons hands the scene to one that draws them all.
    const drawsAll = (s: IconStyle) => concepts.every((c) => hasIcon(s, c.icons[s]));
    if (!drawsAll(style)) style = rng.pick(styles.filter(drawsAll));
    plans.push({ index: i, id, style, background, objects: await place(rng, style, concepts, imageSize, target), role, concept: target });
  }
  return plans;
}

/** Non-overlapping placement (with a gap, so a dilated mask stays off its neighbours). */
async function place(rng: Rng, style: IconStyle, concepts: Concept[], S: number, target?: Concept): Promise<PlannedObject[]> {
  const k = S / 128;
  // Content sizes at 128 px; even the smallest (32) is 16 px at the tiny model's 64 px input.
  const range: Record<number, [number, number]> = { 1: [56, 88], 2: [44, 68], 3: [36, 52] };
  const [lo, hi] = range[concepts.length];
  const step = Math.max(1, Math.round(4 * k)); // sizes on a grid, so sprites are cached and reused
  const minSize = Math.round(32 * k);
  const gap = Math.round(6 * k);
  const placed: PlannedObject[] = [];
  for (const concept of concepts) {
    const isTarget = concept === target;
    let size = step * Math.round((k * rng.range(isTarget ? (lo + hi) / 2 : lo, hi)) / step);
    // A uniformly random free position; shrink the object while there is none.
    for (;;) {
      const { width: w, height: h } = await sprite(style, concept.icons[style], size);
      const free: Array<[number, number]> = [];
      for (let y = 1; y <= S - h - 1; y += 2) {
        for (let x = 1; x <= S - w - 1; x += 2) {
          if (placed.every((p) => x + w + gap <= p.x || p.x + p.w + gap <= x || y + h + gap <= p.y || p.y + p.h + gap <= y)) free.push([x, y]);
        }
      }
      if (free.length > 0) {
        const [x, y] = rng.pick(free);
        placed.push({ concept, size, x, y, w, h, target: isTarget });
        break;
      }
      if (size - step < minSize) break; // no room even at the smallest size: the scene has fewer objects
      size -= step;
    }
  }
  return placed;
}

const article = (w: string) => (/^[aeiou]/.test(w) ? "an" : "a");

/** "the image shows a bear next to a bus on the grass ." — objects named left to right. */
export function captionFor(objects: readonly { concept: Concept; x: number; w: number }[], background: Background): string {
  const names = [...objects].sort((a, b) => a.x + a.w / 2 - (b.x + b.w / 2)).map((o) => `${article(captionWord(o.concept))} ${captionWord(o.concept)}`);
  const list = names.length === 1 ? names[0] : names.length === 2 ? `${names[0]} next to ${names[1]}` : `${names.slice(0, -1).join(" , ")} and ${names[names.length - 1]}`;
  return `the image shows ${list} ${background.phrase} .`;
}

interface RenderedImage {
  image: Record<string, unknown>;
  annotations: Record<string, unknown>[];
  caption: Record<string, unknown>;
  png: Buffer;
}

/** Render one planned image: background, alpha-composited sprites, annotations from the sprite polygons. */
export async function renderImage(plan: PlannedImage, split: SplitName, seed: number, S: number): Promise<RenderedImage> {
  const rng = new Rng(`kneuron-synth/${seed}/${split}/${plan.index}/pixels`);
  const rgb = plan.background.paint(rng, S, S);
  const annotations: Record<string, unknown>[] = [];
  let annId = (ID_BASE[split] + plan.index + 1) * 4;
  let targetAnnId: number | undefined;
  for (const o of plan.objects) {
    const sp = await sprite(plan.style, o.concept.icons[plan.style], o.size);
    const a = sp.rgba;
    for (let y = 0; y < sp.height; y++) {
      for (let x = 0; x < sp.width; x++) {
        const s = 4 * (y * sp.width + x);
        const al = a[s + 3];
        if (al === 0) continue;
        const d = 3 * ((o.y + y) * S + o.x + x);
        const t = al / 255;
        rgb[d] = Math.round(rgb[d] * (1 - t) + a[s] * t);
        rgb[d + 1] = Math.round(rgb[d + 1] * (1 - t) + a[s + 1] * t);
        rgb[d + 2] = Math.round(rgb[d + 2] * (1 - t) + a[s + 2] * t);
      }
    }
    const segmentation = sp.polygons.map((p) => p.map((v, i) => v + (i % 2 === 0 ? o.x : o.y)));
    const mask = segmentationToMask(segmentation, S, S);
    const area = maskArea(mask);
    if (area === 0) throw new DataError(`image ${plan.id}`, `${o.concept.name} sprite of ${o.size} px rasterises to an empty mask`);
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const p of segmentation) {
      for (let i = 0; i < p.length; i += 2) {
        x0 = Math.min(x0, p[i]);
        x1 = Math.max(x1, p[i]);
        y0 = Math.min(y0, p[i + 1]);
        y1 = Math.max(y1, p[i + 1]);
      }
    }
    const id = annId++;
    if (o.target) targetAnnId = id;
    annotations.push({
      id,
      image_id: plan.id,
      category_id: o.concept.cocoId,
      segmentation,
      area,
      bbox: [x0, y0, x1 - x0, y1 - y0],
      iscrowd: 0,
      ...(o.target ? { target: true } : {}),
    });
  }
  const marker: SynthMarker = {
    split,
    role: plan.role,
    style: plan.style,
    background: plan.background.name,
    ...(plan.concept ? { concept: plan.concept.name, annotation_id: targetAnnId } : {}),
  };
  const file_name = `${String(plan.id).padStart(12, "0")}.png`;
  const image = { id: plan.id, file_name, width: S, height: S, license: STYLE_LICENSE[plan.style], date_captured: "2017-01-01 00:00:00", kneuron: marker };
  const caption = { id: plan.id, image_id: plan.id, caption: captionFor(plan.objects, plan.background) };
  const png = await sharp(rgb, { raw: { width: S, height: S, channels: 3 } }).png({ compressionLevel: 6 }).toBuffer();
  return { image, annotations, caption, png };
}

async function renderSplit(
  split: SplitName,
  count: number,
  opts: z.output<typeof SynthOptionsSchema>,
  paths: ReturnType<typeof splitPaths>,
  onProgress?: (split: SplitName, done: number, total: number) => void,
): Promise<{ images: number; annotations: number }> {
  const S = opts.imageSize;
  const plans = await planSplit(split, count, opts.seed, S, opts.samplesPerConcept);
  await rm(paths.imageDir, { recursive: true, force: true });
  await mkdir(paths.imageDir, { recursive: true });
  const images: unknown[] = new Array(plans.length);
  const annotations: unknown[][] = new Array(plans.length);
  const captions: unknown[] = new Array(plans.length);
  // A few images in flight: JS draws one while sharp encodes and the disk writes others.
  let next = 0;
  let done = 0;
  const worker = async () => {
    for (let i = next++; i < plans.length; i = next++) {
      const r = await renderImage(plans[i], split, opts.seed, S);
      await writeFile(join(paths.imageDir, r.image.file_name as string), r.png);
      images[i] = r.image;
      annotations[i] = r.annotations;
      captions[i] = r.caption;
      onProgress?.(split, ++done, plans.length);
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  const info = {
    description: `kneuron synthetic scenes, split ${split}, seed ${opts.seed} (generator v${SYNTH_VERSION})`,
    version: String(SYNTH_VERSION),
    year: 2017,
    contributor: "kneuron core/data/synth",
    date_created: "2017-01-01",
  };
  const categories = COCO_CATEGORIES.map(({ id, name, supercategory }) => ({ supercategory, id, name }));
  const flatAnns = annotations.flat();
  await writeFile(paths.instancesPath, JSON.stringify({ info, licenses: LICENSES, images, annotations: flatAnns, categories }));
  await writeFile(paths.captionsPath, JSON.stringify({ info, licenses: LICENSES, images, annotations: captions }));
  return { images: images.length, annotations: flatAnns.length };
}
