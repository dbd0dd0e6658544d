/// <reference lib="dom" />
// The evaluation's sections of the page, from results with known intervals (test/report/fixture.ts),
// read back from Chromium's DOM: Table II with intervals, the σ = 0 and random rows, marks only
// where a paired interval excludes 0, the dose–response chart, the differences and their sentences,
// the setup's sets / noise / bootstrap, and no winner named in the summary.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SweepResults } from "../../core/pipeline/aggregate.js";
import { parseSpec } from "../../core/spec.js";
import { renderReport } from "../../report/render.js";
import { launchChromium, openWatched } from "./browser.js";
import { statsFixture } from "./fixture.js";

function results(): SweepResults {
  return {
    sweepId: "sections-test",
    bundle: { dir: "models/tiny", sha256: "a".repeat(64) },
    dataset: { kind: "synthetic", dir: "/tmp/ds", split: "experiment", instances: "x", sha256: "b".repeat(64) },
    encoder: null, concepts: ["bear"], ...statsFixture(),
    table4: [], calibration: [], neurons: [], samples: [], interpretations: [], examples: [], failures: [],
  };
}

const DOWNLOADS = ["results.json", "table2.csv", "differences.csv", "captions.csv", "captions.parquet"];
const cellsOf = (p: Page, sel: string) => p.$$eval(sel, (trs) => trs.map((tr) => [...(tr as HTMLTableRowElement).cells].map((c) => c.textContent!.replace(/\s+/g, " ").trim())));

