/**
 * The per-sweep records beside the content-addressed steps, under `sweeps/<id>/`:
 * - `spec.json`: the spec the sweep was started with (written by `sweep start`, the plan activity
 *   and the direct runner; read by `sweep resume` and the report);
 * - `latest.json`: `{resultsKey, planKey}` of the sweep's latest results (written after
 *   aggregation; read by `sweep status`, `kneuron report` and the report);
 * - `report.json`: `{reportKey, resultsKey}` of the latest report (written by report/build.ts).
 * Unlike steps they are overwritten: a resumed or re-run sweep points them at its newest results.
 */
import { z } from "zod";
import { BadInputError } from "../errors.js";
import { parseSpec, type SweepSpec } from "../spec.js";
import { ArtifactNotFoundError, type ArtifactStore, safeSegment } from "../store/index.js";

export type SweepRecord = "spec.json" | "latest.json" | "report.json";

/** `sweeps/<id>/<name>`; an id that is not a safe key segment is an InvalidKeyError. */
export const sweepRecordKey = (sweepId: string, name: SweepRecord): string => `sweeps/${safeSegment(sweepId)}/${name}`;

/** A sweep record that is not JSON or not of its shape. */
export class SweepRecordError extends BadInputError {
  constructor(readonly key: string, problem: string) {
    super(`${key}: ${problem}`);
  }
}

const Latest = z.object({ resultsKey: z.string().min(1), planKey: z.string().min(1).optional() });
export type LatestResults = z.infer<typeof Latest>;
export interface ReportRecord {
  reportKey: string;
  resultsKey: string;
}

/** The record's JSON, or undefined when the store has none. */
async function read(store: ArtifactStore, key: string): Promise<unknown> {
  let bytes: Uint8Array;
  try {
    bytes = await store.get(key);
  } catch (e) {
    if (e instanceof ArtifactNotFoundError) return undefined;
    throw e;
  }
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new SweepRecordError(key, `not JSON (${(e as Error).message})`);
  }
}

export async function writeSweepSpec(store: ArtifactStore, sweepId: string, spec: SweepSpec): Promise<void> {
  await store.put(sweepRecordKey(sweepId, "spec.json"), JSON.stringify(spec, null, 1));
}

/** The stored spec (validated; an invalid one is a SpecError), or undefined when none is stored. */
export async function readSweepSpec(store: ArtifactStore, sweepId: string): Promise<SweepSpec | undefined> {
  const raw = await read(store, sweepRecordKey(sweepId, "spec.json"));
  return raw === undefined ? undefined : parseSpec(raw);
}

export async function writeLatest(store: ArtifactStore, sweepId: string, latest: LatestResults): Promise<void> {
  await store.put(sweepRecordKey(sweepId, "latest.json"), JSON.stringify({ resultsKey: latest.resultsKey, planKey: latest.planKey }));
}

/** The sweep's latest results, or undefined when it has none yet. */
export async function readLatest(store: ArtifactStore, sweepId: string): Promise<LatestResults | undefined> {
  const key = sweepRecordKey(sweepId, "latest.json");
  const raw = await read(store, key);
  if (raw === undefined) return undefined;
  const p = Latest.safeParse(raw);
  if (!p.success) throw new SweepRecordError(key, `not a results pointer: ${z.prettifyError(p.error).replace(/\n/g, "; ")}`);
  return p.data;
}

export async function writeReportRecord(store: ArtifactStore, sweepId: string, record: ReportRecord): Promise<void> {
  await store.put(sweepRecordKey(sweepId, "report.json"), JSON.stringify({ reportKey: record.reportKey, resultsKey: record.resultsKey }));
}
