// Behaviour of the model runtime on the committed tiny random bundle: batching does not change
// results, finished rows leave the batch without changing the others, embeddings are reused,
// preprocessing matches Pillow, prompts build like the exporter's, bad input gets typed errors.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ModelError } from "../../core/model/errors.js";
import { batchBytes, geometryOf } from "../../core/model/memory.js";
import { normalise, resizeRgb, type ImageSettings } from "../../core/model/preprocess.js";
import { buildPrompt } from "../../core/model/prompt.js";
import { loadModel, type ModelRuntime } from "../../core/model/runtime.js";
import { loadTokenizer } from "../../core/model/tokenizer.js";
import { decodeSafetensors } from "../../core/store/safetensors.js";
import { uniform } from "../../core/rng.js";

const DIR = "test/fixtures/model/tiny-random";


async function expectModelError(p: Promise<unknown> | (() => unknown), code: ModelError["code"], match?: RegExp): Promise<void> {
  let err: unknown;
  try {
    await (typeof p === "function" ? p() : p);
  } catch (e) {
    err = e;
  }
  expect(err, `expected a ModelError ${code}`).toBeInstanceOf(ModelError);
  expect((err as ModelError).code).toBe(code);
  if (match) expect((err as ModelError).message).toMatch(match);
}

let rt: ModelRuntime;
let pixels: Float32Array[];
let L: number, D: number;

beforeAll(async () => {
  rt = await loadModel(DIR, { intraOpThreads: 1 });
  const tv = decodeSafetensors(new Uint8Array(readFileSync(join(DIR, "testvectors", "vectors.safetensors")))).tensors;
  const px = tv.pixel_values.data as Float32Array;
  const n = px.length / 2;
  pixels = [px.slice(0, n), px.slice(n)];
  ({ layers: L, ffnDim: D } = rt.manifest);
});
afterAll(() => rt?.close());

