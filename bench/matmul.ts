// The dense float32 matmul rate of onnxruntime on this machine: a one-node ONNX graph
// Y = X·W (W a [K,N] initializer, X [M,K] with M symbolic), written as protobuf bytes here so the
// bench needs no Python, timed in the calling process with the same session options as the runtime.
import * as ort from "onnxruntime-node";

// Minimal protobuf writer: varint fields and length-delimited fields are all an ONNX model needs.
const varint = (n: number): number[] => {
  const out: number[] = [];
  while (n > 0x7f) { out.push((n & 0x7f) | 0x80); n = Math.floor(n / 128); }
  out.push(n);
  return out;
};
const vField = (field: number, n: number) => [...varint(field << 3), ...varint(n)];
const bField = (field: number, bytes: ArrayLike<number>) => [...varint((field << 3) | 2), ...varint(bytes.length), ...Array.from(bytes)];
const sField = (field: number, s: string) => bField(field, new TextEncoder().encode(s));

const FLOAT = 1;
/** ValueInfoProto of a float tensor; a string dim is symbolic. */
const valueInfo = (name: string, dims: (number | string)[]) => [
  ...sField(1, name),
  ...bField(2, bField(1, [...vField(1, FLOAT), ...bField(2, dims.flatMap((d) => bField(1, typeof d === "number" ? vField(1, d) : sField(2, d))))])),
];

/** ModelProto bytes of Y[M,N] = X[M,K] · W[K,N] with W filled from `seed`. */
export function matmulModel(K: number, N: number, seed = 1): Uint8Array {
  const w = new Float32Array(K * N);
  let s = seed;
  for (let i = 0; i < w.length; i++) { s = (s * 1103515245 + 12345) >>> 0; w[i] = s / 2 ** 32 - 0.5; }
  const tensor = [...vField(1, K), ...vField(1, N), ...vField(2, FLOAT), ...sField(8, "W"), ...bField(9, new Uint8Array(w.buffer))];
  const node = [...sField(1, "X"), ...sField(1, "W"), ...sField(2, "Y"), ...sField(4, "MatMul")];
  const graph = [...bField(1, node), ...sField(2, "matmul"), ...bField(5, tensor), ...bField(11, valueInfo("X", ["M", K])), ...bField(12, valueInfo("Y", ["M", N]))];
  return Uint8Array.from([...vField(1, 8), ...bField(7, graph), ...bField(8, [...sField(1, ""), ...vField(2, 13)])]);
}

/**
 * GFLOP/s of onnxruntime MatMul over `shapes` ([K,N] with a count each, as in one decoder
 * layer), M rows each: total FLOPs over total time, best of `reps` timed runs per shape.
 */
export async function denseMatmulRate(shapes: { k: number; n: number; count: number }[], M: number, threads: number, reps = 5): Promise<number> {
  let flops = 0, seconds = 0;
  for (const { k, n, count } of shapes) {
    const session = await ort.InferenceSession.create(matmulModel(k, n), { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: "sequential", graphOptimizationLevel: "all" });
    try {
      const x = new ort.Tensor("float32", Float32Array.from({ length: M * k }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5), [M, k]);
      await session.run({ X: x }); // warm-up
      let best = Infinity;
      for (let r = 0; r < reps; r++) {
        const t0 = performance.now();
        await session.run({ X: x });
        best = Math.min(best, (performance.now() - t0) / 1000);
      }
      flops += count * 2 * M * k * n;
      seconds += count * best;
    } finally {
      await session.release();
    }
  }
  return flops / seconds / 1e9;
}
