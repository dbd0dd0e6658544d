import { mkdtemp, readFile, readdir, stat } from "node:fs/promises";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { beforeAll, describe, expect, it } from "vitest";
import { hasIcon } from "../../core/data/synth/icons.js";
import {
  annToMask,
  BACKGROUNDS,
  CONCEPTS,
  COCO_CATEGORIES,
  findMentions,
  generateSynthetic,
  HELD_OUT_STYLE,
  loadCoco,
  mentions,
  sampleCandidates,
  TRAIN_STYLES,
  type CocoDataset,
  type SynthMarker,
  type IconStyle,
  type SynthResult,
} from "../../core/data/index.js";

const SIZES = { train: 40, val: 10, experiment: 100, calibration: 30 };
const marker = (img: object) => (img as { kneuron: SynthMarker }).kneuron;
const sha = async (p: string) => createHash("sha256").update(await readFile(p)).digest("hex");

let dir: string;
let res: SynthResult;
const ds: Record<string, CocoDataset> = {};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "kneuron-synth-"));
  const t0 = performance.now();
  res = await generateSynthetic({ outDir: dir, seed: 5, sizes: SIZES });
  const s = (performance.now() - t0) / 1000;
  const n = Object.values(SIZES).reduce((a, b) => a + b, 0);
  console.log(`synthetic: ${n} images in ${s.toFixed(2)} s = ${(n / s).toFixed(0)} images/s (incl. icon rendering warm-up)`);
  for (const split of Object.keys(SIZES)) {
    ds[split] = await loadCoco({ instancesPath: join(dir, "annotations", `instances_${split}.json`), captionsPath: join(dir, "annotations", `captions_${split}.json`) });
  }
});

