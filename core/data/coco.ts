/**
 * COCO 2017 instances/captions loader: zod-validated, lazy indexes, and a streaming parse for
 * files too large to hold as one string (the real instances_train2017.json is ~450 MB).
 */
import { createReadStream } from "node:fs";
import { readFile, realpath, stat } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { cocoCategory } from "./concepts.js";
import { BBoxOutOfBoundsError, DataError, EmptyMaskError, MalformedJsonError, MissingImageError } from "./errors.js";
import { bboxToMask, maskArea, segmentationToMask, type Segmentation } from "./mask.js";

const finite = z.number().refine(Number.isFinite, "must be a finite number");
const size = z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()]);

export const CocoImageSchema = z.looseObject({
  id: z.number().int(),
  file_name: z.string().min(1),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
});
export const SegmentationSchema = z.union([
  z.array(z.array(finite)),
  z.object({ size, counts: z.string() }),
  z.object({ size, counts: z.array(z.number().int().nonnegative()) }),
]);
export const CocoAnnotationSchema = z.looseObject({
  id: z.number().int(),
  image_id: z.number().int(),
  category_id: z.number().int(),
  bbox: z.tuple([finite, finite, finite, finite]),
  area: finite.optional(),
  iscrowd: z.union([z.literal(0), z.literal(1)]).optional(),
  segmentation: SegmentationSchema.optional(),
});
export const CocoCategorySchema = z.looseObject({
  id: z.number().int(),
  name: z.string().min(1),
  supercategory: z.string().optional(),
});
export const CocoCaptionSchema = z.looseObject({
  id: z.number().int(),
  image_id: z.number().int(),
  caption: z.string(),
});

export type CocoImage = z.infer<typeof CocoImageSchema>;
export type CocoAnnotation = z.infer<typeof CocoAnnotationSchema> & { segmentation?: Segmentation };
export type CocoCategory = z.infer<typeof CocoCategorySchema>;
export type CocoCaption = z.infer<typeof CocoCaptionSchema>;

/** A byte source for loadCoco: anything with ArtifactStore's `get`. */
export interface KeyedBytes {
  get(key: string): Promise<Uint8Array>;
}

export type CocoSource =
  | { instancesPath: string; captionsPath?: string }
  | { store: KeyedBytes; key: string; captionsKey?: string };

export interface LoadCocoOptions {
  /**
   * "auto" (default) parses files up to `streamAboveBytes` (default 64 MiB) as one string and
   * larger ones as a stream: on a 460 MiB COCO-train-sized file the stream needs ~25% less peak
   * memory at the same CPU time, and V8 cannot hold a string over ~512 MiB at all.
   * "stream"/"whole" force one way.
   */
  parse?: "auto" | "stream" | "whole";
  streamAboveBytes?: number;
}

/** One COCO split in memory, with indexes built on first use. */
export class CocoDataset {
  constructor(
    readonly source: string,
    readonly images: CocoImage[],
    readonly annotations: CocoAnnotation[],
    readonly categories: CocoCategory[],
    readonly captions: CocoCaption[] = [],
  ) {}

  #imagesById?: Map<number, CocoImage>;
  #annsByImage?: Map<number, CocoAnnotation[]>;
  #catsById?: Map<number, CocoCategory>;
  #captionsByImage?: Map<number, string[]>;
  #annsById?: Map<number, CocoAnnotation>;

