import { mkdtemp, writeFile, readFile, copyFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  annToMask,
  BBoxOutOfBoundsError,
  CocoDataset,
  DataError,
  EmptyMaskError,
  loadCoco,
  MalformedJsonError,
  MissingImageError,
  rleEncode,
  rleFromString,
  rleDecode,
  rleToString,
  SegmentationError,
  segmentationToMask,
  streamSections,
} from "../../core/data/index.js";
import { LocalStore } from "../../core/store/index.js";

const FX = join(import.meta.dirname, "../fixtures/data/coco-mini");
const INST = join(FX, "annotations/instances_val2017.json");
const CAPS = join(FX, "annotations/captions_val2017.json");
type Expected = Record<string, { h: number; w: number; rows: string; rle: string; area: number; bbox: number[] }>;
const expected = async () => JSON.parse(await readFile(join(FX, "expected_masks.json"), "utf8")) as Expected;
const bits = (m: Uint8Array) => Array.from(m, (v) => (v ? "1" : "0")).join("");

async function tmpJson(doc: unknown, raw?: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "kneuron-coco-"));
  const p = join(dir, "instances_bad.json");
  await writeFile(p, raw ?? JSON.stringify(doc));
  return p;
}
const base = async () => JSON.parse(await readFile(INST, "utf8")) as { images: any[]; annotations: any[]; categories: any[] };

describe("COCO loader on a real-format fixture (polygons, compressed and uncompressed crowd RLE)", () => {
  it("masks equal pycocotools annToMask bit for bit, for whole and streaming parses", async () => {
    const exp = await expected();
    for (const parse of ["whole", "stream"] as const) {
      const ds = await loadCoco({ instancesPath: INST, captionsPath: CAPS }, { parse });
      expect(ds.annotations).toHaveLength(4);
      for (const a of ds.annotations) {
        const e = exp[String(a.id)];
        const m = ds.annToMask(a);
        expect(bits(m), `annotation ${a.id} (${parse})`).toBe(e.rows);
        expect(m.reduce((s, v) => s + v, 0)).toBe(e.area);
        // our RLE encoder + string codec reproduce pycocotools' compressed counts
        expect(rleToString(rleEncode(m, e.h, e.w))).toBe(e.rle);
        expect(bits(rleDecode(rleFromString(e.rle, e.h, e.w)))).toBe(e.rows);
      }
    }
  });

  it("streaming and whole parses give identical datasets", async () => {
    const a = await loadCoco({ instancesPath: INST, captionsPath: CAPS }, { parse: "whole" });
    const b = await loadCoco({ instancesPath: INST, captionsPath: CAPS }, { parse: "stream" });
    expect(b.images).toEqual(a.images);
    expect(b.annotations).toEqual(a.annotations);
    expect(b.categories).toEqual(a.categories);
    expect(b.captions).toEqual(a.captions);
  });

  it("the streaming scan agrees with JSON.parse across chunk boundaries, escapes and unicode", async () => {
    const doc = {
      info: { description: 'has "quotes", [brackets] and {braces} \\ ok', images: [1] },
      images: [{ id: 1, file_name: "caf\u00e9 [1].png", width: 3, height: 2 }, { id: 2, file_name: "b\\\"c}.png", width: 1, height: 1 }],
      licenses: [],
      annotations: [{ id: 5, image_id: 1, bbox: [0, 0, 1, 1], segmentation: [[0, 0, 1, 0, 1, 1]], note: "ünïcödé ✓ ]}" }],
      categories: [{ id: 1, name: "bear", supercategory: "animal" }],
      extra: ["x", 1, null],
    };
    const text = JSON.stringify(doc, null, 1);
    for (const size of [1, 3, 7, 64, 1 << 16]) {
      const bytes = Buffer.from(text);
      async function* chunks() {
        for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
      }
      const r = await streamSections(chunks(), "doc.json");
      expect(r, `chunk size ${size}`).toEqual({ images: doc.images, annotations: doc.annotations, categories: doc.categories });
    }
    const chunksOf = (t: string) => (async function* () { yield Buffer.from(t); })();
    await expect(streamSections(chunksOf('{"images": [{"id": 1}, {"id": 2, ]}'), "bad.json")).rejects.toThrow(/bad\.json: images\[1\]: not valid JSON/);
    await expect(streamSections(chunksOf('{"info": {}}'), "noimg.json")).rejects.toThrow(/no "images" array/);
    await expect(streamSections(chunksOf('{"images": [{"id": 1}'), "cut.json")).rejects.toThrow(/truncated/);
  });

  it("builds lazy indexes: images, annotations per image, categories, captions", async () => {
    const ds = await loadCoco({ instancesPath: INST, captionsPath: CAPS });
    expect(ds).toBeInstanceOf(CocoDataset);
    expect(ds.imagesById.get(285)?.file_name).toBe("000000000285.jpg");
    expect(ds.annsByImage.get(139)?.map((a) => a.id)).toEqual([1, 2]);
    expect(ds.catsById.get(23)?.name).toBe("bear");
    expect(ds.captionsByImage.get(139)).toHaveLength(2);
    expect(ds.image(139).width).toBe(40);
    expect(() => ds.image(999)).toThrow(MissingImageError);
    expect(() => ds.image(999)).toThrow(/image 999/);
  });

  it("reads from an ArtifactStore key", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kneuron-store-"));
    const store = new LocalStore(dir);
    await store.put("coco/instances_val2017.json", await readFile(INST));
    await store.put("coco/captions_val2017.json", await readFile(CAPS));
    const ds = await loadCoco({ store, key: "coco/instances_val2017.json", captionsKey: "coco/captions_val2017.json" });
    expect(ds.annotations.map((a) => a.id)).toEqual([1, 2, 3, 4]);
    expect(ds.captions).toHaveLength(3);
  });
});

