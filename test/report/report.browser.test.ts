/// <reference lib="dom" />
// The report of a small REAL sweep (direct runner, real bundle, real BERTScore encoder), built
// from the store, exported, and loaded in headless Chromium: no console errors, no failed
// requests, every image decodes, and the tables hold the numbers of results.json.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBertScorer, DEFAULT_MINILM_DIR } from "../../core/eval/metrics/index.js";
import { loadModel, type ModelRuntime } from "../../core/model/runtime.js";
import type { SweepResults } from "../../core/pipeline/aggregate.js";
import { runDirect, type DirectRunResult } from "../../core/pipeline/direct.js";
import { parseSpec } from "../../core/spec.js";
import { createStore, isComplete, readStep, type ArtifactStore } from "../../core/store/index.js";
import { buildReport, exportReport, ReportError, type BuiltReport } from "../../report/build.js";
import { launchChromium, openWatched, type Watched } from "./browser.js";

// The trained default bundle when present (accepted samples, full tables); the random-weight
// fixture otherwise (every sample rejected: the empty-table and rejected-sample paths);
// KNEURON_REPORT_BUNDLE=DIR and KNEURON_REPORT_CONCEPTS=a,b pick others.
const BUNDLE = process.env.KNEURON_REPORT_BUNDLE ?? (existsSync("models/tiny/bundle.json") ? "models/tiny" : "test/fixtures/model/tiny-random");
const CONCEPTS = (process.env.KNEURON_REPORT_CONCEPTS ?? "bear,bus").split(",");
const SWEEP = "report-test";
const f4 = (x: number | null) => (typeof x === "number" && Number.isFinite(x) ? x.toFixed(4) : "—");

