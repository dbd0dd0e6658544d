// Parity of the TypeScript runtime with the bundle's testvectors (torch outputs of the unmodified
// Hugging Face model, written by tools/export_bundle.py): logits and taps within 1e-4 absolute,
// greedy captions identical with and without a delta, gradients within 1e-4 relative.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadModel, type ModelRuntime } from "../../core/model/runtime.js";
import { decodeSafetensors, type Tensor } from "../../core/store/safetensors.js";

const BUNDLES = [
  { name: "tiny random LLaVA, family tiny (test/fixtures)", dir: "test/fixtures/model/tiny-random" },
  // family llava: CLS kept (P = 16 + 1), 1 KV head, CLIP crop, the default multi-token LLaVA prompt
  { name: "tiny random LLaVA, family llava (test/fixtures)", dir: "test/fixtures/model/llava-random" },
  // family minigpt4: EVA ViT + 4-token merge (P = 16 on an 8×2 grid), Llama prompt, --weights fp16
  { name: "tiny random MiniGPT-4, family minigpt4 (test/fixtures)", dir: "test/fixtures/model/minigpt4-random" },
  { name: "models/tiny (trained default)", dir: "models/tiny" },
  // Any other exported bundle (e.g. a real LLaVA): KNEURON_PARITY_BUNDLES=dir1:dir2
  ...(process.env.KNEURON_PARITY_BUNDLES ?? "").split(":").filter(Boolean).map((dir) => ({ name: dir, dir })),
];

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** Max |a − ref| over max(1, max |ref|): absolute for values up to 1, relative above, because a
 * float32 sum of magnitude 64 already carries ~1e-5 of rounding (a trained model's A reach 70+). */
function scaledDiff(a: ArrayLike<number>, ref: ArrayLike<number>): number {
  return maxAbsDiff(a, ref) / Math.max(1, maxAbs(ref));
}

/** Row k of a [n, ...] float tensor. */
function row(t: Tensor, k: number): Float32Array {
  const d = t.data as Float32Array;
  const n = d.length / t.shape[0];
  return d.subarray(k * n, (k + 1) * n);
}

for (const b of BUNDLES) {
  const present = existsSync(join(b.dir, "testvectors", "vectors.json"));
  describe.skipIf(!present)(`runtime parity: ${b.name}`, () => {
    let rt: ModelRuntime;
    let tv: Record<string, Tensor>;
    let meta: {
      maxNewTokens: number;
      imageStart: number;
      captions: { ids: number[]; text: string }[];
      captionsDelta: { ids: number[]; text: string }[];
      gradient: { image: number; captionPrefix: number[]; targetId: number };
      tolerances: { logits: number; ffn_act: number; gradRelative: number };
    };
    let pixels: Float32Array[];
    let deltas: Float32Array[];

    beforeAll(async () => {
      rt = await loadModel(b.dir, { intraOpThreads: 1 });
      tv = decodeSafetensors(new Uint8Array(readFileSync(join(b.dir, "testvectors", "vectors.safetensors")))).tensors;
      meta = JSON.parse(readFileSync(join(b.dir, "testvectors", "vectors.json"), "utf8"));
      const n = tv.pixel_values.shape[0];
      pixels = Array.from({ length: n }, (_, k) => row(tv.pixel_values, k));
      deltas = Array.from({ length: n }, (_, k) => row(tv.ffn_delta, k));
    });
    afterAll(() => rt?.close());

    it("preprocesses the test images to the stored pixel values", async () => {
      const S = rt.manifest.image.size;
      const images = tv.images.data as Uint8Array;
      for (let k = 0; k < pixels.length; k++) {
        const px = await rt.preprocess({ data: images.subarray(k * S * S * 3, (k + 1) * S * S * 3), width: S, height: S });
        expect(maxAbsDiff(px, pixels[k])).toBe(0);
      }
    });

    it("image embeddings match within 1e-4", async () => {
      const emb = await rt.embedImages(pixels);
      emb.forEach((e, k) => expect(maxAbsDiff(e, row(tv.image_embeds, k))).toBeLessThan(1e-4));
    });

    it("prefill logits and FFN taps match within 1e-4 (relative to the tensor's scale above 1), without and with a delta", async () => {
      const plain = await rt.prefill(pixels.map((p) => ({ pixels: p })));
      const noisy = await rt.prefill(pixels.map((p, k) => ({ pixels: p, delta: deltas[k] })));
      for (let k = 0; k < pixels.length; k++) {
        expect(scaledDiff(plain[k].logits, row(tv.prefill_logits, k))).toBeLessThan(meta.tolerances.logits);
        expect(scaledDiff(plain[k].act.data, row(tv.prefill_ffn_act, k))).toBeLessThan(meta.tolerances.ffn_act);
        expect(scaledDiff(noisy[k].logits, row(tv.prefill_logits_delta, k))).toBeLessThan(meta.tolerances.logits);
        expect(scaledDiff(noisy[k].act.data, row(tv.prefill_ffn_act_delta, k))).toBeLessThan(meta.tolerances.ffn_act);
      }
      // The delta really changes the model (otherwise the comparison above proves little).
      expect(maxAbsDiff(plain[0].logits, noisy[0].logits)).toBeGreaterThan(1e-2);
      // activate() is the prefill's taps.
      const acts = await rt.activate(pixels);
      expect(maxAbsDiff(acts[1].data, plain[1].act.data)).toBe(0);
    });

    it("greedy captions are identical to torch's, without and with a delta", async () => {
      const opts = { maxNewTokens: meta.maxNewTokens };
      const plain = await rt.caption(pixels.map((p) => ({ pixels: p })), opts);
      const noisy = await rt.caption(pixels.map((p, k) => ({ pixels: p, delta: deltas[k] })), opts);
      expect(plain).toEqual(meta.captions);
      expect(noisy).toEqual(meta.captionsDelta);
    });

    it("z, A and dz/dA of the gradient graph match torch.autograd (1e-4 relative)", async () => {
      const g = meta.gradient;
      const res = await rt.gradient(pixels[g.image], g.captionPrefix, g.targetId);
      const z = (tv.gradient_z.data as Float32Array)[0];
      expect(Math.abs(res.z - z)).toBeLessThan(meta.tolerances.logits * Math.max(1, Math.abs(z)));
      expect(res.act.dims).toEqual([rt.manifest.layers, rt.manifest.imageTokens, rt.manifest.ffnDim]);
      expect(scaledDiff(res.act.data, tv.gradient_act.data as Float32Array)).toBeLessThan(meta.tolerances.ffn_act);
      const ref = tv.gradient_grad.data as Float32Array;
      expect(maxAbs(ref)).toBeGreaterThan(0);
      expect(maxAbsDiff(res.grad.data, ref) / maxAbs(ref)).toBeLessThan(meta.tolerances.gradRelative);
    });
  });
}
