// Decoders exported with `logits_positions` (models/tiny) return logits only where a call needs
// them; older ones (the committed random fixtures) return every position. The runtime reads both
// the same way: prefill logits, target z and captions agree with what every position gives.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadModel, type ModelRuntime } from "../../core/model/runtime.js";
import { batchBytes, geometryOf } from "../../core/model/memory.js";
import { decodeSafetensors } from "../../core/store/safetensors.js";

const NEW = "models/tiny";
const OLD = "test/fixtures/model/tiny-random";

function testPixels(dir: string): Float32Array[] {
  const tv = decodeSafetensors(new Uint8Array(readFileSync(join(dir, "testvectors", "vectors.safetensors")))).tensors;
  const px = tv.pixel_values.data as Float32Array;
  const n = px.length / 2;
  return [px.slice(0, n), px.slice(n)];
}

const models: Record<string, ModelRuntime> = {};
beforeAll(async () => {
  for (const dir of [NEW, OLD]) models[dir] = await loadModel(dir, { intraOpThreads: 1 });
});
afterAll(async () => {
  for (const m of Object.values(models)) await m.close();
});

describe("logits only at the positions a call needs", () => {
  it("is feature-detected from the decoder graph", () => {
    expect(models[NEW].hasLogitsPositions).toBe(true);
    expect(models[OLD].hasLogitsPositions).toBe(false);
  });

  for (const dir of [NEW, OLD]) {
    it(`${dir}: prefill returns every position; target z, activations and captions agree with it`, async () => {
      const rt = models[dir];
      const px = testPixels(dir);
      const V = rt.manifest.vocab;
      const [p0, p1] = await rt.prefill(px.map((pixels) => ({ pixels })));
      const T0 = p0.logits.length / V;
      expect(Number.isInteger(T0) && T0 > rt.manifest.imageTokens).toBe(true);
      // The caption's first token is the argmax of the last prompt position's logits.
      const [c0] = await rt.caption([{ pixels: px[0] }], { maxNewTokens: 6 });
      const last = p0.logits.subarray((T0 - 1) * V, T0 * V);
      expect(c0.ids[0] ?? rt.manifest.eosId).toBe(last.indexOf(Math.max(...last)));
      // target(): teacher-forced rows of different lengths in one call, each reads its own position.
      const caps = await rt.caption(px.map((pixels) => ({ pixels })), { maxNewTokens: 6 });
      const rows = [
        { pixels: px[0], captionIds: [], targetId: 3 },
        { pixels: px[1], captionIds: caps[1].ids.slice(0, 2), targetId: 5 },
      ];
      const [t0, t1] = await rt.target(rows);
      expect(t0.z).toBeCloseTo(p0.logits[(T0 - 1) * V + 3], 4);
      const [full1] = await rt.caption([{ pixels: px[1] }], { maxNewTokens: 3, kvCache: false });
      expect(full1.ids).toEqual(caps[1].ids.slice(0, 3));
      expect(Number.isFinite(t1.z)).toBe(true);
      // activate() asks for the last position only; its A equals prefill's.
      const [a1] = await rt.activate([px[1]]);
      expect(Array.from(a1.data)).toEqual(Array.from(p1.act.data));
    });
  }

  it("the memory estimate counts draft-length logits, not the whole prompt's, where the graph allows", () => {
    const m = models[NEW].manifest;
    const g = geometryOf(m);
    expect(batchBytes({ ...g, logitsEverywhere: false }, 64)).toBeLessThan(batchBytes({ ...g, logitsEverywhere: true }, 64));
  });
});
