/**
 * Sample selection: the paper's three constraints on a sample (image x, concept k, object mask).
 *  1. caption(x) mentions k;  2. caption(x~) does not;  3. the inpainting mask covers no other
 *  annotated object (overlap ≤ maxOtherOverlap).
 * A failing sample is returned with its reasons, never dropped silently.
 */
import { cocoCategory, mentions, type SurfaceForms, COCO_SURFACE_FORMS } from "./concepts.js";
import type { CocoAnnotation, CocoDataset } from "./coco.js";
import { annToMask } from "./coco.js";
import { DataError } from "./errors.js";

/** For each other object: the fraction of its pixels that the mask covers. */
export function overlapFractions(mask: Uint8Array, otherAnnMasks: readonly Uint8Array[]): number[] {
  return otherAnnMasks.map((other, k) => {
    if (other.length !== mask.length) throw new DataError(`mask ${k}`, `has ${other.length} pixels, the object mask has ${mask.length}`);
    let inter = 0;
    let area = 0;
    for (let i = 0; i < other.length; i++) {
      if (!other[i]) continue;
      area++;
      if (mask[i]) inter++;
    }
    return area === 0 ? 0 : inter / area;
  });
}

/** The largest fraction of any other object covered by the mask (0 when there is none). */
export function maskOverlap(mask: Uint8Array, otherAnnMasks: readonly Uint8Array[]): number {
  return Math.max(0, ...overlapFractions(mask, otherAnnMasks));
}

export type RejectReason = "caption-misses-concept" | "inpainted-caption-mentions-concept" | "mask-covers-other-object";

export interface ConstraintResult {
  ok: boolean;
  reasons: RejectReason[];
  /** Human-readable detail per failed reason. */
  details: string[];
  /** Word index of the first mention of the concept in the original caption (when mentioned). */
  mentionIndex?: number;
}

/** Constraint 3 alone: can be checked before any captioning. */
export function checkOverlap(mask: Uint8Array, otherAnnMasks: readonly Uint8Array[], maxOtherOverlap: number): ConstraintResult {
  const o = maskOverlap(mask, otherAnnMasks);
  return o <= maxOtherOverlap
    ? { ok: true, reasons: [], details: [] }
    : { ok: false, reasons: ["mask-covers-other-object"], details: [`mask covers ${(100 * o).toFixed(1)}% of another object (max ${(100 * maxOtherOverlap).toFixed(1)}%)`] };
}

/** Constraints 1 and 2 on the two greedy captions. */
export function checkCaptions(concept: string, caption: string, inpaintedCaption: string, forms: SurfaceForms = COCO_SURFACE_FORMS): ConstraintResult {
  const before = mentions(caption, concept, forms);
  const after = mentions(inpaintedCaption, concept, forms);
  const r: ConstraintResult = { ok: true, reasons: [], details: [], mentionIndex: before.index };
  if (!before.mentioned) r.reasons.push("caption-misses-concept"), r.details.push(`caption of the image does not mention "${concept}": "${caption}"`);
  if (after.mentioned) r.reasons.push("inpainted-caption-mentions-concept"), r.details.push(`caption of the inpainted image still mentions "${concept}": "${inpaintedCaption}"`);
  r.ok = r.reasons.length === 0;
  return r;
}

/** All three constraints together. */
export function checkSample(args: {
  concept: string;
  caption: string;
  inpaintedCaption: string;
  mask: Uint8Array;
  otherAnnMasks: readonly Uint8Array[];
  maxOtherOverlap: number;
  forms?: SurfaceForms;
}): ConstraintResult {
  const c = checkCaptions(args.concept, args.caption, args.inpaintedCaption, args.forms);
  const o = checkOverlap(args.mask, args.otherAnnMasks, args.maxOtherOverlap);
  return { ok: c.ok && o.ok, reasons: [...c.reasons, ...o.reasons], details: [...c.details, ...o.details], mentionIndex: c.mentionIndex };
}

/** Masks of the other (non-crowd and crowd) annotations of the same image, at the image's size. */
export function otherMasks(ds: CocoDataset, ann: CocoAnnotation): Uint8Array[] {
  const img = ds.image(ann.image_id);
  return (ds.annsByImage.get(ann.image_id) ?? []).filter((a) => a.id !== ann.id).map((a) => annToMask(a, img.height, img.width));
}

/** The `kneuron` field the synthetic generator adds to image records (ignored by pycocotools). */
export interface SynthMarker {
  split: string;
  role: "sample" | "distractor" | "calibration" | "scene";
  concept?: string;
  annotation_id?: number;
  style: string;
  background: string;
}

/** A marked experiment sample of the synthetic data (the image's `kneuron` record). */
export interface MarkedSample {
  concept: string;
  imageId: number;
  annotationId: number;
}

/**
 * Sample candidates for a concept: the synthetic experiment split marks them (image field
 * `kneuron.role === "sample"`); for real COCO, every non-crowd annotation of the concept's
 * category at least `minArea` pixels large, largest first.
 */
export function sampleCandidates(ds: CocoDataset, concept: string, { minArea = 0, limit }: { minArea?: number; limit?: number } = {}): MarkedSample[] {
  const cat = cocoCategory(concept);
  const marker = (img: object) => (img as { kneuron?: SynthMarker }).kneuron;
  // The generator marks the images made for a concept: experiment samples and calibration images.
  const made = (role: string | undefined) => role === "sample" || role === "calibration";
  const marked = ds.images.filter((img) => made(marker(img)?.role) && marker(img)?.concept === concept);
  const out: MarkedSample[] =
    marked.length > 0
      ? marked.map((img) => ({ concept, imageId: img.id, annotationId: marker(img)!.annotation_id! }))
      : ds.annotations
          .filter((a) => a.category_id === cat.id && !a.iscrowd && (a.area ?? a.bbox[2] * a.bbox[3]) >= minArea)
          .sort((a, b) => (b.area ?? 0) - (a.area ?? 0) || a.id - b.id)
          .map((a) => ({ concept, imageId: a.image_id, annotationId: a.id }));
  return limit === undefined ? out : out.slice(0, limit);
}
