// Draft verification (exact speculative decoding): a row's draft — the clean caption of the same
// image — is fed teacher-forced after the prompt in one pass; the greedy token at every draft
// position is read off that pass's logits, and the longest prefix where greedy agrees with the
// draft is accepted. The first disagreeing greedy token is itself correct (it is the argmax after
// a verified prefix), so a row either ends inside the draft (EOS or the length limit) or continues
// step by step from there with the pass's KV cache. The caption is the plain greedy one.
//
// Floating point: the teacher-forced pass computes a position's logits with other GEMM/softmax
// shapes than a one-token decode step, so they differ in the last bits (≤ 4e-6 measured on
// models/tiny and both random bundles, logits up to 18). Wherever the top two logits are closer than NEAR_TIE the two computations might
// pick different tokens: such a row is redone with plain greedy decoding (counted in `ties`).

/** Top-two logit gap below which an argmax is treated as undecided (50× the largest difference measured). */
export const NEAR_TIE = 2e-4;

export interface DraftStats {
  /** Rows captioned with a draft. */
  rows: number;
  /** Rows whose whole caption came from the verification pass (no decode step). */
  fullyAccepted: number;
  /** Draft tokens accepted, summed over rows. */
  acceptedTokens: number;
  /** Decode steps run after the verification passes (graph runs, not rows). */
  decodeSteps: number;
  /** Rows redone with plain greedy decoding because of a near-tie. */
  ties: number;
}

export const emptyDraftStats = (): DraftStats => ({ rows: 0, fullyAccepted: 0, acceptedTokens: 0, decodeSteps: 0, ties: 0 });

/** Argmax of v[off, off+n) (first index on ties, like torch) and the gap to the runner-up. */
export function topMargin(v: Float32Array, off: number, n: number): { tok: number; margin: number } {
  let best = 0, bv = v[off], second = -Infinity;
  for (let k = 1; k < n; k++) {
    const x = v[off + k];
    if (x > bv) { second = bv; bv = x; best = k; } else if (x > second) second = x;
  }
  return { tok: best, margin: bv - second };
}

export type DraftWalk =
  /** The row's caption is complete (EOS or the length limit). */
  | { kind: "done"; ids: number[]; accepted: number }
  /** Continue decoding: `ids` are final so far; the last one is the next input, at draft position ids.length - 1. */
  | { kind: "continue"; ids: number[]; accepted: number }
  /** A near-tie: redo the row with plain greedy decoding. */
  | { kind: "tie" };

/**
 * Walk one row's verification logits. `logitsAt(j)` is the offset of the logits that predict
 * caption token j (j = 0 is the prompt's last position; j ≥ 1 the position of draft[j-1]);
 * `fed` draft tokens were fed, so j runs to `fed` at most.
 */
export function walkDraft(logits: Float32Array, logitsAt: (j: number) => number, V: number, draft: number[], fed: number,
                          maxNew: number, eos: number, nearTie = NEAR_TIE): DraftWalk {
  const ids: number[] = [];
  for (let j = 0; j <= fed; j++) {
    const { tok, margin } = topMargin(logits, logitsAt(j), V);
    if (margin < nearTie) return { kind: "tie" };
    if (tok === eos) return { kind: "done", ids, accepted: j };
    ids.push(tok);
    if (ids.length === maxNew) return { kind: "done", ids, accepted: j };
    if (!(j < fed && tok === draft[j])) return { kind: "continue", ids, accepted: j };
  }
  throw new Error("unreachable: the last fed position always ends the walk");
}

/**
 * Most tokens proposed by one lookup: a step costs more with every proposed position, and noisy
 * captions re-align with the clean one for a few words at a time (bench: 4 took the least step
 * time of 0 / 2 / 4 / 8 on the default workload, 15 % less than none; 8 cost more than none).
 */
export const LOOKUP_TOKENS = 4;

/**
 * Re-drafting after a row left its draft (prompt-lookup decoding): the longest tail of the
 * caption so far (3 tokens down to 1) that occurs in the draft, at the occurrence nearest the
 * caption's own length (captions re-align roughly in place), proposes the draft's next tokens.
 */
export function lookupDraft(caption: number[], draft: number[], max: number): number[] {
  if (max <= 0) return [];
  for (let n = Math.min(3, caption.length); n >= 1; n--) {
    let best = -1;
    for (let i = 0; i + n < draft.length; i++) {
      let hit = true;
      for (let k = 0; k < n && hit; k++) hit = draft[i + k] === caption[caption.length - n + k];
      if (hit && (best < 0 || Math.abs(i + n - caption.length) < Math.abs(best + n - caption.length))) best = i;
    }
    if (best >= 0) return draft.slice(best + n, best + n + max);
  }
  return [];
}
