/** safetensors encode/decode, and interop with Python's `safetensors` package both ways. */
import { execFileSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SafetensorsError, decodeSafetensors, encodeSafetensors, type Tensor } from "../../core/store/index.js";
import { PROJECT_ROOT } from "../../temporal.config.js";
import { tempDir } from "../setup/services.js";

const dir = tempDir("kneuron-st-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const python = path.join(PROJECT_ROOT, ".venv", "bin", "python");

const sample = (): Record<string, Tensor> => ({
  "layer.0.act": { dtype: "F32", shape: [2, 3], data: new Float32Array([0.5, -1.25, 3, 1e-7, -0, 65504]) },
  ids: { dtype: "I64", shape: [3], data: new BigInt64Array([1n, -2n, 9007199254740993n]) },
  mask: { dtype: "BOOL", shape: [2, 2], data: new Uint8Array([1, 0, 0, 1]) },
  half: { dtype: "F16", shape: [2], data: new Uint16Array([0x3c00, 0xc000]) }, // 1.0, -2.0
  counts: { dtype: "I32", shape: [2], data: new Int32Array([-7, 2147483647]) },
  bytes: { dtype: "U8", shape: [1], data: new Uint8Array([255]) },
  wide: { dtype: "F64", shape: [1], data: new Float64Array([Math.PI]) },
  empty: { dtype: "F32", shape: [0, 4], data: new Float32Array(0) },
});

describe("safetensors", () => {
  it("round-trips every dtype, shape and metadata in TypeScript", () => {
    const bytes = encodeSafetensors(sample(), { model: "tiny", step: "activate" });
    const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + headerLen) % 8).toBe(0); // data section aligned
    const { tensors, metadata } = decodeSafetensors(bytes);
    expect(metadata).toEqual({ model: "tiny", step: "activate" });
    for (const [name, t] of Object.entries(sample())) {
      expect(tensors[name].dtype).toBe(t.dtype);
      expect(tensors[name].shape).toEqual(t.shape);
      expect(Array.from(tensors[name].data as ArrayLike<number | bigint>)).toEqual(Array.from(t.data as ArrayLike<number | bigint>));
    }
  });

  it("rejects mismatched data and malformed files with SafetensorsError", () => {
    expect(() => encodeSafetensors({ x: { dtype: "F32", shape: [3], data: new Float32Array(2) } })).toThrow(/shape \[3\] holds 3 values, data has 2/);
    expect(() => encodeSafetensors({ x: { dtype: "F32", shape: [1], data: new Float64Array(1) as never } })).toThrow(/needs a Float32Array/);
    const good = encodeSafetensors({ a: { dtype: "U8", shape: [4], data: new Uint8Array(4) } });
    expect(() => decodeSafetensors(good.subarray(0, 6))).toThrow(SafetensorsError);
    expect(() => decodeSafetensors(good.subarray(0, good.length - 1))).toThrow(/outside|trailing|bytes/);
    const junk = new Uint8Array(16);
    new DataView(junk.buffer).setBigUint64(0, 8n, true);
    junk.set(new TextEncoder().encode("not json"), 8);
    expect(() => decodeSafetensors(junk)).toThrow(/header is not JSON/);
  });

  it.skipIf(process.env.KNEURON_SKIP_PY === "1")("writes files Python's safetensors reads, and reads files it writes", () => {
    const ours = path.join(dir, "ours.safetensors");
    writeFileSync(ours, encodeSafetensors(sample(), { producer: "kneuron" }));
    const script = `
import json, sys, numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file
out = {}
with safe_open(sys.argv[1], framework="np") as f:
    out["metadata"] = f.metadata()
    for k in f.keys():
        t = f.get_tensor(k)
        out[k] = {"dtype": str(t.dtype), "shape": list(t.shape), "values": [v.item() if hasattr(v, "item") else v for v in t.reshape(-1)]}
print(json.dumps(out))
save_file({"grid": np.arange(12, dtype=np.float32).reshape(3, 4) / 4, "idx": np.array([5, -6], dtype=np.int64), "flag": np.array([True, False])},
          sys.argv[2], metadata={"from": "python"})
`;
    const theirs = path.join(dir, "theirs.safetensors");
    const seen = JSON.parse(execFileSync(python, ["-c", script, ours, theirs], { encoding: "utf8" }));
    expect(seen.metadata).toEqual({ producer: "kneuron" });
    expect(seen["layer.0.act"]).toEqual({ dtype: "float32", shape: [2, 3], values: [0.5, -1.25, 3, Math.fround(1e-7), -0, 65504] });
    expect(seen.ids.values).toEqual([1, -2, 9007199254740993]);
    expect(seen.mask).toEqual({ dtype: "bool", shape: [2, 2], values: [true, false, false, true] });
    expect(seen.half).toEqual({ dtype: "float16", shape: [2], values: [1, -2] });
    expect(seen.empty).toEqual({ dtype: "float32", shape: [0, 4], values: [] });

    const back = decodeSafetensors(new Uint8Array(readFileSync(theirs)));
    expect(back.metadata).toEqual({ from: "python" });
    expect(back.tensors.grid.shape).toEqual([3, 4]);
    expect(Array.from(back.tensors.grid.data as Float32Array)).toEqual(Array.from({ length: 12 }, (_, i) => i / 4));
    expect(back.tensors.idx.dtype).toBe("I64");
    expect(Array.from(back.tensors.idx.data as BigInt64Array)).toEqual([5n, -6n]);
    expect(back.tensors.flag).toMatchObject({ dtype: "BOOL", shape: [2] });
  });
});
