/**
 * COCO 2017 instances/captions loader: zod-validated, lazy indexes, and a streaming parse for
 * files too large to hold as one string (the real instances_train2017.json is ~450 MB).
 */
import { createReadStream } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { Readable } from "node:stream";
import { z } from "zod";
import { parser } from "stream-json";
import { BBoxOutOfBoundsError, EmptyMaskError, MalformedJsonError, MissingImageError } from "./errors.js";
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
  /** Files larger than this are parsed as a stream (default 256 MiB); "stream"/"whole" force one way. */
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
  const out: unknown[] = new Array(items.length);
  for (let i = 0; i < items.length; i++) {
    const r = schema.safeParse(items[i]);
    if (!r.success) {
      const issue = r.error.issues[0];
      const id = (items[i] as { id?: unknown } | null)?.id;
      throw new MalformedJsonError(file, `${section}[${i}]${id !== undefined ? ` (id ${String(id)})` : ""}: ${issue.path.join(".") || "value"} ${issue.message}`);
    }
    out[i] = r.data;
  }
  return out as never;
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
  const stream = mode === "stream" || (mode === "auto" && bytes > (opts.streamAboveBytes ?? 256 * 2 ** 20));
  if (!stream) return parseWhole(await readFile(path), path);
  return streamSections(createReadStream(path, { highWaterMark: 1 << 20 }), path);
}

/**
 * Streaming parse: tokens from stream-json, each element of the top-level arrays assembled on
 * its own, so memory holds the parsed elements and one chunk, never the whole text.
 */
export async function streamSections(input: Readable, file: string): Promise<RawSections> {
  const out: RawSections = { images: [], annotations: [], categories: [] };
  const tokens = input.pipe(parser.asStream({ packValues: true, streamValues: false }));
  // depth: 0 outside, 1 inside the top object, 2 inside a section array, >2 inside an element.
  let depth = 0;
  let key: string | null = null;
  let section: unknown[] | null = null;
  const stack: unknown[] = []; // containers of the element being built
  let pendingKey: string | null = null;
  const add = (v: unknown) => {
    if (stack.length === 0) {
      section!.push(v);
      return;
    }
    const top = stack[stack.length - 1];
    if (Array.isArray(top)) top.push(v);
    else (top as Record<string, unknown>)[pendingKey!] = v;
  };
  const open = (c: unknown) => {
    if (depth >= 2 && section) add(c);
    stack.push(c);
  };
  try {
    for await (const tok of tokens as AsyncIterable<{ name: string; value?: unknown }>) {
      switch (tok.name) {
        case "startObject":
          if (depth === 0) depth = 1;
          else if (depth === 1) depth = 2, (section = null); // a non-array section value: skipped
          else (depth++, section ? open({}) : undefined);
          break;
        case "startArray":
          if (depth === 0) throw new MalformedJsonError(file, "top level is not a JSON object");
          if (depth === 1) {
            depth = 2;
            section = key && key in out ? out[key as keyof RawSections] : null;
          } else (depth++, section ? open([]) : undefined);
          break;
        case "endObject":
        case "endArray":
          depth--;
          if (depth >= 2 && section) stack.pop();
          if (depth === 1) (section = null), (key = null);
          break;
        case "keyValue":
          if (depth === 1) key = tok.value as string;
          else pendingKey = tok.value as string;
          break;
        case "stringValue":
          if (section && depth >= 2) add(tok.value);
          break;
        case "numberValue":
          if (section && depth >= 2) add(Number(tok.value));
          break;
        case "nullValue":
          if (section && depth >= 2) add(null);
          break;
        case "trueValue":
          if (section && depth >= 2) add(true);
          break;
        case "falseValue":
          if (section && depth >= 2) add(false);
          break;
      }
    }
  } catch (e) {
    if (e instanceof MalformedJsonError) throw e;
    throw new MalformedJsonError(file, `not valid JSON (${(e as Error).message})`);
  }
  if (depth !== 0) throw new MalformedJsonError(file, "JSON ends early (truncated file)");
  return out;
}
