// Draft verification is exact: captions with a draft equal plain greedy decoding token for token,
// on the committed models/tiny and the random LLaVA and MiniGPT-4 bundles, for good drafts (the clean caption),
// drafts that diverge at the first token, wrong-length and empty drafts, rows that reach the
// length limit, and rows that fall back to plain greedy on a near-tie.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lookupDraft, NEAR_TIE, topMargin, walkDraft } from "../../core/model/draft.js";
import { ModelError } from "../../core/model/errors.js";
import { batchBytes, geometryOf } from "../../core/model/memory.js";
import { emptyDraftStats, loadModel, type CaptionItem, type ModelRuntime } from "../../core/model/runtime.js";
import { decodeSafetensors } from "../../core/store/safetensors.js";
import { uniform } from "../../core/rng.js";


const BUNDLES = ["test/fixtures/model/tiny-random", "test/fixtures/model/llava-random", "test/fixtures/model/minigpt4-random", "models/tiny"].filter((d) => existsSync(join(d, "bundle.json")));

describe("walkDraft", () => {
  const V = 4;
  // Logits for 3 positions: greedy says 2, 1, 3.
  const logits = Float32Array.from([0, 0, 5, 1, /**/ 0, 6, 1, 0, /**/ 0, 0, 1, 7]);
  const at = (j: number) => j * V;
  it("accepts the agreeing prefix and returns the first disagreeing greedy token", () => {
    expect(walkDraft(logits, at, V, [2, 0], 2, 32, 99)).toEqual({ kind: "continue", ids: [2, 1], accepted: 1 });
    expect(walkDraft(logits, at, V, [2, 1], 2, 32, 99)).toEqual({ kind: "continue", ids: [2, 1, 3], accepted: 2 });
  });
  it("ends at EOS or the length limit inside the draft", () => {
    expect(walkDraft(logits, at, V, [2, 1], 2, 32, 3)).toEqual({ kind: "done", ids: [2, 1], accepted: 2 });
    expect(walkDraft(logits, at, V, [2, 1], 1, 2, 99)).toEqual({ kind: "done", ids: [2, 1], accepted: 1 });
  });
  it("reports a near-tie instead of guessing", () => {
    const tie = Float32Array.from([0, 0, 5, 5 - NEAR_TIE / 2]);
    expect(walkDraft(tie, at, V, [2], 0, 32, 99)).toEqual({ kind: "tie" });
    expect(topMargin(Float32Array.from([3, 3, 1]), 0, 3)).toEqual({ tok: 0, margin: 0 });
  });
});

describe("lookupDraft", () => {
  // draft: "the image shows a book , a bear and a cake ." as ids 1..
  const draft = [1, 2, 3, 4, 5, 6, 4, 7, 8, 4, 9, 10];
  it("re-aligns on the longest matching tail, nearest the caption's position", () => {
    expect(lookupDraft([1, 2, 3, 4, 7, 6, 4], draft, 3)).toEqual([7, 8, 4]); // tail ", a" → " bear and a"
    expect(lookupDraft([1, 2, 3, 4, 7, 8, 4], draft, 2)).toEqual([9, 10]); // "and a" → "cake ."
    expect(lookupDraft([1, 2, 3, 4], draft, 1)).toEqual([5]);
  });
  it("proposes nothing without a match, past the draft's end, or with no room", () => {
    expect(lookupDraft([11], draft, 4)).toEqual([]);
    expect(lookupDraft([10], draft, 4)).toEqual([]);
    expect(lookupDraft([1], draft, 0)).toEqual([]);
  });
});