describe("bad input is a typed error naming the item", () => {
  it("malformed JSON (whole and streamed, truncated)", async () => {
    const text = await readFile(INST, "utf8");
    const p = await tmpJson(null, text.slice(0, text.length / 2));
    await expect(loadCoco({ instancesPath: p }, { parse: "whole" })).rejects.toThrow(MalformedJsonError);
    await expect(loadCoco({ instancesPath: p }, { parse: "stream" })).rejects.toThrow(MalformedJsonError);
    await expect(loadCoco({ instancesPath: p })).rejects.toThrow(p);
    const q = await tmpJson(null, "[1, 2, 3]");
    await expect(loadCoco({ instancesPath: q })).rejects.toThrow(/not a JSON object/);
    await expect(loadCoco({ instancesPath: "/nonexistent/instances.json" })).rejects.toThrow(/cannot read file/);
  });

  it("schema violations name the section, index and id", async () => {
    const doc = await base();
    doc.annotations[2].bbox = [1, 2, "x", 4];
    const p = await tmpJson(doc);
    const err = await loadCoco({ instancesPath: p }).catch((e) => e);
    expect(err).toBeInstanceOf(MalformedJsonError);
    expect(err.message).toMatch(/annotations\[2\] \(id 3\): bbox\.2/);
  });

  it("an annotation on an image id missing from the file", async () => {
    const doc = await base();
    doc.annotations[0].image_id = 4242;
    const err = await loadCoco({ instancesPath: await tmpJson(doc) }).catch((e) => e);
    expect(err).toBeInstanceOf(MissingImageError);
    expect(err.message).toMatch(/image 4242.*annotation 1/);
  });

  it("a bbox outside the image", () => {
    expect(() => annToMask({ id: 7, bbox: [30, 5, 20, 5], segmentation: [[30, 5, 49, 5, 49, 9]] }, 30, 40)).toThrow(BBoxOutOfBoundsError);
    expect(() => annToMask({ id: 7, bbox: [30, 5, 20, 5] }, 30, 40)).toThrow(/annotation 7: bbox \[30, 5, 20, 5\] lies outside the 40x30 image/);
  });

  it("a zero-area mask", () => {
    const err = (() => {
      try {
        annToMask({ id: 9, bbox: [3, 3, 0, 0], segmentation: [[3, 3, 3, 3, 3, 3]] }, 30, 40);
      } catch (e) {
        return e as DataError;
      }
    })();
    expect(err).toBeInstanceOf(EmptyMaskError);
    expect(err?.message).toBe("annotation 9: mask has zero area");
  });

  it("undecodable segmentations", () => {
    expect(() => segmentationToMask({ size: [30, 40], counts: [5, 10] }, 30, 40, "annotation 5")).toThrow(SegmentationError);
    expect(() => segmentationToMask({ size: [30, 40], counts: [5, 10] }, 30, 40, "annotation 5")).toThrow(/annotation 5: RLE counts sum to 15/);
    expect(() => segmentationToMask({ size: [20, 40], counts: "abc" }, 30, 40)).toThrow(/differs from image/);
    expect(() => segmentationToMask([[1, 2, 3]], 30, 40)).toThrow(/polygon 0 has 3 coordinates/);
    expect(() => rleFromString("\u0001", 2, 2)).toThrow(SegmentationError);
  });

  it("a copied fixture with a truncated image file still loads annotations (images decode lazily)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kneuron-coco-"));
    await copyFile(INST, join(dir, "i.json"));
    const ds = await loadCoco({ instancesPath: join(dir, "i.json") });
    expect(ds.images).toHaveLength(2);
  });
});
