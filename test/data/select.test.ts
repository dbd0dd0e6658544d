import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkCaptions, checkOverlap, checkSample, loadCoco, maskOverlap, otherMasks, overlapFractions, sampleCandidates, segmentationToMask } from "../../core/data/index.js";
import { objectMask } from "../../core/image/index.js";

const sq = (x: number, y: number, s: number) => segmentationToMask([[x, y, x + s, y, x + s, y + s, x, y + s]], 32, 32);

describe("mask overlap (constraint 3)", () => {
  it("is the largest fraction of any other object covered by the mask", () => {
    const mask = sq(0, 0, 10);
    const half = sq(5, 0, 10); // columns 5..14 vs mask 0..9 → rasterised overlap ~half
    const apart = sq(20, 20, 6);
    const f = overlapFractions(mask, [half, apart]);
    expect(f[1]).toBe(0);
    expect(f[0]).toBeGreaterThan(0.3);
    expect(f[0]).toBeLessThan(0.7);
    expect(maskOverlap(mask, [half, apart])).toBe(f[0]);
    expect(maskOverlap(mask, [])).toBe(0);
    expect(checkOverlap(mask, [apart], 0).ok).toBe(true);
    const r = checkOverlap(mask, [half], 0.1);
    expect(r).toMatchObject({ ok: false, reasons: ["mask-covers-other-object"] });
    expect(r.details[0]).toMatch(/covers \d+\.\d% of another object \(max 10\.0%\)/);
    expect(() => maskOverlap(mask, [new Uint8Array(5)])).toThrow(/mask 0: has 5 pixels/);
  });

  it("dilation can make a neighbour count as covered", () => {
    const ann = { id: 1, bbox: [2, 2, 8, 8], segmentation: [[2, 2, 10, 2, 10, 10, 2, 10]] };
    const neighbour = sq(13, 2, 8);
    expect(maskOverlap(objectMask(ann, 32, 32, 0), [neighbour])).toBe(0);
    expect(maskOverlap(objectMask(ann, 32, 32, 4), [neighbour])).toBeGreaterThan(0);
  });
});

describe("caption constraints (1 and 2)", () => {
  it("accepts a sample whose caption names the concept and whose inpainted caption does not", () => {
    const r = checkCaptions("bear", "the image shows a bear next to a bus on the grass .", "the image shows a bus on the grass .");
    expect(r).toEqual({ ok: true, reasons: [], details: [], mentionIndex: 4 });
  });
  it("records each failed reason with detail", () => {
    const r = checkSample({
      concept: "bear",
      caption: "the image shows a teddy bear on the grass .",
      inpaintedCaption: "the image shows a bear on the grass .",
      mask: sq(0, 0, 10),
      otherAnnMasks: [sq(0, 0, 10)],
      maxOtherOverlap: 0.05,
    });
    expect(r.ok).toBe(false);
    expect(r.reasons).toEqual(["caption-misses-concept", "inpainted-caption-mentions-concept", "mask-covers-other-object"]);
    expect(r.details).toHaveLength(3);
  });
});

describe("sample candidates", () => {
  it("real COCO: the concept's non-crowd annotations, largest first", async () => {
    const FX = join(import.meta.dirname, "../fixtures/data/coco-mini/annotations/instances_val2017.json");
    const ds = await loadCoco({ instancesPath: FX });
    expect(sampleCandidates(ds, "bear")).toEqual([{ concept: "bear", imageId: 139, annotationId: 1 }]);
    expect(sampleCandidates(ds, "person")).toEqual([]); // only a crowd annotation
    expect(sampleCandidates(ds, "banana", { minArea: 10_000 })).toEqual([]);
    expect(otherMasks(ds, ds.annotation(1))).toHaveLength(1);
    expect(() => sampleCandidates(ds, "unicorn")).toThrow(/unicorn/);
  });
});
