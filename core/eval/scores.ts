// Suppression and retention (the paper's §III-D1, Table II).

export interface CaptionedImage {
  /** Concepts annotated on the image (the knowledge its caption should mention). */
  concepts: string[];
  caption: string;
}

export interface SuppressionRetention {
  /** P_same: share of captions of images containing k that still mention k. */
  pSame: number;
  /** P_other: share of (image without k, its concept k') pairs whose caption still mentions k'. */
  pOther: number;
  suppression: number;
  retention: number;
  score: number;
  counts: { same: number; other: number };
}

export type MentionFn = (caption: string, concept: string) => boolean;

export function suppressionRetention(target: string, images: CaptionedImage[], mentions: MentionFn): SuppressionRetention {
  const captions = images.map((i) => i.caption);
  const sets = evaluationSets(target, images.map((img, k) => ({ imageId: k, concepts: img.concepts })), null, mentions);
  return setScores(target, sets, (id) => captions[id], mentions);
}

/**
 * Who is scored for knowledge k. same: images annotated with k; other: (image without k, k')
 * pairs. With the clean captions (the paper's faithful sets) only the images / pairs whose clean
 * caption names the concept count, so a perturbation is charged only for mentions it removed.
 */
export interface EvalSets {
  same: number[];
  other: [imageId: number, concept: string][];
}

export function evaluationSets(target: string, images: { imageId: number; concepts: string[] }[], clean: ((imageId: number) => string) | null, mentions: MentionFn): EvalSets {
  const named = (id: number, k: string) => clean === null || mentions(clean(id), k);
  const same: number[] = [];
  const other: EvalSets["other"] = [];
  for (const img of images) {
    if (img.concepts.includes(target)) {
      if (named(img.imageId, target)) same.push(img.imageId);
    } else {
      for (const k of img.concepts) if (named(img.imageId, k)) other.push([img.imageId, k]);
    }
  }
  return { same, other };
}

/** Suppression and retention of one set of captions (one noise draw) over fixed sets. */
export function setScores(target: string, sets: EvalSets, caption: (imageId: number) => string, mentions: MentionFn): SuppressionRetention {
  const sameHit = sets.same.filter((id) => mentions(caption(id), target)).length;
  const otherHit = sets.other.filter(([id, k]) => mentions(caption(id), k)).length;
  const pSame = sets.same.length ? sameHit / sets.same.length : NaN;
  const pOther = sets.other.length ? otherHit / sets.other.length : NaN;
  const suppression = 1 - pSame;
  const retention = pOther;
  return { pSame, pOther, suppression, retention, score: (suppression + retention) / 2, counts: { same: sets.same.length, other: sets.other.length } };
}

/**
 * Selectivity: how much more the target lost than the other objects did, relative to σ = 0.
 * Δsame = P_same(0) − P_same(σ), Δother = P_other(0) − P_other(σ); damage that hits every
 * object alike scores ≈ 0.
 */
export function selectivity(clean: { pSame: number; pOther: number }, noisy: { pSame: number; pOther: number }): { dSame: number; dOther: number; selectivity: number } {
  const dSame = clean.pSame - noisy.pSame;
  const dOther = clean.pOther - noisy.pOther;
  return { dSame, dOther, selectivity: dSame - dOther };
}

/**
 * Mean of the defined values: NaN (no image to score) and null (NaN after a JSON round trip) are
 * skipped; NaN when nothing is left.
 */
export function meanDefined(xs: readonly (number | null)[]): number {
  const v = xs.filter((x): x is number => Number.isFinite(x));
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
}
