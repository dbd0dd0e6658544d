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
import { methodLabel, methodShort } from "../../report/charts.js";
import { ciText, estimate, excludesZero, METRIC_NAMES, pairFinding, storedPairs } from "../../report/findings.js";
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
  const cells = (sel: string) => page.$$eval(sel, (trs) => trs.map((tr) => [...(tr as HTMLTableRowElement).cells].map((c) => c.textContent!.replace(/\s+/g, " ").trim())));

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kn-report-"));
    store = createStore({ kind: "local", dir: join(dir, "store") });
    let bert: ReturnType<typeof createBertScorer> | undefined;
    const spec = parseSpec({
      bundle: BUNDLE, concepts: CONCEPTS, samplesPerConcept: 1, seed: 1,
      noise: { levels: [1, 4], draws: 2 }, randomGroups: 2,
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

  it("Table II holds results.json's estimates and intervals per σ (clean and random rows included), marks only resolved differences", async () => {
    const scored = results.concepts.filter((c) => results.table2.some((r) => r.concept === c && r.groups > 0));
    const sigmas = [0, ...results.levels, "all" as const];
    const expected = (concept: string) => sigmas.flatMap((sigma) => results.methods.map((m) => {
      const r = results.table2.find((x) => x.method === m && x.concept === concept && x.sigma === sigma)!;
      return [sigma === "all" ? "avg" : sigma === 0 ? "0 (clean)" : String(sigma), methodShort(m), String(r.groups), ...METRIC_NAMES.map((k) => ciText(estimate(r, k)))];
    }));
    const unmark = (rows: string[][]) => rows.map((r) => r.map((c) => c.replace(/ [▲▼]$/, "")));
    // The trained bundle accepts samples, so the full tables are exercised; the random one rejects all.
    if (BUNDLE === "models/tiny") expect(scored.length).toBeGreaterThan(0);
    if (!scored.length) {
      expect(await page.$$eval("table.t2-avg", (t) => t.length)).toBe(0);
      expect(await page.textContent("#table2")).toContain("Table II has no numbers");
      return;
    }
    const avg = await cells("table.t2-avg tbody tr");
    expect(unmark(avg)).toEqual(expected("average"));
    for (const c of scored) expect(unmark(await cells(`table.t2-k[data-concept="${c}"] tbody tr`))).toEqual(expected(c));
    // The control is a row at every σ; faithful sets make σ = 0 exactly S = 0, R = 1.
    expect(results.methods).toContain("random");
    expect(avg.filter((r) => r[1] === methodShort("random")).map((r) => r[0])).toEqual(sigmas.map((s) => (s === "all" ? "avg" : s === 0 ? "0 (clean)" : String(s))));
    for (const r of avg.filter((x) => x[0] === "0 (clean)")) expect(r.slice(3, 5)).toEqual(["0.000 [0.000, 0.000]", "1.000 [1.000, 1.000]"]);
    // A mark sits exactly where method − random has an interval excluding 0.
    const marked = avg.flatMap((r, i) => r.slice(3).map((c, k) => [i, k, /[▲▼]$/.test(c)] as const)).filter((x) => x[2]).map(([i, k]) => `${i}/${k}`);
    const resolved = sigmas.flatMap((sigma, si) => results.methods.map((m, mi) => [si * results.methods.length + mi, results.differences.find((d) => d.a === m && d.b === "random" && d.sigma === sigma)] as const))
      .flatMap(([i, d]) => (d ? METRIC_NAMES.map((k, ki) => [i, ki, excludesZero(estimate(d, k))] as const) : [])).filter((x) => x[2]).map(([i, k]) => `${i}/${k}`);
    expect(marked).toEqual(resolved);
    expect(await page.$$eval("#dose svg", (s) => s.length)).toBe(1);
    const unscored = results.concepts.filter((c) => !scored.includes(c));
    if (unscored.length) expect(await page.textContent("#table2")).toContain(`No scored neuron group (every sample rejected or failed): ${unscored.join(", ")}.`);
  });

  it("the paired differences: every stored row with its interval, one finding per pair, bold exactly where the interval excludes 0", async () => {
    const rows = await cells("table.diff tbody tr");
    expect(rows).toEqual(results.differences.map((d) => [`${methodShort(d.a)} − ${methodShort(d.b)}`, d.sigma === "all" ? "avg" : String(d.sigma), ...METRIC_NAMES.map((k) => ciText(estimate(d, k), true))]));
    expect(await page.$$eval("table.diff td.res", (c) => c.length)).toBe(results.differences.flatMap((d) => METRIC_NAMES.filter((k) => excludesZero(estimate(d, k)))).length);
    const pairs = storedPairs(results.differences);
    expect(await page.$$eval("#differences ul.findings li", (li) => li.map((x) => x.textContent))).toEqual(pairs.map(([a, b]) => pairFinding(results.differences, a, b, METRIC_NAMES, methodLabel).sentences.join(" ")));
    expect(await page.textContent("#summary")).not.toMatch(/\b(best|winner)\b/i);
  });

  it("links the result files for download, the caption tables included", async () => {
    for (const f of ["table2.csv", "differences.csv", "captions.csv", "captions.parquet"]) expect(built.files).toContain(f);
    const links = await page.$$eval("#setup a[href]", (as) => as.map((a) => a.getAttribute("href")!));
    expect(links.sort()).toEqual(built.files.filter((f) => !f.startsWith("img-") && f !== "index.html").sort());
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
