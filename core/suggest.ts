import { distance } from "fastest-levenshtein";

/**
 * The candidate nearest to `word` (case-insensitive edit distance), if it is near enough to be a
 * likely misspelling: at most a third of the longer name's letters differ (at least one).
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
  return bestD <= Math.max(1, Math.floor(Math.max(w.length, best.length) / 3)) ? best : undefined;
}

/** " (did you mean X?)" or "". */
export const didYouMean = (word: string, candidates: Iterable<string>): string => {
  const c = closest(word, candidates);
  return c === undefined ? "" : ` (did you mean ${JSON.stringify(c)}?)`;
};
