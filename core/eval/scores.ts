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
  let same = 0, sameHit = 0, other = 0, otherHit = 0;
  for (const img of images) {
    if (img.concepts.includes(target)) {
      same++;
      if (mentions(img.caption, target)) sameHit++;
    } else {
      for (const k of img.concepts) {
        other++;
        if (mentions(img.caption, k)) otherHit++;
      }
    }
  }
  const pSame = same ? sameHit / same : NaN;
  const pOther = other ? otherHit / other : NaN;
  const suppression = 1 - pSame;
  const retention = pOther;
  return { pSame, pOther, suppression, retention, score: (suppression + retention) / 2, counts: { same, other } };
}

/**
 * Mean of the defined values: NaN (no image to score) and null (NaN after a JSON round trip) are
 * skipped; NaN when nothing is left.
 */
export function meanDefined(xs: readonly (number | null)[]): number {
  const v = xs.filter((x): x is number => Number.isFinite(x));
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
}

/** Mean of each field over several runs (draws, groups), ignoring NaN. */
export function meanScores(runs: SuppressionRetention[]): Omit<SuppressionRetention, "counts"> {
  const m = (f: (r: SuppressionRetention) => number) => meanDefined(runs.map(f));
  const suppression = m((r) => r.suppression);
  const retention = m((r) => r.retention);
  return { pSame: m((r) => r.pSame), pOther: m((r) => r.pOther), suppression, retention, score: (suppression + retention) / 2 };
}
