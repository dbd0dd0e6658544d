/** The per-sweep records (core/pipeline/records.ts) on a real local store. */
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readLatest, readSweepSpec, sweepRecordKey, SweepRecordError, writeLatest, writeSweepSpec } from "../../core/pipeline/records.js";
import { parseSpec, SpecError } from "../../core/spec.js";
import { createStore, InvalidKeyError } from "../../core/store/index.js";

const store = async () => createStore({ kind: "local", dir: await mkdtemp(join(tmpdir(), "kneuron-records-")) });

describe("sweep records", () => {
  it("write and read back the spec and the latest results; absent → undefined", async () => {
    const s = await store();
    expect(await readSweepSpec(s, "sw1")).toBeUndefined();
    expect(await readLatest(s, "sw1")).toBeUndefined();
    const spec = parseSpec({ concepts: ["bear"], samplesPerConcept: 2 });
    await writeSweepSpec(s, "sw1", spec);
    await writeLatest(s, "sw1", { resultsKey: "sweeps/sw1/results/abc", planKey: "sweeps/sw1/plan/def" });
    expect(await readSweepSpec(s, "sw1")).toEqual(spec);
    expect(await readLatest(s, "sw1")).toEqual({ resultsKey: "sweeps/sw1/results/abc", planKey: "sweeps/sw1/plan/def" });
    expect(new TextDecoder().decode(await s.get("sweeps/sw1/latest.json"))).toBe('{"resultsKey":"sweeps/sw1/results/abc","planKey":"sweeps/sw1/plan/def"}');
  });

  it("a broken record, an invalid stored spec, an unsafe id: each a clear error", async () => {
    const s = await store();
    await s.put(sweepRecordKey("sw2", "latest.json"), "{not json");
    await expect(readLatest(s, "sw2")).rejects.toThrow(SweepRecordError);
    await s.put(sweepRecordKey("sw2", "latest.json"), JSON.stringify({ planKey: "p" }));
    await expect(readLatest(s, "sw2")).rejects.toThrow(/sweeps\/sw2\/latest\.json: not a results pointer: .*resultsKey/);
    await s.put(sweepRecordKey("sw2", "spec.json"), JSON.stringify({ samplesPerConcept: -1 }));
    await expect(readSweepSpec(s, "sw2")).rejects.toThrow(SpecError);
    expect(() => sweepRecordKey("../x", "spec.json")).toThrow(InvalidKeyError);
  });
});
