// The evaluation on a small REAL sweep (direct runner, the committed models/tiny bundle, the real
// BERTScore encoder): σ = 0 gives S = 0 and R = 1 on faithful sets, every interval contains its
// estimate, the random groups match the two-stage group's size and layers, Table II recomputed
// from captions.csv equals table2.csv, and captions.parquet reads back in pandas as the CSV.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBertScorer, DEFAULT_MINILM_DIR } from "../../core/eval/metrics/index.js";
import { loadModel, type ModelRuntime } from "../../core/model/runtime.js";
import type { SweepResults } from "../../core/pipeline/aggregate.js";
import { runDirect } from "../../core/pipeline/direct.js";
import { parseSpec } from "../../core/spec.js";
import { createStore, readStep, type StepReader } from "../../core/store/index.js";
import { PYTHON } from "../setup/python.js";

const BUNDLE = "models/tiny";

/** RFC 4180 rows (quoted cells may hold commas, quotes and newlines). */
function parseCsv(text: string): Record<string, string>[] {
  const rows: string[][] = [];
  let row: string[] = [], cell = "", quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') { cell += '"'; i++; }
      else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") { row.push(cell); cell = ""; }
    else if (ch === "\n") { row.push(cell); rows.push(row); row = []; cell = ""; }
    else cell += ch;
  }
  const [head, ...body] = rows;
  return body.map((r) => Object.fromEntries(head.map((h, k) => [h, r[k]])));
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe.skipIf(!existsSync(join(BUNDLE, "bundle.json")))("evaluation on a small real sweep (models/tiny)", () => {
  let dir: string;
  let model: Promise<ModelRuntime> | undefined;
  let results: SweepResults;
  let step: StepReader;
  const levels = [16, 512];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kn-eval-"));
    const store = createStore({ kind: "local", dir: join(dir, "store") });
    let bert: ReturnType<typeof createBertScorer> | undefined;
    const spec = parseSpec({
      bundle: BUNDLE, concepts: ["bear", "banana"], samplesPerConcept: 1, seed: 2,
      noise: { levels, draws: 2 }, randomGroups: 5,
      eval: { otherImages: 4, maxNewTokens: 24, bootstrap: { resamples: 300, seed: 1 } },
    });
    const run = await runDirect({ store, model: () => (model ??= loadModel(BUNDLE)), bertScorer: () => (bert ??= createBertScorer({ dir: DEFAULT_MINILM_DIR })) }, "eval-test", spec);
    step = await readStep(store, run.resultsKey);
    results = await step.readJson<SweepResults>("results.json");
  }, 600_000);
  afterAll(async () => {
    await (await model)?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("has a σ = 0 row per method and knowledge with S = 0 and R = 1 (faithful sets)", () => {
    expect(results.evaluation.sets).toBe("faithful");
    expect(results.methods).toEqual(["two-stage", "schwettmann", "pan", "random"]);
    const zero = results.table2.filter((r) => r.sigma === 0);
    expect(zero.length).toBeGreaterThanOrEqual(4 * 2); // every method × (each accepted knowledge + average)
    for (const r of zero) expect([r.suppression, r.retention, r.selectivity], `${r.method} ${r.concept}`).toEqual([0, 1, 0]);
    for (const r of results.table2) expect(r.n_same).toBeGreaterThan(0);
  });

  it("every interval contains its estimate (Table II and the paired differences)", () => {
    const rows = [...results.table2, ...results.differences] as unknown as Record<string, number>[];
    for (const r of rows) for (const m of ["suppression", "retention", "score", "selectivity"]) {
      expect(r[`${m}_lo`], `${JSON.stringify(r)} ${m}`).toBeLessThanOrEqual(r[m] + 1e-9);
      expect(r[`${m}_hi`], `${JSON.stringify(r)} ${m}`).toBeGreaterThanOrEqual(r[m] - 1e-9);
    }
    expect(results.differences.map((d) => `${d.a}-${d.b}`)).toContain("two-stage-random");
  });

  it("random groups have the two-stage group's size and count per layer", () => {
    const bySample = new Map<string, Map<string, number[]>>();
    for (const n of results.neurons) {
      const groups = bySample.get(n.sampleId) ?? new Map<string, number[]>();
      bySample.set(n.sampleId, groups);
      groups.set(n.group, [...(groups.get(n.group) ?? []), n.layer]);
    }
    expect(bySample.size).toBeGreaterThan(0);
    for (const groups of bySample.values()) {
      const ts = [...(groups.get("two-stage") ?? [])].sort();
      const randoms = [...groups.keys()].filter((g) => g.startsWith("random-"));
      expect(randoms).toHaveLength(5);
      for (const g of randoms) expect([...groups.get(g)!].sort()).toEqual(ts);
    }
  });

  it("Table II recomputed from captions.csv equals table2.csv", async () => {
    const caps = parseCsv(await step.readText("captions.csv"));
    const table2 = parseCsv(await step.readText("table2.csv"));
    // The faithful sets of each sample, from its clean rows.
    const pSame = new Map<string, number[]>(), pOther = new Map<string, number[]>();
    const sampleIds = [...new Set(caps.map((c) => c.sample_id))];
    const concepts = new Map<string, string>();
    for (const sid of sampleIds) {
      const rows = caps.filter((c) => c.sample_id === sid);
      const concept = rows[0].concept;
      concepts.set(sid, concept);
      const clean = rows.filter((c) => c.method === "clean");
      const named = (r: Record<string, string>) => r.mentioned.split(";").filter(Boolean);
      const same = clean.filter((c) => c.image_concepts.split(";").includes(concept) && named(c).includes(concept)).map((c) => c.image_id);
      const other = clean.filter((c) => !c.image_concepts.split(";").includes(concept)).flatMap((c) => named(c).map((k) => [c.image_id, k] as const));
      const runs = new Map<string, Record<string, string>[]>();
      for (const r of rows.filter((c) => c.method !== "clean")) runs.set(`${r.group}|${r.sigma}|${r.draw}`, [...(runs.get(`${r.group}|${r.sigma}|${r.draw}`) ?? []), r]);
      for (const [run, rs] of runs) {
        const [group, sigma] = run.split("|");
        const method = rs[0].method;
        const byImage = new Map(rs.map((r) => [r.image_id, r]));
        const ps = mean(same.map((id) => (byImage.get(id)!.mentions_target === "true" ? 1 : 0)));
        const po = mean(other.map(([id, k]) => (named(byImage.get(id)!).includes(k) ? 1 : 0)));
        const key = `${sid}|${method}|${sigma}`;
        pSame.set(key, [...(pSame.get(key) ?? []), ps]);
        pOther.set(key, [...(pOther.get(key) ?? []), po]);
        expect(group.startsWith(method)).toBe(true);
      }
    }
    for (const method of results.methods) {
      const perConcept = (sigma: number, f: Map<string, number[]>) => {
        const cs = [...new Set(sampleIds.map((s) => concepts.get(s)!))];
        return mean(cs.map((c) => mean(sampleIds.filter((s) => concepts.get(s) === c).map((s) => mean(f.get(`${s}|${method}|${sigma}`)!)))));
      };
      for (const sigma of levels) {
        const row = table2.find((r) => r.method === method && r.concept === "average" && r.sigma === String(sigma))!;
        expect(Number(row.suppression), `${method} σ=${sigma}`).toBeCloseTo(1 - perConcept(sigma, pSame), 5);
        expect(Number(row.retention), `${method} σ=${sigma}`).toBeCloseTo(perConcept(sigma, pOther), 5);
      }
    }
  });

  it.skipIf(!existsSync(PYTHON))("captions.parquet reads back in pandas/pyarrow as captions.csv", async () => {
    const csv = join(dir, "captions.csv"), parquet = join(dir, "captions.parquet");
    const { writeFile } = await import("node:fs/promises");
    await writeFile(csv, await step.readText("captions.csv"));
    await writeFile(parquet, await step.read("captions.parquet"));
    const py = `
import sys, pandas as pd
a = pd.read_parquet(sys.argv[1]); b = pd.read_csv(sys.argv[2], keep_default_na=False)
cols = ["concept","sample_id","method","group","sigma","draw","image_id","image_concepts","caption","mentions_target","mentioned"]
assert list(a.columns) == cols, list(a.columns)
assert len(a) == len(b) > 0, (len(a), len(b))
for c in cols:
    x, y = a[c].tolist(), b[c].tolist()
    if c == "mentions_target": y = [v in (True, "true") for v in y]
    if c == "sigma": x, y = [float(v) for v in x], [float(v) for v in y]
    if c in ("draw", "image_id"): x, y = [int(v) for v in x], [int(v) for v in y]
    if c in ("image_concepts", "mentioned", "caption", "concept", "sample_id", "method", "group"): x, y = [str(v) for v in x], [str(v) for v in y]
    assert x == y, c
print(len(a))
`;
    const r = spawnSync(PYTHON, ["-c", py, parquet, csv], { encoding: "utf8", timeout: 120_000 });
    expect(r.stderr).toBe("");
    expect(Number(r.stdout.trim())).toBeGreaterThan(100);
  });
});
