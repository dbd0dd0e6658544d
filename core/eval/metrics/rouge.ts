/**
 * ROUGE-1 F and ROUGE-L F with parity to rouge-score 0.1.x
 * `RougeScorer(["rouge1", "rougeL"], use_stemmer=False).score(target=ref, prediction=hyp)`.
 */

/**
 * rouge_score.tokenize.tokenize without a stemmer: lowercase (Unicode, as Python's str.lower),
 * every run of characters outside [a-z0-9] becomes a space, split, drop empty tokens.
 * So "Café" -> ["caf"], "3-D" -> ["3", "d"], and non-Latin text yields no tokens at all.
 */
export function rougeTokenize(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, " ")
    .split(" ")
    .filter((t) => t.length > 0);
}

/** rouge_score.scoring.fmeasure. */
function fmeasure(precision: number, recall: number): number {
  return precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0.0;
}

function checkArgs(name: string, hyp: unknown, ref: unknown): void {
  if (typeof hyp !== "string" || typeof ref !== "string") {
    throw new TypeError(`${name}: hyp and ref must be strings (got ${typeof hyp}, ${typeof ref})`);
  }
}

/** ROUGE-1 F-measure of `hyp` against `ref` (unigram overlap with clipped counts). */
export function rouge1F(hyp: string, ref: string): number {
  checkArgs("rouge1F", hyp, ref);
  const target = rougeTokenize(ref);
  const prediction = rougeTokenize(hyp);
  const predCounts = new Map<string, number>();
  for (const t of prediction) predCounts.set(t, (predCounts.get(t) ?? 0) + 1);
  const targetCounts = new Map<string, number>();
  for (const t of target) targetCounts.set(t, (targetCounts.get(t) ?? 0) + 1);
  let overlap = 0;
  for (const [t, c] of targetCounts) overlap += Math.min(c, predCounts.get(t) ?? 0);
  const precision = overlap / Math.max(prediction.length, 1);
  const recall = overlap / Math.max(target.length, 1);
  return fmeasure(precision, recall);
}

/** Length of the longest common subsequence of two token lists (rolling-row DP). */
function lcsLength(a: string[], b: string[]): number {
  let prev = new Array<number>(b.length + 1).fill(0);
  let cur = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      cur[j] = a[i - 1] === b[j - 1] ? prev[j - 1] + 1 : Math.max(prev[j], cur[j - 1]);
    }
    [prev, cur] = [cur, prev];
  }
  return prev[b.length];
}

/** ROUGE-L F-measure of `hyp` against `ref` (sentence-level LCS, not rougeLsum). */
export function rougeLF(hyp: string, ref: string): number {
  checkArgs("rougeLF", hyp, ref);
  const target = rougeTokenize(ref);
  const prediction = rougeTokenize(hyp);
  if (target.length === 0 || prediction.length === 0) return 0;
  const lcs = lcsLength(target, prediction);
  return fmeasure(lcs / prediction.length, lcs / target.length);
}