describe("evaluation sections in Chromium", () => {
  let browser: Browser;
  let dir: string;
  let page: Page;
  let problems: string[];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kn-report-sec-"));
    const spec = parseSpec({ bundle: "models/tiny", concepts: ["bear"], noise: { unit: "absolute", levels: [1, 4], draws: 3, scope: "prompt" }, randomGroups: 5 });
    const file = join(dir, "index.html");
    await writeFile(file, await renderReport({ results: results(), spec, keys: { results: "sweeps/x/results/1" }, images: {}, missing: {}, downloads: DOWNLOADS, resultsAt: "2026-01-01T00:00:00Z" }));
    browser = await launchChromium();
    ({ page, problems } = await openWatched(browser, pathToFileURL(file).href));
  });
  afterAll(async () => {
    await browser?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("Table II: σ = 0 (clean) and random rows, every measure with its interval", async () => {
    expect(problems).toEqual([]);
    const rows = await cellsOf(page, "table.t2-avg tbody tr");
    expect(rows).toHaveLength(4 * 4); // σ 0, 1, 4, avg × 4 methods
    expect(rows[0]).toEqual(["0 (clean)", "Ours", "1", "0.000 [0.000, 0.000]", "1.000 [1.000, 1.000]", "0.500 [0.500, 0.500]", "0.000 [0.000, 0.000]"]);
    expect(rows[3]).toEqual(["0 (clean)", "Random (layer-matched)", "5", "0.000 [0.000, 0.000]", "1.000 [1.000, 1.000]", "0.500 [0.500, 0.500]", "0.000 [0.000, 0.000]"]);
    // two-stage at σ = 4: S 0.6 ± 0.05, R 0.8, score 0.7, selectivity 0.4; marked against random where resolved
    expect(rows[8]).toEqual(["4", "Ours", "1", "0.600 [0.550, 0.650] ▲", "0.800 [0.750, 0.850]", "0.700 [0.650, 0.750] ▲", "0.400 [0.350, 0.450] ▲"]);
    expect(rows[11].slice(0, 4)).toEqual(["4", "Random (layer-matched)", "5", "0.480 [0.450, 0.510]"]);
    expect(rows.filter((r) => r[1] === "Random (layer-matched)").map((r) => r[0])).toEqual(["0 (clean)", "1", "4", "avg"]);
    expect(await page.textContent("#table2")).toContain("n_same = 3 images of the knowledge".replace("n_same", "nsame"));
  });

  it("marks only the averages whose paired difference to random excludes 0; nothing else ranks", async () => {
    const marks = await page.$$eval("table.t2-avg .mk", (ms) => ms.map((m) => [m.textContent, m.getAttribute("title")]));
    expect(marks).toEqual([
      ["▲", "Ours (two-stage) − Random (layer-matched) at σ = 4: +0.120 [0.050, 0.190]"],
      ["▲", "Ours (two-stage) − Random (layer-matched) at σ = 4: +0.055 [0.010, 0.100]"],
      ["▲", "Ours (two-stage) − Random (layer-matched) at σ = 4: +0.100 [0.040, 0.160]"],
      ["▼", "Pan's − Random (layer-matched) at σ = 4: -0.080 [-0.120, -0.030]"],
    ]);
    expect(await page.$$eval(".best", (b) => b.length)).toBe(0);
    for (const id of ["#summary", "#table2", "#differences"]) expect(await page.textContent(id)).not.toMatch(/\b(best|winner|wins)\b/i);
  });

  it("per knowledge: a sortable selectivity overview and the full table folded", async () => {
    expect(await cellsOf(page, "table.t2-glance tbody tr")).toEqual([["bear", "3", "8", "0.300 [0.260, 0.340]", "0.245 [0.205, 0.285]", "0.160 [0.120, 0.200]", "0.240 [0.220, 0.260]"]]);
    expect(await page.$$eval("table.sortable.t2-glance th[data-col]", (t) => t.length)).toBe(7);
    expect(await page.$eval("details.t2k", (d) => (d as HTMLDetailsElement).open)).toBe(false);
    expect(await page.$$eval("details.t2k table.t2-k tbody tr", (t) => t.length)).toBe(16);
    expect(await page.$$eval("details.t2k .mk", (t) => t.length)).toBe(0); // differences exist for the average only
  });

  it("dose–response chart: a band and a line per method in each of S, R and selectivity, controls in the legend", async () => {
    const chart = await page.$eval("#dose svg", (s) => ({
      bands: s.querySelectorAll("g.mark-area path").length,
      lines: s.querySelectorAll("g.mark-line path").length,
      legend: [...s.querySelectorAll("g.role-legend-label text")].map((t) => t.textContent),
      facets: [...s.querySelectorAll("g.role-title text")].map((t) => t.textContent),
    }));
    expect(chart).toEqual({ bands: 12, lines: 12, legend: ["Ours (two-stage)", "Schwettmann's", "Pan's", "Random (layer-matched)"], facets: ["suppression", "retention", "selectivity"] });
  });

  it("differences: every pair × σ with intervals, bold only where resolved, and plain sentences", async () => {
    const rows = await cellsOf(page, "table.diff tbody tr");
    expect(rows).toHaveLength(15);
    expect(rows[1]).toEqual(["Ours − Random (layer-matched)", "4", "+0.120 [0.050, 0.190]", "-0.010 [-0.040, 0.020]", "+0.055 [0.010, 0.100]", "+0.100 [0.040, 0.160]"]);
    expect(await page.$$eval("table.diff td.res", (c) => c.map((x) => x.textContent))).toEqual(["+0.120 [0.050, 0.190]", "+0.055 [0.010, 0.100]", "+0.100 [0.040, 0.160]", "-0.080 [-0.120, -0.030]"]);
    const sentences = await page.$$eval("#differences ul.findings li", (li) => li.map((x) => x.textContent));
    expect(sentences).toHaveLength(5);
    expect(sentences[0]).toContain("Ours (two-stage) suppresses its knowledge more than Random (layer-matched) at σ = 4: +0.120 [0.050, 0.190].");
    expect(sentences[1]).toMatch(/^No difference between Schwettmann's and Random \(layer-matched\) is resolved: all 12 intervals include 0\. A tie/);
    expect(sentences[2]).toBe("Pan's retains other knowledge worse than Random (layer-matched) at σ = 4: -0.080 [-0.120, -0.030]. No suppression or score or selectivity difference between Pan's and Random (layer-matched) is resolved (every interval includes 0).");
    expect(sentences[3]).toMatch(/^No difference between Ours \(two-stage\) and Schwettmann's is resolved: all 12 intervals include 0\. A tie/);
    expect(sentences[4]).toMatch(/^No difference between Ours \(two-stage\) and Pan's is resolved: all 12 intervals include 0\. The intervals are too wide to call it a tie/);
  });

  it("summary: intervals on the averages and only score/selectivity findings the intervals support", async () => {
    const text = (await page.textContent("#summary"))!.replace(/\s+/g, " ");
    expect(text).toContain("the score (S + R)/2 is Ours (two-stage) 0.650 [0.610, 0.690], Schwettmann's 0.623 [0.583, 0.663], Pan's 0.580 [0.540, 0.620], Random (layer-matched) 0.620 [0.600, 0.640]");
    const items = await page.$$eval("#summary ul.findings li", (li) => li.map((x) => x.textContent));
    expect(items).toHaveLength(5);
    expect(items[0]).toBe("Ours (two-stage) scores higher than Random (layer-matched) at σ = 4: +0.055 [0.010, 0.100]. Ours (two-stage) is more selective than Random (layer-matched) at σ = 4: +0.100 [0.040, 0.160].");
    expect(items[2]).toMatch(/^No score or selectivity difference between Pan's and Random \(layer-matched\) is resolved: all 6 intervals include 0\. A tie/);
  });

  it("setup states the sets, the noise unit and scope, the bootstrap and the controls; downloads link the new files", async () => {
    const setup = (await page.textContent("#setup"))!.replace(/\s+/g, " ");
    expect(setup).toContain("faithful (the paper's protocol)");
    expect(setup).toContain("in the model's raw activation units (unit absolute), added at every prompt (prefill) position (scope prompt), 3 draws per level");
    expect(setup).toContain("95 % percentile intervals of a seeded, paired, hierarchical bootstrap (knowledge, then samples within it, then noise runs): 2000 resamples, seed 7");
    expect(setup).toContain("Random (layer-matched): 5 seeded groups per sample of the two-stage group's size (random: the same count per layer)");
    expect(await page.$$eval("#setup a[href]", (as) => as.map((a) => a.getAttribute("href")))).toEqual(DOWNLOADS);
  });
});