  get imagesById(): Map<number, CocoImage> {
    return (this.#imagesById ??= new Map(this.images.map((i) => [i.id, i])));
  }
  get catsById(): Map<number, CocoCategory> {
    return (this.#catsById ??= new Map(this.categories.map((c) => [c.id, c])));
  }
  get annsById(): Map<number, CocoAnnotation> {
    return (this.#annsById ??= new Map(this.annotations.map((a) => [a.id, a])));
  }
  get annsByImage(): Map<number, CocoAnnotation[]> {
    return (this.#annsByImage ??= groupBy(this.annotations, (a) => a.image_id));
  }
  get captionsByImage(): Map<number, string[]> {
    if (!this.#captionsByImage) {
      const m = new Map<number, string[]>();
      for (const c of this.captions) {
        const list = m.get(c.image_id);
        if (list) list.push(c.caption);
        else m.set(c.image_id, [c.caption]);
      }
      this.#captionsByImage = m;
    }
    return this.#captionsByImage;
  }

  /** The image record; MissingImageError when the id is not in this file. */
  image(id: number): CocoImage {
    const img = this.imagesById.get(id);
    if (!img) throw new MissingImageError(`image ${id}`, `not in ${this.source}`);
    return img;
  }

  annotation(id: number): CocoAnnotation {
    const a = this.annsById.get(id);
    if (!a) throw new MissingImageError(`annotation ${id}`, `not in ${this.source}`);
    return a;
  }

  category(id: number): CocoCategory {
    const c = this.catsById.get(id);
    if (!c) throw new MissingImageError(`category ${id}`, `not in ${this.source}`);
    return c;
  }

  /** The annotation's mask at its image's size, checked like annToMask(ann) in pycocotools. */
  annToMask(ann: CocoAnnotation): Uint8Array {
    const img = this.image(ann.image_id);
    return annToMask(ann, img.height, img.width);
  }
}

function groupBy<T>(items: T[], key: (t: T) => number): Map<number, T[]> {
  const m = new Map<number, T[]>();
  for (const it of items) {
    const k = key(it);
    const list = m.get(k);
    if (list) list.push(it);
    else m.set(k, [it]);
  }
  return m;
}

/**
 * The COCO 2017 concept a category id stands for, whatever name the file gives it (samples are
 * chosen by COCO id, so evaluation images are labelled by id too); undefined outside COCO's 80.
 */
export function conceptOfCategory(categoryId: number): string | undefined {
  try {
    return cocoCategory(categoryId).name;
  } catch {
    return undefined;
  }
}

/**
 * `file` (an image path built from a file_name) after `..` and symlinks are resolved, or a
 * DataError naming it when that lands outside the dataset directory `root`: a file_name like
 * `../../etc/passwd`, or a symlink out of the dataset, must not be read.
 */
export async function imageInside(root: string, file: string): Promise<string> {
  const realRoot = await realpath(root).catch(() => path.resolve(root));
  let real: string;
  try {
    real = await realpath(file);
  } catch {
    real = path.resolve(file); // absent: the decoder says so; only the lexical path can escape
  }
  const rel = path.relative(realRoot, real);
  if (rel === "" || rel === ".." || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
    throw new DataError(file, `resolves to ${real}, outside the dataset directory ${realRoot}`);
  }
  return real;
}

/** What mask decoding needs of an annotation (a COCO annotation, or a literal in code). */
export interface AnnLike {
  id: number;
  bbox: readonly number[];
  segmentation?: Segmentation;
}

/**
 * Decode an annotation to a row-major h×w mask (segmentation; bbox when it has none).
 * A bbox outside the image → BBoxOutOfBoundsError; a mask with no pixels → EmptyMaskError.
 */
export function annToMask(ann: AnnLike, h: number, w: number): Uint8Array {
  const item = `annotation ${ann.id}`;
  checkBbox(ann, h, w);
  const seg = ann.segmentation;
  const hasSeg = seg !== undefined && (!Array.isArray(seg) || seg.length > 0);
  const mask = hasSeg ? segmentationToMask(seg, h, w, item) : bboxToMask(ann.bbox, h, w);
  if (maskArea(mask) === 0) throw new EmptyMaskError(item, "mask has zero area");
  return mask;
}

/** COCO boxes may touch the border; allow a small float slack as real annotations have. */
export function checkBbox(ann: Pick<AnnLike, "id" | "bbox">, h: number, w: number, slack = 1): void {
  const [x, y, bw, bh] = ann.bbox;
  if (bw < 0 || bh < 0 || x < -slack || y < -slack || x + bw > w + slack || y + bh > h + slack) {
    throw new BBoxOutOfBoundsError(`annotation ${ann.id}`, `bbox [${ann.bbox.join(", ")}] lies outside the ${w}x${h} image`);
  }
}

const SECTIONS = { images: CocoImageSchema, annotations: CocoAnnotationSchema, categories: CocoCategorySchema } as const;
type Section = keyof typeof SECTIONS | "captions";

interface RawSections {
  images: unknown[];
  annotations: unknown[];
  categories: unknown[];
}

/** Load an instances file (+ optional captions file) from a path or an artifact store key. */
export async function loadCoco(src: CocoSource, opts: LoadCocoOptions = {}): Promise<CocoDataset> {
  const name = "instancesPath" in src ? src.instancesPath : src.key;
  const raw = "instancesPath" in src ? await readSectionsFromFile(src.instancesPath, opts) : parseWhole(await getBytes(src.store, src.key), src.key);
  const images = validate(raw.images, "images", name);
  const annotations = validate(raw.annotations, "annotations", name) as CocoAnnotation[];
  const categories = validate(raw.categories, "categories", name);
  let captions: CocoCaption[] = [];
  const capName = "instancesPath" in src ? src.captionsPath : src.captionsKey;
  if (capName) {
    const capRaw = "instancesPath" in src ? await readSectionsFromFile(capName, opts) : parseWhole(await getBytes(src.store, capName), capName);
    captions = validate(capRaw.annotations, "captions", capName);
  }
  const ds = new CocoDataset(name, images, annotations, categories, captions);
  // References must resolve: an annotation or caption naming an absent image is bad input.
  for (const a of annotations) if (!ds.imagesById.has(a.image_id)) throw new MissingImageError(`image ${a.image_id}`, `referenced by annotation ${a.id} but not listed in ${name}`);
  for (const c of captions) if (!ds.imagesById.has(c.image_id)) throw new MissingImageError(`image ${c.image_id}`, `referenced by caption ${c.id} in ${capName} but not listed in ${name}`);
  return ds;
}

async function getBytes(store: KeyedBytes, key: string): Promise<Uint8Array> {
  return store.get(key);
}

function validate<S extends Section>(items: unknown[], section: S, file: string): S extends "captions" ? CocoCaption[] : S extends keyof typeof SECTIONS ? z.infer<(typeof SECTIONS)[S]>[] : never {
  const schema = section === "captions" ? CocoCaptionSchema : SECTIONS[section as keyof typeof SECTIONS];
  // The schemas have no transforms or defaults, so a valid item is kept as parsed: zod's copy
  // would double the peak memory on a COCO-train-sized file.
  for (let i = 0; i < items.length; i++) {
    const r = schema.safeParse(items[i]);
    if (!r.success) {
      const issue = r.error.issues[0];
      const id = (items[i] as { id?: unknown } | null)?.id;
      throw new MalformedJsonError(file, `${section}[${i}]${id !== undefined ? ` (id ${String(id)})` : ""}: ${issue.path.join(".") || "value"} ${issue.message}`);
    }
  }
  return items as never;
}

function parseWhole(bytes: Uint8Array, file: string): RawSections {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("utf8"));
  } catch (e) {
    throw new MalformedJsonError(file, `not valid JSON (${(e as Error).message})`);
  }
  return sectionsOf(doc, file);
}

function sectionsOf(doc: unknown, file: string): RawSections {
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) throw new MalformedJsonError(file, "top level is not a JSON object");
  const d = doc as Record<string, unknown>;
  const arr = (k: string): unknown[] => {
    const v = d[k];
    if (v === undefined) return [];
    if (!Array.isArray(v)) throw new MalformedJsonError(file, `"${k}" is not an array`);
    return v;
  };
  if (!Array.isArray(d.images)) throw new MalformedJsonError(file, 'has no "images" array (not a COCO annotations file)');
  return { images: arr("images"), annotations: arr("annotations"), categories: arr("categories") };
}

async function readSectionsFromFile(path: string, opts: LoadCocoOptions): Promise<RawSections> {
  let bytes: number;
  try {
    bytes = (await stat(path)).size;
  } catch (e) {
    throw new MalformedJsonError(path, `cannot read file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  const mode = opts.parse ?? "auto";
  const stream = mode === "stream" || (mode === "auto" && bytes > (opts.streamAboveBytes ?? 64 * 2 ** 20));
  if (!stream) return parseWhole(await readFile(path), path);
  return streamSections(createReadStream(path, { highWaterMark: 1 << 20 }), path);
}

/**
 * Streaming parse for files too large for one string (V8 caps strings at ~512 MiB): the byte
 * stream is scanned for the elements of the top-level arrays (images, annotations, categories),
 * and each element is parsed on its own with JSON.parse. Memory holds the parsed elements and
 * one chunk, never the whole text. (stream-json's token parser did the same at ~4 MB/s on this
 * machine, 7× slower than this scan, and with a higher peak: see docs/DATA.md.)
 */
export async function streamSections(input: AsyncIterable<Buffer>, file: string): Promise<RawSections> {
  const out: RawSections = { images: [], annotations: [], categories: [] };
  const Q = 0x22, BS = 0x5c, LB = 0x7b, RB = 0x7d, LS = 0x5b, RS = 0x5d, COMMA = 0x2c, COLON = 0x3a;
  let depth = 0;
  let inString = false;
  let escape = false;
  let keyStart = -1; // byte offset of a depth-1 string (a candidate key) in `keyBytes`
  let keyBytes: number[] = [];
  let lastKey: string | null = null;
  let pendingKey: string | null = null;
  let section: unknown[] | null = null;
  let sectionName = "";
  let sawImages = false;
  let parts: Buffer[] = []; // bytes of the element being read, across chunks
  let elemStart = -1; // start of the element in the current chunk, -1 when not inside one
  const finishElement = (chunk: Buffer, end: number) => {
    parts.push(chunk.subarray(elemStart, end));
    const text = (parts.length === 1 ? parts[0] : Buffer.concat(parts)).toString("utf8");
    parts = [];
    elemStart = -1;
    try {
      section!.push(JSON.parse(text));
    } catch (e) {
      throw new MalformedJsonError(file, `${sectionName}[${section!.length}]: not valid JSON (${(e as Error).message})`);
    }
  };
  for await (const chunk of input) {
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i];
      if (inString) {
        if (escape) escape = false;
        else if (c === BS) escape = true;
        else if (c === Q) {
          inString = false;
          if (keyStart >= 0) {
            lastKey = Buffer.from(keyBytes).toString("utf8");
            keyStart = -1;
          }
        } else if (keyStart >= 0) keyBytes.push(c);
        continue;
      }
      if (c === Q) {
        inString = true;
        if (depth === 1) (keyStart = i), (keyBytes = []);
        else if (depth === 2 && section && elemStart < 0) elemStart = i; // a string element
        continue;
      }
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
      if (depth === 1 && c === COLON) {
        pendingKey = lastKey;
        continue;
      }
      if (c === LB || c === LS) {
        if (depth === 0 && c === LS) throw new MalformedJsonError(file, "top level is not a JSON object");
        if (depth === 1 && c === LS && pendingKey !== null && pendingKey in out) {
          section = out[pendingKey as keyof RawSections];
          sectionName = pendingKey;
          sawImages ||= pendingKey === "images";
        } else if (depth === 2 && section && elemStart < 0) elemStart = i;
        depth++;
        continue;
      }
      if (c === RB || c === RS) {
        if (depth === 3 && section && elemStart >= 0) {
          depth--;
          finishElement(chunk, i + 1);
          continue;
        }
        if (depth === 2 && section && elemStart >= 0) finishElement(chunk, i); // scalar last element
        depth--;
        if (depth < 0) throw new MalformedJsonError(file, `unbalanced '${String.fromCharCode(c)}'`);
        if (depth === 1) (section = null), (pendingKey = null);
        continue;
      }
      if (depth === 2 && section) {
        if (c === COMMA) {
          if (elemStart >= 0) finishElement(chunk, i); // scalar element
        } else if (elemStart < 0) elemStart = i;
      } else if (depth === 0) throw new MalformedJsonError(file, "top level is not a JSON object");
    }
    if (elemStart >= 0) {
      parts.push(chunk.subarray(elemStart));
      elemStart = 0; // continues at the start of the next chunk
    }
  }
  if (depth !== 0 || inString) throw new MalformedJsonError(file, "JSON ends early (truncated file)");
  if (!sawImages) throw new MalformedJsonError(file, 'has no "images" array (not a COCO annotations file)');
  return out;
}
