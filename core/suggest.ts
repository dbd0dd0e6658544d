import { distance } from "fastest-levenshtein";

/**
 * The candidate nearest to `word` (case-insensitive edit distance), if it is near enough to be a
 * likely misspelling: at most a third of the longer name's letters differ (at least 2; 1 for
 * names of up to 3 letters).
 */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = distance(w, c.toLowerCase());
    if (d < bestD) (best = c), (bestD = d);
  }
  if (best === undefined) return undefined;
  const n = Math.max(w.length, best.length);
  return bestD <= (n <= 3 ? 1 : Math.max(2, Math.floor(n / 3))) ? best : undefined;
}

/** " (did you mean X?)" or "". */
export const didYouMean = (word: string, candidates: Iterable<string>): string => {
  const c = closest(word, candidates);
  return c === undefined ? "" : ` (did you mean ${JSON.stringify(c)}?)`;
};