describe("synthetic scenes in COCO 2017 layout", () => {
  it("writes <split>/*.png and annotations/{instances,captions}_<split>.json", async () => {
    for (const [split, n] of Object.entries(SIZES)) {
      const files = (await readdir(join(dir, split))).sort();
      expect(files).toHaveLength(n);
      expect(files.every((f) => /^\d{12}\.png$/.test(f))).toBe(true);
      expect(ds[split].images.map((i) => i.file_name).sort()).toEqual(files);
      expect(res.splits[split as keyof typeof SIZES]).toMatchObject({ images: n, reused: false });
    }
    const meta = await sharp(join(dir, "val", ds.val.images[0].file_name)).metadata();
    expect([meta.format, meta.width, meta.height, meta.channels]).toEqual(["png", 128, 128, 3]);
    expect(ds.train.categories).toHaveLength(80);
    expect(ds.train.categories.find((c) => c.id === 88)).toMatchObject({ name: "teddy bear", supercategory: "indoor" });
    const ids = Object.values(ds).flatMap((d) => d.images.map((i) => i.id));
    expect(new Set(ids).size).toBe(ids.length); // image ids unique across splits
  });

  it("annotations: real concept ids, bbox inside, area = polygon mask area, objects apart", () => {
    const conceptIds = new Set(CONCEPTS.map((c) => c.cocoId));
    for (const d of Object.values(ds)) {
      for (const img of d.images) {
        const anns = d.annsByImage.get(img.id) ?? [];
        expect(anns.length).toBeGreaterThanOrEqual(1);
        expect(anns.length).toBeLessThanOrEqual(3);
        const masks = anns.map((a) => {
          expect(conceptIds.has(a.category_id)).toBe(true);
          expect(a.iscrowd).toBe(0);
          expect(Array.isArray(a.segmentation)).toBe(true);
          const m = annToMask(a, img.height, img.width); // also checks bbox bounds and non-empty
          expect(m.reduce((s, v) => s + v, 0)).toBe(a.area);
          // recognisable at 64 px: the longer side is at least 15 px there
          expect(Math.max(a.bbox[2], a.bbox[3])).toBeGreaterThanOrEqual(30);
          return m;
        });
        for (let i = 0; i < masks.length; i++) for (let j = i + 1; j < masks.length; j++) expect(masks[i].some((v, k) => v && masks[j][k])).toBe(false);
      }
    }
  });

  it("captions name every object (left to right) and the background", () => {
    const bgWords = new Set(BACKGROUNDS.map((b) => b.word));
    for (const d of Object.values(ds)) {
      for (const img of d.images) {
        const [cap] = d.captionsByImage.get(img.id)!;
        expect(cap).toMatch(/^the image shows .* \.$/);
        expect(cap).toBe(cap.toLowerCase());
        const anns = [...(d.annsByImage.get(img.id) ?? [])].sort((a, b) => a.bbox[0] + a.bbox[2] / 2 - (b.bbox[0] + b.bbox[2] / 2));
        const named = findMentions(cap).map((m) => m.concept).filter((c) => c !== "dining table" || marker(img).background !== "table");
        expect(named).toEqual(anns.map((a) => d.category(a.category_id).name));
        expect(cap.split(" ").some((w) => bgWords.has(w) && w === BACKGROUNDS.find((b) => b.name === marker(img).background)!.word)).toBe(true);
      }
    }
  });

  it("train/val use five icon styles, experiment and calibration the held-out sixth; a style draws only icons it has", () => {
    const styles = (d: CocoDataset) => new Set(d.images.map((i) => marker(i).style));
    for (const s of [...styles(ds.train), ...styles(ds.val)]) expect(TRAIN_STYLES).toContain(s);
    expect(styles(ds.train).size).toBe(5);
    expect(TRAIN_STYLES).not.toContain(HELD_OUT_STYLE);
    for (const split of ["train", "val"]) {
      for (const img of ds[split].images) {
        const style = marker(img).style as IconStyle;
        for (const a of ds[split].annotations.filter((x) => x.image_id === img.id)) {
          const c = CONCEPTS.find((k) => k.cocoId === a.category_id)!;
          expect(hasIcon(style, c.icons[style]), `${style} draws ${c.name}`).toBe(true);
        }
      }
    }
    expect(hasIcon("emojione", "giraffe")).toBe(false); // the fallback is exercised: a set that lacks icons
    expect([...styles(ds.experiment)]).toEqual([HELD_OUT_STYLE]);
    expect([...styles(ds.calibration)]).toEqual([HELD_OUT_STYLE]);
  });

  it("experiment: 3 marked samples per concept (90) plus distractors; calibration disjoint", async () => {
    const exp = ds.experiment;
    const roles = exp.images.map((i) => marker(i).role);
    expect(roles.filter((r) => r === "sample")).toHaveLength(90);
    expect(roles.filter((r) => r === "distractor")).toHaveLength(10);
    let withSecond = 0;
    for (const c of CONCEPTS) {
      const samples = sampleCandidates(exp, c.name);
      expect(samples).toHaveLength(3);
      for (const s of samples) {
        const ann = exp.annotation(s.annotationId);
        expect(ann.category_id).toBe(c.cocoId);
        expect((ann as { target?: boolean }).target).toBe(true);
        const others = (exp.annsByImage.get(s.imageId) ?? []).filter((a) => a.id !== ann.id);
        withSecond += others.length;
        for (const o of others) expect(exp.category(o.category_id).supercategory).not.toBe(c.supercategory);
        expect(mentions(exp.captionsByImage.get(s.imageId)![0], c.name).mentioned).toBe(true);
      }
    }
    expect(withSecond).toBeGreaterThan(45); // "usually" a second object
    const cal = ds.calibration.images.map((i) => marker(i));
    expect(cal.every((m) => m.role === "calibration" && m.concept)).toBe(true);
    const expHashes = new Set(await Promise.all(exp.images.map((i) => sha(join(dir, "experiment", i.file_name)))));
    for (const i of ds.calibration.images) expect(expHashes.has(await sha(join(dir, "calibration", i.file_name)))).toBe(false);
  });

  it("is deterministic from the seed, and a different seed gives different scenes", async () => {
    const other = await mkdtemp(join(tmpdir(), "kneuron-synth-"));
    await generateSynthetic({ outDir: other, seed: 5, splits: ["val"], sizes: { val: SIZES.val } });
    expect(await readFile(join(other, "annotations/instances_val.json"), "utf8")).toBe(await readFile(join(dir, "annotations/instances_val.json"), "utf8"));
    expect(await readFile(join(other, "annotations/captions_val.json"), "utf8")).toBe(await readFile(join(dir, "annotations/captions_val.json"), "utf8"));
    for (const img of ds.val.images) expect(await sha(join(other, "val", img.file_name))).toBe(await sha(join(dir, "val", img.file_name)));
    const third = await mkdtemp(join(tmpdir(), "kneuron-synth-"));
    await generateSynthetic({ outDir: third, seed: 6, splits: ["val"], sizes: { val: SIZES.val } });
    expect(await readFile(join(third, "annotations/captions_val.json"), "utf8")).not.toBe(await readFile(join(dir, "annotations/captions_val.json"), "utf8"));
  });

  it("reuses a cached split for the same request and regenerates on change", async () => {
    const before = (await stat(join(dir, "annotations/instances_val.json"))).mtimeMs;
    const again = await generateSynthetic({ outDir: dir, seed: 5, sizes: SIZES });
    expect(Object.values(again.splits).every((s) => s.reused)).toBe(true);
    expect((await stat(join(dir, "annotations/instances_val.json"))).mtimeMs).toBe(before);
    const bigger = await generateSynthetic({ outDir: dir, seed: 5, splits: ["val"], sizes: { val: 12 } });
    expect(bigger.splits.val).toMatchObject({ reused: false, images: 12 });
    expect(await readdir(join(dir, "val"))).toHaveLength(12);
  });

  it("rejects bad options with a DataError", async () => {
    await expect(generateSynthetic({ outDir: dir, seed: -1 })).rejects.toThrow(/synth options: seed/);
    await expect(generateSynthetic({ outDir: dir, seed: 1, splits: ["test" as "val"] })).rejects.toThrow(/splits/);
  });
});

it("COCO_CATEGORIES is what the files list", () => {
  expect(ds.val.categories.map((c) => c.id)).toEqual(COCO_CATEGORIES.map((c) => c.id));
});
