/**
 * Sentence BLEU with parity to sacrebleu 2.x `sentence_bleu(hyp, [ref])`: tokenizer 13a, smoothing
 * "exp" (mteval-v13a's NIST method 3), effective order, max order 4; returned as score / 100 in [0, 1].
 * The operation order follows sacrebleu's so the floats agree to the last few ulps.
 */

const MAX_ORDER = 4;

/** Python's str.split()/rstrip() whitespace (wider than JS \s on \x1c-\x1f and \x85, narrower on \ufeff). */
const PY_WS = "\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const PY_WS_RUN = new RegExp(`[${PY_WS}]+`, "u");
const PY_WS_TRAIL = new RegExp(`[${PY_WS}]+$`, "u");

/** Python's `s.split()`: split on whitespace runs, no empty fields. */
export function pySplit(s: string): string[] {
  return s.split(PY_WS_RUN).filter((t) => t.length > 0);
}

// sacrebleu.tokenizers.tokenizer_re.TokenizerRegexp, applied in order.
const RE_RULES: Array<[RegExp, string]> = [
  [/([{-~[-` -&(-+:-@/])/gu, " $1 "],
  [/([^0-9])([.,])/gu, "$1 $2 "],
  [/([.,])([^0-9])/gu, " $1 $2"],
  [/([0-9])(-)/gu, "$1 $2 "],
];

/** sacrebleu's Tokenizer13a: the mteval-v13a tokenisation WMT uses; returns space-joined tokens. */
export function tokenize13a(line: string): string {
  let s = line.replaceAll("<skipped>", "").replaceAll("-\n", "").replaceAll("\n", " ");
  if (s.includes("&")) {
    s = s.replaceAll("&quot;", '"').replaceAll("&amp;", "&").replaceAll("&lt;", "<").replaceAll("&gt;", ">");
  }
  s = ` ${s} `;
  for (const [re, repl] of RE_RULES) s = s.replace(re, repl);
  return pySplit(s).join(" ");
}

function preprocess(sent: string): string[] {
  // BLEU._preprocess_segment: tokenizer(sent.rstrip()), then n-grams over line.split()
  return pySplit(tokenize13a(sent.replace(PY_WS_TRAIL, "")));
}

/** n-gram counts per order (index n-1); tokens hold no whitespace, so a space-join is a unique key. */
function ngramCounts(tokens: string[]): Array<Map<string, number>> {
  const byOrder: Array<Map<string, number>> = [];
  for (let n = 1; n <= MAX_ORDER; n++) {
    const counts = new Map<string, number>();
    for (let i = 0; i + n <= tokens.length; i++) {
      const key = tokens.slice(i, i + n).join(" ");
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    byOrder.push(counts);
  }
  return byOrder;
}

/** sacrebleu.utils.my_log: log floored at a very low number for 0. */
function myLog(x: number): number {
  return x === 0 ? -9999999999 : Math.log(x);
}

/** Sentence BLEU of `hyp` against one reference, in [0, 1] (sacrebleu's sentence_bleu(...).score / 100). */
export function bleu(hyp: string, ref: string): number {
  if (typeof hyp !== "string" || typeof ref !== "string") {
    throw new TypeError(`bleu: hyp and ref must be strings (got ${typeof hyp}, ${typeof ref})`);
  }
  const h = preprocess(hyp);
  const r = preprocess(ref);
  const refCounts = ngramCounts(r);
  const hypCounts = ngramCounts(h);
  const correct = new Array<number>(MAX_ORDER).fill(0);
  const total = new Array<number>(MAX_ORDER).fill(0);
  for (let n = 0; n < MAX_ORDER; n++) {
    for (const [key, count] of hypCounts[n]) {
      total[n] += count;
      correct[n] += Math.min(count, refCounts[n].get(key) ?? 0);
    }
  }
  const sysLen = h.length;
  const refLen = r.length;

  let bp = 1.0;
  if (sysLen < refLen) bp = sysLen > 0 ? Math.exp(1 - refLen / sysLen) : 0.0;
  if (!correct.some((c) => c !== 0)) return 0;

  const precisions = new Array<number>(MAX_ORDER).fill(0);
  let smoothMteval = 1;
  let effOrder = MAX_ORDER;
  for (let n = 1; n <= MAX_ORDER; n++) {
    if (total[n - 1] === 0) break;
    effOrder = n;
    if (correct[n - 1] === 0) {
      smoothMteval *= 2;
      precisions[n - 1] = 100 / (smoothMteval * total[n - 1]);
    } else {
      precisions[n - 1] = (100 * correct[n - 1]) / total[n - 1];
    }
  }
  let logSum = 0;
  for (const p of precisions.slice(0, effOrder)) logSum += myLog(p);
  const score = bp * Math.exp(logSum / effOrder);
  return score / 100;
}