describe("captioning", () => {
  it("gives the same captions in one batch, in small batches and one at a time, while rows finish at different steps", async () => {
    const r = uniform(7);
    // 12 noise rows over two images with deltas of growing size.
    const items = Array.from({ length: 12 }, (_, k) => {
      const delta = new Float32Array(L * D);
      const scale = k % 6 === 0 ? 0 : 0.5 * (k % 6);
      for (let i = 0; i < delta.length; i++) delta[i] = (r() * 2 - 1) * scale;
      return { pixels: pixels[k % 2], delta };
    });
    const maxNewTokens = 16;
    // A random model rarely says EOS; make its most frequent caption token the EOS (bundle.json is
    // not hashed) so that rows end at different steps and leave the batch.
    const counts = new Map<number, number>();
    for (const c of await rt.caption(items, { maxNewTokens })) for (const id of c.ids.slice(1)) counts.set(id, (counts.get(id) ?? 0) + 1);
    const eos = [...counts].sort((x, y) => y[1] - x[1])[0][0];
    const dir = mkdtempSync(join(tmpdir(), "kneuron-rt-"));
    cpSync(DIR, dir, { recursive: true });
    const manifest = JSON.parse(readFileSync(join(dir, "bundle.json"), "utf8"));
    writeFileSync(join(dir, "bundle.json"), JSON.stringify({ ...manifest, eosId: eos }));
    const m = await loadModel(dir, { intraOpThreads: 1, verifyHashes: false });
    try {
      const whole = await m.caption(items, { maxNewTokens });
      const small = await m.caption(items, { maxNewTokens, batchSize: 5 });
      const single: typeof whole = [];
      for (const it of items) single.push(...(await m.caption([it], { maxNewTokens, batchSize: 1 })));
      expect(small).toEqual(whole);
      expect(single).toEqual(whole);
      const lengths = new Set(whole.map((c) => c.ids.length));
      expect(lengths.size, `caption lengths ${[...lengths]}`).toBeGreaterThan(2); // rows really stopped at different steps
      expect(Math.min(...lengths)).toBeLessThan(maxNewTokens);
      for (const c of whole) expect(c.ids).not.toContain(eos);
      // Noise changes captions (else the comparison above is weak), and a zero delta changes nothing.
      expect(new Set(whole.map((c) => c.text)).size).toBeGreaterThan(2);
      expect(whole[0]).toEqual((await m.caption([{ pixels: pixels[0] }], { maxNewTokens }))[0]);
    } finally {
      await m.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("decoding without the KV cache (the bench baseline) gives the same captions", async () => {
    const delta = new Float32Array(L * D).fill(0.4);
    const items = [{ pixels: pixels[0] }, { pixels: pixels[1], delta }];
    const cached = await rt.caption(items, { maxNewTokens: 10, stopAtEos: false });
    expect(cached.every((c) => c.ids.length === 10)).toBe(true);
    expect(await rt.caption(items, { maxNewTokens: 10, stopAtEos: false, kvCache: false })).toEqual(cached);
  });

  it("reuses image embeddings: captions from embeddings equal captions from pixels", async () => {
    const emb = await rt.embedImages(pixels);
    const delta = new Float32Array(L * D).fill(0.3);
    const a = await rt.caption([{ imageEmbeds: emb[1], delta }, { imageEmbeds: emb[0] }], { maxNewTokens: 8 });
    const b = await rt.caption([{ pixels: pixels[1], delta }, { pixels: pixels[0] }], { maxNewTokens: 8 });
    expect(a).toEqual(b);
  });

  it("reports progress per batch and honours maxNewTokens", async () => {
    const seen: [number, number][] = [];
    const caps = await rt.caption([0, 1, 0, 1, 0].map((k) => ({ pixels: pixels[k] })), {
      maxNewTokens: 3, batchSize: 2, onProgress: (d, t) => seen.push([d, t]),
    });
    expect(seen).toEqual([[2, 5], [4, 5], [5, 5]]);
    for (const c of caps) expect(c.ids.length).toBeLessThanOrEqual(3);
    expect(caps[0].text).toBe(rt.tokenizer.decode(caps[0].ids));
  });

  it("serialises concurrent calls and still returns each its own result", async () => {
    const [a, b] = await Promise.all([
      rt.caption([{ pixels: pixels[0] }], { maxNewTokens: 6 }),
      rt.caption([{ pixels: pixels[1] }], { maxNewTokens: 6 }),
    ]);
    expect(a[0]).toEqual((await rt.caption([{ pixels: pixels[0] }], { maxNewTokens: 6 }))[0]);
    expect(b[0]).toEqual((await rt.caption([{ pixels: pixels[1] }], { maxNewTokens: 6 }))[0]);
  });
});

describe("activations, gradient, readout", () => {
  it("activate returns [L,P,D] per image and matches the gradient graph's A", async () => {
    const [a] = await rt.activate([pixels[0]]);
    expect(a.dims).toEqual([L, rt.manifest.imageTokens, D]);
    const g = await rt.gradient(pixels[0], [], 5);
    let m = 0;
    for (let i = 0; i < a.data.length; i++) m = Math.max(m, Math.abs(a.data[i] - g.act.data[i]));
    expect(m).toBeLessThan(1e-4);
  });

  it("the gradient's z is the prefill logit of the target at the last prompt position", async () => {
    const [p] = await rt.prefill([{ pixels: pixels[1] }]);
    const V = rt.manifest.vocab;
    const T0 = p.logits.length / V;
    const g = await rt.gradient(pixels[1], [], 7);
    expect(Math.abs(g.z - p.logits[(T0 - 1) * V + 7])).toBeLessThan(1e-4);
  });

  it("readout has the manifest's shapes", async () => {
    const r = await rt.readout();
    expect([r.hidden, r.width, r.vocab]).toEqual([rt.manifest.hidden, D, rt.manifest.vocab]);
    expect(r.wOut).toHaveLength(L);
    expect(r.wOut[0].length).toBe(rt.manifest.hidden * D);
    expect(r.wU.length).toBe(rt.manifest.vocab * rt.manifest.hidden);
  });
});

describe("preprocessing", () => {
  const cases = JSON.parse(readFileSync("test/fixtures/model/pil-resize.json", "utf8")) as {
    width: number; height: number; size: number; resize: ImageSettings["resize"]; resample: ImageSettings["resample"]; src: number[]; out: number[];
  }[];
  for (const c of cases) {
    it(`resizes ${c.width}x${c.height} → ${c.size} (${c.resize}, ${c.resample}) exactly like Pillow`, () => {
      const s: ImageSettings = { size: c.size, mean: [0, 0, 0], std: [1, 1, 1], resample: c.resample, resize: c.resize };
      const r = resizeRgb({ data: Uint8Array.from(c.src), width: c.width, height: c.height }, s);
      expect([r.width, r.height]).toEqual([c.size, c.size]);
      expect(Array.from(r.data)).toEqual(c.out);
    });
  }

  it("reads files (RGBA PNG → RGB), resizes and normalises to [3,S,S]", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kneuron-rt-"));
    try {
      const file = join(dir, "red.png");
      await sharp({ create: { width: 50, height: 40, channels: 4, background: { r: 255, g: 0, b: 0, alpha: 1 } } }).png().toFile(file);
      const px = await rt.preprocess(file);
      const S = rt.manifest.image.size;
      expect(px.length).toBe(3 * S * S);
      expect([px[0], px[S * S], px[2 * S * S]]).toEqual([1, -1, -1]); // mean 0.5, std 0.5
      writeFileSync(join(dir, "bad.png"), "not an image");
      await expectModelError(rt.preprocess(join(dir, "bad.png")), "bad-image", /bad\.png/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("normalise follows torch's float32 steps", () => {
    const s: ImageSettings = { size: 1, mean: [0.48145466, 0.4578275, 0.40821073], std: [0.26862954, 0.26130258, 0.27577711], resample: "bicubic", resize: "squash" };
    const px = normalise({ data: Uint8Array.of(0, 128, 255), width: 1, height: 1 }, s);
    const f = Math.fround;
    expect(px[1]).toBe(f(f(f(128 / 255) - f(s.mean[1])) / f(s.std[1])));
  });
});

describe("tokenizer", () => {
  it("behaves like Python tokenizers: unknown words → unk, decode skips specials without space clean-up", () => {
    const t = rt.tokenizer;
    const ids = t.encode("the bear , zzzz .");
    expect(ids.map((id) => t.idToToken(id))).toEqual(["the", "bear", ",", "<unk>", "."]);
    expect(t.decode([rt.manifest.bosId!, ...ids, rt.manifest.eosId])).toBe("the bear , .");
  });
});

describe("prompt building", () => {
  it("reproduces the exporter's prompt ids from the bundle's template", () => {
    const tok = loadTokenizer(JSON.parse(readFileSync(join(DIR, "tokenizer.json"), "utf8")));
    const m = rt.manifest;
    expect(buildPrompt(tok, m.prompt.template, m.bosId)).toEqual({ prefixIds: m.prompt.prefixIds, suffixIds: m.prompt.suffixIds });
  });

  it("a custom prompt changes the sequence the model sees", async () => {
    const other = await loadModel(DIR, { intraOpThreads: 1, verifyHashes: false, prompt: "<image> describe :" });
    try {
      const [a] = await other.prefill([{ pixels: pixels[0] }]);
      const [b] = await rt.prefill([{ pixels: pixels[0] }]);
      expect(a.logits.length).not.toBe(b.logits.length);
    } finally {
      await other.close();
    }
  });
});

describe("bad input gets typed errors", () => {
  it("as rejected promises, never synchronous throws", async () => {
    const p = rt.caption([]);
    expect(p).toBeInstanceOf(Promise);
    await expect(p).rejects.toBeInstanceOf(ModelError);
  });

  it("wrong image size or channels", async () => {
    const S = rt.manifest.image.size;
    await expectModelError(() => rt.caption([{ pixels: new Float32Array(3 * 16 * 16) }]), "bad-image", /item 0.*3x16x16/);
    await expectModelError(() => rt.activate([pixels[0], new Float32Array(4 * S * S)]), "bad-image", /item 1.*4 channels/);
    await expectModelError(rt.preprocess({ data: new Uint8Array(10 * 10 * 4), width: 10, height: 10 }), "bad-image", /4 channels/);
    await expectModelError(() => rt.embedImages([new Float32Array(5)]), "bad-image");
  });

  it("empty batch", async () => {
    await expectModelError(() => rt.caption([]), "empty-batch");
    await expectModelError(() => rt.activate([]), "empty-batch");
  });

  it("delta of the wrong shape or with non-finite values", async () => {
    await expectModelError(() => rt.caption([{ pixels: pixels[0], delta: new Float32Array(L * D - 1) }]), "bad-delta", /delta of item 0.*L\*D/);
    const nan = new Float32Array(L * D);
    nan[3] = NaN;
    await expectModelError(() => rt.caption([{ pixels: pixels[0] }, { pixels: pixels[1], delta: nan }]), "bad-delta", /item 1.*value 3/);
  });

  it("target token outside the vocabulary", async () => {
    await expectModelError(() => rt.gradient(pixels[0], [], rt.manifest.vocab), "bad-token", /targetId/);
    await expectModelError(() => rt.gradient(pixels[0], [5, -1], 5), "bad-token", /captionIds\[1\]/);
  });

  it("prompt without the image slot", async () => {
    await expectModelError(loadModel(DIR, { verifyHashes: false, prompt: "describe the image :" }), "bad-prompt", /exactly one <image>/);
  });

  it("an item without an image, and a batch that would not fit", async () => {
    await expectModelError(() => rt.caption([{ delta: new Float32Array(L * D) }]), "bad-item", /item 0/);
    const small = await loadModel(DIR, { verifyHashes: false, maxBatch: 1, memoryBudgetBytes: batchBytes(geometryOf(rt.manifest), 1) + 1 });
    try {
      await expectModelError(() => small.caption([{ pixels: pixels[0] }, { pixels: pixels[1] }], { batchSize: 2 }), "batch-too-large", /batch of 2.*at most 1/);
      expect((await small.caption([{ pixels: pixels[0] }], { maxNewTokens: 4 }))[0].ids.length).toBeGreaterThan(0);
    } finally {
      await small.close();
    }
    await expectModelError(loadModel(DIR, { verifyHashes: false, maxBatch: 64, memoryBudgetBytes: 1e6 }), "batch-too-large", /batch of 64/);
    // Without an explicit maxBatch the default shrinks to what the budget holds.
    const shrunk = await loadModel(DIR, { verifyHashes: false, memoryBudgetBytes: 3.5 * batchBytes(geometryOf(rt.manifest), 1) });
    expect(shrunk.maxBatch).toBe(3);
    await shrunk.close();
    expect(rt.estimateBatchBytes(32)).toBeGreaterThan(rt.estimateBatchBytes(1) * 31);
  });

  it("a corrupt bundle file, and a closed runtime", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kneuron-rt-"));
    try {
      cpSync(DIR, dir, { recursive: true });
      const f = join(dir, "decoder.onnx");
      const bytes = readFileSync(f);
      bytes[bytes.length - 10] ^= 0xff;
      writeFileSync(f, bytes);
      await expectModelError(loadModel(dir), "bad-bundle", /decoder\.onnx.*sha256/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const closed = await loadModel(DIR, { verifyHashes: false });
    const running = closed.caption([{ pixels: pixels[0] }], { maxNewTokens: 4, stopAtEos: false });
    const closing = closed.close();
    await expectModelError(() => closed.caption([{ pixels: pixels[0] }]), "closed");
    expect((await running)[0].ids).toHaveLength(4); // work queued before close() still finishes
    await closing;
  });
});
