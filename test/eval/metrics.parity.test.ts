/**
 * Parity of the TypeScript caption metrics with the Python reference libraries on the committed
 * pairs (test/fixtures/metrics/pairs.json -> reference.json, from tools/ref/metrics_ref.py;
 * tools/tests/test_metrics_ref.py keeps the fixture honest against the installed libraries).
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { bleu, createBertScorer, DEFAULT_MINILM_DIR, rouge1F, rougeLF, type BertScorer } from "../../core/eval/metrics/index.js";

const Pairs = z.object({ pairs: z.array(z.object({ id: z.number(), hyp: z.string(), ref: z.string(), tag: z.string() })) });
const Reference = z.object({
  encoder: z.object({ name: z.string(), packageVersion: z.string(), layer: z.number(), weightsSha256: z.string() }),
  results: z.array(z.object({ id: z.number(), bleu: z.number(), rouge1: z.number(), rougeL: z.number(), bertscore: z.number() })),
});

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../fixtures/metrics/${name}`, import.meta.url), "utf8"));
const { pairs } = Pairs.parse(fixture("pairs.json"));
const reference = Reference.parse(fixture("reference.json"));

/** Max abs error over all pairs, with the worst pair for the failure message. */
function maxAbsError(got: number[], want: number[]): { err: number; worst: string } {
  let err = 0;
  let worst = "";
  got.forEach((g, i) => {
    const e = Math.abs(g - want[i]);
    if (!(e <= err)) {
      err = e;
      worst = `pair ${pairs[i].id} (${pairs[i].tag}): ts ${g} vs py ${want[i]}`;
    }
  });
  return { err, worst };
}

const errors: Record<string, number> = {};

describe("caption metrics parity with the Python references", () => {
  it("fixture covers >= 200 pairs including the edge cases", () => {
    expect(pairs.length).toBeGreaterThanOrEqual(200);
    expect(reference.results.map((r) => r.id)).toEqual(pairs.map((p) => p.id));
    const tags = new Set(pairs.map((p) => p.tag));
    for (const t of ["empty-both", "empty-hyp", "empty-ref", "one-word-same", "repeated-word", "punct-only", "decimal", "emoji", "cjk-both"]) {
      expect(tags).toContain(t);
    }
  });

  it.each([
    ["bleu", bleu],
    ["rouge1", rouge1F],
    ["rougeL", rougeLF],
  ] as const)("%s matches to 1e-12", (name, fn) => {
    const got = pairs.map((p) => fn(p.hyp, p.ref));
    const { err, worst } = maxAbsError(got, reference.results.map((r) => r[name]));
    errors[name] = err;
    expect(err, worst).toBeLessThanOrEqual(1e-12);
  });

  describe("BERTScore F1 (all-MiniLM-L6-v2, layer 6, ORT fp32 vs torch fp32)", () => {
    let scorer: BertScorer;
    let emulating: BertScorer;
    let clean: number[];
    let emulated: number[];
    const hyps = pairs.map((p) => p.hyp);
    const refs = pairs.map((p) => p.ref);
    const want = reference.results.map((r) => r.bertscore);
    beforeAll(async () => {
      scorer = await createBertScorer({ dir: DEFAULT_MINILM_DIR });
      emulating = await createBertScorer({ dir: DEFAULT_MINILM_DIR, emulateBatchPadding: true, verify: false });
      clean = await scorer.score(hyps, refs);
      emulated = await emulating.score(hyps, refs);
    });
    afterAll(async () => {
      await scorer?.close();
      await emulating?.close();
      console.log(`metrics parity max abs error: ${JSON.stringify(errors)}`);
    });

    it("uses the encoder the reference used", () => {
      expect(scorer.identity.name).toBe(reference.encoder.name);
      expect(scorer.identity.layer).toBe(reference.encoder.layer);
      expect(scorer.identity.packageVersion).toBe(reference.encoder.packageVersion);
      expect(scorer.identity.weightsSha256).toBe(reference.encoder.weightsSha256);
    });

    it("with bert-score's batch padding emulated, matches bert-score on every pair to 1e-5", async () => {
      const { err, worst } = maxAbsError(emulated, want);
      errors.bertscore = err;
      expect(err, worst).toBeLessThanOrEqual(1e-5);
    });

    it("by default differs from bert-score only where its padding floor lifted a negative best match", async () => {
      let differing = 0;
      clean.forEach((c, i) => {
        if (Math.abs(c - want[i]) <= 1e-5) return;
        differing++;
        // The floor can only raise a best match, so bert-score's value is the higher one.
        expect(c, `pair ${i} (${pairs[i].tag})`).toBeLessThan(emulated[i]);
      });
      errors.bertscoreDefault = maxAbsError(clean, want).err;
      errors.bertscoreDefaultDiffering = differing;
      expect(differing).toBeLessThan(pairs.length / 10);
    });

    it("scores a pair alone as in a batch (default mode)", async () => {
      const unrelated = pairs.findIndex((p) => p.tag === "unrelated");
      for (const i of [0, 3, unrelated, pairs.length - 3]) {
        const [alone] = await scorer.score([hyps[i]], [refs[i]]);
        expect(Math.abs(alone - clean[i])).toBeLessThan(1e-5);
      }
    });
  });
});
