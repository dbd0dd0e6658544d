/**
 * The foundation's end-to-end check: one activity writes a step (a safetensors tensor and a text
 * file) to the artifact store, another reads it back and verifies every byte. It exercises the
 * same path every real step takes: zod input → core/store → small reference out.
 */
import { z } from "zod";
import { ApplicationFailure } from "@temporalio/common";
import {
  type ArtifactStore,
  decodeSafetensors,
  encodeSafetensors,
  readStep,
  safeSegment,
  stepKey,
  writeStep,
} from "../core/store/index.js";

export const RoundTripInput = z.object({
  runId: z.string().min(1),
  message: z.string().max(10_000),
  /** Elements of the test tensor. */
  size: z.number().int().min(1).max(10_000_000),
});
export type RoundTripInput = z.infer<typeof RoundTripInput>;

export interface RoundTripRef {
  key: string;
  store: string;
  files: Record<string, { sha256: string; bytes: number }>;
}

export interface RoundTripResult {
  key: string;
  message: string;
  elements: number;
  /** Sum of the tensor as read back, compared with the value recomputed from the input. */
  sum: number;
}

function parse<T>(schema: z.ZodType<T>, input: unknown, what: string): T {
  const r = schema.safeParse(input);
  if (!r.success) throw ApplicationFailure.nonRetryable(`${what}: invalid input: ${z.prettifyError(r.error)}`, "InvalidInput");
  return r.data;
}

/** The deterministic test tensor: t[i] = sin(i) · 0.5 (exact in float32 after rounding once). */
function testTensor(size: number): Float32Array {
  const t = new Float32Array(size);
  for (let i = 0; i < size; i++) t[i] = Math.sin(i) * 0.5;
  return t;
}

const sum = (a: Float32Array) => a.reduce((s, x) => s + x, 0);

export function createRoundTripActivities(store: ArtifactStore) {
  return {
    async writeRoundTripArtifact(raw: RoundTripInput): Promise<RoundTripRef> {
      const input = parse(RoundTripInput, raw, "writeRoundTripArtifact");
      const key = stepKey(`roundtrip/${safeSegment(input.runId)}`, input);
      const tensor = encodeSafetensors({ values: { dtype: "F32", shape: [input.size], data: testTensor(input.size) } }, { producer: "kneuron roundtrip" });
      const manifest = await writeStep(store, key, { "values.safetensors": tensor, "message.txt": input.message }, { step: "roundtrip", runId: input.runId });
      return { key, store: store.describe(), files: manifest.files };
    },

    async verifyRoundTripArtifact(raw: { ref: RoundTripRef; input: RoundTripInput }): Promise<RoundTripResult> {
      const input = parse(RoundTripInput, raw.input, "verifyRoundTripArtifact");
      const step = await readStep(store, raw.ref.key); // verifies sha256 of each file it reads
      const message = await step.readText("message.txt");
      const values = decodeSafetensors(await step.read("values.safetensors")).tensors.values;
      if (!values || values.dtype !== "F32" || values.shape[0] !== input.size)
        throw ApplicationFailure.nonRetryable(`${raw.ref.key}: values tensor has the wrong dtype or shape`, "CorruptArtifact");
      const got = sum(values.data as Float32Array);
      const want = sum(testTensor(input.size));
      if (message !== input.message || got !== want)
        throw ApplicationFailure.nonRetryable(`${raw.ref.key}: read back different content than was written`, "CorruptArtifact");
      return { key: raw.ref.key, message, elements: values.data.length, sum: got };
    },
  };
}

export type RoundTripActivities = ReturnType<typeof createRoundTripActivities>;