describe.each(BUNDLES)("captions with drafts on %s", (dir) => {
  let rt: ModelRuntime;
  let items: CaptionItem[];
  beforeAll(async () => {
    rt = await loadModel(dir, { intraOpThreads: 1 });
    const { layers: L, ffnDim: D } = rt.manifest;
    const tv = decodeSafetensors(new Uint8Array(readFileSync(join(dir, "testvectors", "vectors.safetensors")))).tensors;
    const px = tv.pixel_values.data as Float32Array;
    const n = px.length / 2;
    const pixels = [px.slice(0, n), px.slice(n)];
    // 24 noise rows over the two images, from no noise to strong noise on a few neurons.
    const r = uniform(11);
    const neurons = Array.from({ length: 12 }, () => Math.floor(r() * L * D));
    items = Array.from({ length: 24 }, (_, k) => {
      const delta = new Float32Array(L * D);
      const scale = [0, 0.5, 2, 8][k % 4] * (dir.includes("random") ? 0.3 : 1);
      for (const i of neurons) delta[i] = (r() * 2 - 1) * scale * 4;
      return { pixels: pixels[k % 2], delta };
    });
  });
  afterAll(() => rt?.close());

  it("equal plain greedy decoding for clean, wrong, empty and over-long drafts and at the length limit", async () => {
    for (const maxNewTokens of [32, 5]) {
      const plain = await rt.caption(items, { maxNewTokens });
      const clean = await rt.caption(items.slice(0, 2).map((it) => ({ pixels: it.pixels })), { maxNewTokens });
      const V = rt.manifest.vocab;
      const drafted: CaptionItem[] = items.map((it, k) => {
        const own = clean[k % 2].ids;
        const draft = [
          own, // the clean caption: the sweep's draft
          clean[(k + 1) % 2].ids, // the other image's caption
          [(plain[k].ids[0] ?? 0) + 1 === V ? 0 : (plain[k].ids[0] ?? 0) + 1, ...own.slice(1)], // wrong from the first token
          [], // no draft
          [...own, ...own, ...own], // longer than the limit
          own.slice(0, 2), // a short prefix
        ][k % 6];
        return { ...it, draft };
      });
      const stats = emptyDraftStats();
      const withDraft = await rt.caption(drafted, { maxNewTokens, draftStats: stats });
      expect(withDraft.map((c) => c.ids)).toEqual(plain.map((c) => c.ids));
      expect(withDraft.map((c) => c.text)).toEqual(plain.map((c) => c.text));
      expect(stats.rows).toBe(items.length);
      // Every case happened: rows at the limit, rows fully accepted, rows diverging at token 0.
      if (maxNewTokens === 5) expect(plain.some((c) => c.ids.length === maxNewTokens)).toBe(true);
      expect(stats.fullyAccepted).toBeGreaterThan(0);
      expect(drafted.some((it, k) => it.draft!.length > 0 && it.draft![0] !== plain[k].ids[0])).toBe(true);
      expect(stats.ties).toBeLessThanOrEqual(items.length / 8); // rare (random weights give flat logits); exact anyway
      console.log(`${dir}, ${maxNewTokens} new tokens: ${JSON.stringify(stats)}`);
      // Small batches give the same captions.
      expect((await rt.caption(drafted, { maxNewTokens, batchSize: 5 })).map((c) => c.ids)).toEqual(plain.map((c) => c.ids));
    }
  });

  it("falls back to plain greedy on a near-tie, and with any re-draft length, still exact", async () => {
    const clean = await rt.caption(items.slice(0, 2).map((it) => ({ pixels: it.pixels })));
    const drafted = items.map((it, k) => ({ ...it, draft: clean[k % 2].ids }));
    const plain = await rt.caption(items);
    // A huge tolerance makes every argmax a "near-tie": every row takes the fallback.
    const stats = emptyDraftStats();
    const got = await rt.caption(drafted, { draftStats: stats, nearTie: Infinity });
    // No re-drafting, and long re-drafts: the same captions.
    expect((await rt.caption(drafted, { lookupTokens: 0 })).map((c) => c.ids)).toEqual(plain.map((c) => c.ids));
    expect((await rt.caption(drafted, { lookupTokens: 32 })).map((c) => c.ids)).toEqual(plain.map((c) => c.ids));
    expect(stats.ties).toBe(items.length);
    expect(got.map((c) => c.ids)).toEqual(plain.map((c) => c.ids));
  });

  it("shrinks the default batch to what a drafted batch's longer cache fits in the memory budget", async () => {
    const g = geometryOf(rt.manifest);
    const budget = batchBytes(g, 8, 32) + 1; // 8 plain rows fit, 8 drafted rows (3 × 32 cache slots) do not
    expect(batchBytes(g, 8, 96)).toBeGreaterThan(budget);
    const small = await loadModel(dir, { intraOpThreads: 1, maxBatch: 8, memoryBudgetBytes: budget });
    try {
      const clean = await small.caption(items.slice(0, 2).map((it) => ({ pixels: it.pixels })));
      const drafted = items.slice(0, 12).map((it, k) => ({ ...it, draft: clean[k % 2].ids }));
      const plain = await small.caption(items.slice(0, 12));
      expect((await small.caption(drafted)).map((c) => c.ids)).toEqual(plain.map((c) => c.ids));
      await expect(small.caption(drafted, { batchSize: 8 })).rejects.toThrow(/batch of 8/);
    } finally {
      await small.close();
    }
  });

  it("refuses a draft that is not token ids", async () => {
    const bad = [{ ...items[0], draft: [rt.manifest.vocab] }];
    await expect(rt.caption(bad)).rejects.toThrow(ModelError);
    await expect(rt.caption(bad)).rejects.toThrow(/draft of item 0, token 0/);
    await expect(rt.caption([{ ...items[0], draft: "a cat" as unknown as number[] }])).rejects.toThrow(/draft of item 0/);
  });
});