describe(`sweep report in Chromium (${BUNDLE})`, () => {
  let dir: string;
  let store: ArtifactStore;
  let model: Promise<ModelRuntime> | undefined;
  let run: DirectRunResult;
  let results: SweepResults;
  let built: BuiltReport;
  let browser: Browser;
  let view: Watched;
  let page: Page;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kn-report-"));
    store = createStore({ kind: "local", dir: join(dir, "store") });
    let bert: ReturnType<typeof createBertScorer> | undefined;
    const spec = parseSpec({
      bundle: BUNDLE, concepts: CONCEPTS, samplesPerConcept: 1, seed: 1,
      noise: { levels: [1, 4], draws: 2, relative: true },
      eval: { otherImages: 4, maxNewTokens: 24 },
    });
    run = await runDirect({ store, model: () => (model ??= loadModel(BUNDLE)), bertScorer: () => (bert ??= createBertScorer({ dir: DEFAULT_MINILM_DIR })) }, SWEEP, spec);
    results = await (await readStep(store, run.resultsKey)).readJson<SweepResults>("results.json");
    built = await buildReport({ store, sweepId: SWEEP });
    const index = await exportReport(store, built.key, join(dir, "out"));
    browser = await launchChromium();
    view = await openWatched(browser, pathToFileURL(index).href);
    page = view.page;
  });
  afterAll(async () => {
    await browser?.close();
    await (await model)?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("writes the report as a verifiable step; a rebuild from the store reuses it", async () => {
    expect(built.key).toMatch(/^sweeps\/report-test\/report\/[0-9a-f]{20}$/);
    expect(built.files[0]).toBe("index.html");
    expect(await isComplete(store, built.key)).toBe(true);
    const again = await buildReport({ store, resultsKey: run.resultsKey });
    expect(again).toEqual({ ...built, reused: true });
    expect((await readdir(join(dir, "out"))).sort()).toEqual([...built.files].sort());
  });

  it("loads with no console errors and no failed requests; every image decodes", async () => {
    expect(view.problems).toEqual([]);
    expect(view.failedRequests).toEqual([]);
    const imgs = await page.$$eval("img", (els) => els.map((i) => ({ src: i.getAttribute("src"), w: (i as HTMLImageElement).naturalWidth, ok: (i as HTMLImageElement).complete })));
    // original, inpainted and mask per sample, plus a heatmap per interpreted sample
    const expected = results.samples.length * 3 + results.samples.filter((s) => s.heatmapKey).length;
    expect(imgs).toHaveLength(expected);
    for (const i of imgs) expect(i, i.src ?? "").toMatchObject({ ok: true, w: expect.any(Number) });
    expect(imgs.filter((i) => i.w === 0)).toEqual([]);
    // every in-page link lands on an element; every download link is a file beside the page
    const links = await page.$$eval("a[href]", (as) => as.map((a) => a.getAttribute("href")!));
    const dangling = await page.evaluate((hs) => hs.filter((h) => h.startsWith("#") && !document.getElementById(decodeURIComponent(h.slice(1)))), links);
    expect(dangling).toEqual([]);
    for (const h of links.filter((l) => !l.startsWith("#"))) expect(built.files, h).toContain(h);
  });

  it("Table II holds results.json's suppression, retention and score per knowledge × σ, and the averages", async () => {
    const rows = await page.$$eval("table.t2 tbody tr, table.t2 tfoot tr", (trs) => trs.map((tr) => [...(tr as HTMLTableRowElement).cells].map((c) => c.textContent!.trim())));
    const sigmas = [...results.levels, "all" as const];
    // Knowledge with no scored group is named below the table, not given rows of dashes.
    const scored = results.concepts.filter((c) => results.table2.some((r) => r.concept === c && r.groups > 0));
    const expected = [...scored, "average"].flatMap((concept) => sigmas.map((sigma) => {
      const per = results.methods.map((m) => results.table2.find((r) => r.method === m && r.concept === concept && r.sigma === sigma)!);
      return [concept === "average" ? "Average" : concept, sigma === "all" ? "avg" : String(sigma), String(per[0].groups),
        ...(["suppression", "retention", "score"] as const).flatMap((k) => per.map((r) => f4(r[k])))];
    }));
    expect(rows).toEqual(expected);
    const unscored = results.concepts.filter((c) => !scored.includes(c));
    if (unscored.length) expect(await page.textContent("#table2")).toContain(`No scored neuron group (every sample rejected or failed): ${unscored.join(", ")}.`);
  });

  it("Table III holds the caption-quality means and names the BERTScore encoder", async () => {
    const rows = await page.$$eval("table.t3 tbody tr", (trs) => trs.map((tr) => [...(tr as HTMLTableRowElement).cells].slice(1, 5).map((c) => c.textContent!.trim())));
    expect(rows).toEqual(results.table3.map((r) => [f4(r.bleu), f4(r.rouge1), f4(r.rougeL), f4(r.bertscore)]));
    expect(await page.textContent("#table3")).toContain(String((results.encoder as { name: string }).name));
  });

  it("Table IV, Fig. 2, the samples and the rejected list match the results", async () => {
    expect(await page.$$eval("table.t4 tbody tr", (trs) => trs.length)).toBe(results.table4.length);
    const anyNeurons = Object.values(results.layers).some((c) => c.some((n) => n > 0));
    expect(await page.$$eval("#fig2 svg", (s) => s.length)).toBe(anyNeurons ? 1 : 0);
    const captions = await page.$$eval("q.cap", (qs) => qs.map((q) => q.textContent));
    for (const s of results.samples) {
      expect(captions).toContain(s.caption);
      expect(captions).toContain(s.inpaintedCaption);
    }
    for (const e of results.examples) expect(captions).toContain(e.caption);
    const rejected = await page.$$eval("table.rej tbody tr", (trs) => trs.map((tr) => [...(tr as HTMLTableRowElement).cells].map((c) => c.textContent!.trim())));
    expect(rejected).toEqual(results.samples.filter((s) => s.status !== "accepted").map((s) => [s.sampleId, s.concept, s.reasons.join(", "), s.details.join("; ")]));
  });

  it("reads the same with JavaScript off (script only adds sorting)", async () => {
    const ctx = await browser.newContext({ javaScriptEnabled: false });
    const off = await ctx.newPage();
    await off.goto(page.url(), { waitUntil: "load" });
    const text = (p: Page) => p.$$eval("main section", (ss) => ss.map((x) => (x as HTMLElement).innerText));
    expect(await text(off)).toEqual(await text(page));
    expect(await off.$$eval("img", (is) => is.filter((i) => !(i as HTMLImageElement).naturalWidth).length)).toBe(0);
    await ctx.close();
  });

  it("kneuron report <id> --out rebuilds from the store; an unknown sweep is one clear error", () => {
    const env = { ...process.env, KNEURON_STORE: "local", KNEURON_STORE_DIR: join(dir, "store") };
    const ok = spawnSync(process.execPath, ["--import", "tsx", "cli/main.ts", "report", SWEEP, "--out", join(dir, "cli-out")], { env, encoding: "utf8" });
    expect(ok.stderr).toBe("");
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain(`report:  ${built.key}`);
    expect(existsSync(join(dir, "cli-out", "index.html"))).toBe(true);
    const bad = spawnSync(process.execPath, ["--import", "tsx", "cli/main.ts", "report", "no-such-sweep"], { env, encoding: "utf8" });
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim()).toBe("kneuron: report: sweep no-such-sweep: not in the store (sweeps/no-such-sweep/latest.json)");
  });

  it("refuses a results step that is not a sweep result, naming it", async () => {
    await expect(buildReport({ store, resultsKey: run.planKey })).rejects.toThrow(ReportError);
    await expect(buildReport({ store, resultsKey: "sweeps/x/results/none" })).rejects.toThrow(/results: step sweeps\/x\/results\/none is not finished or absent/);
  });
});
