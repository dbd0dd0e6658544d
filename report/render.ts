// The report page: the paper's results section (Tables I–IV, Figs. 2–3) for one sweep, as one
// static HTML document. Pure: takes the stored results plus the file names of the images placed
// beside it, returns the HTML. Every value from model output goes through the escaping template.
import { createHash } from "node:crypto";
import { findMentions } from "../core/data/concepts.js";
import type { SweepResults, ResultRow } from "../core/pipeline/aggregate.js";
import type { SweepSpec } from "../core/spec.js";
import { html, raw, type Html, type Part } from "./html.js";
import { layerChart, methodLabel, methodShort, noiseChart } from "./charts.js";

export interface SampleImages {
  original?: string;
  inpainted?: string;
  mask?: string;
  heatmap?: string;
}

export interface ReportInput {
  results: SweepResults;
  /** The sweep's spec when the store holds it (sweeps/<id>/spec.json). */
  spec: SweepSpec | null;
  keys: { results: string; plan?: string };
  /** Image file names (relative to the page) per sample id. */
  images: Record<string, SampleImages>;
  /** Why an image is missing, per sample id (e.g. the dataset file is not on this machine). */
  missing: Record<string, string[]>;
  /** Result files copied beside the page (CSV, JSON). */
  downloads: string[];
  /** When the results were aggregated (the results step's manifest time). */
  resultsAt: string;
}

// ------------------------------------------------------------------------------- formatting

const isNum = (x: unknown): x is number => typeof x === "number" && Number.isFinite(x);
const f4 = (x: unknown) => (isNum(x) ? x.toFixed(4) : "—");
const fTau = (x: unknown) => (isNum(x) ? (Math.abs(x) >= 0.01 || x === 0 ? x.toFixed(4) : x.toExponential(3)) : "—");
const shortSha = (s: unknown) => (typeof s === "string" ? s.slice(0, 12) : "—");

function ruleText(rule: unknown): string {
  const r = rule as { mode?: string; value?: number; q?: number; n?: number } | null;
  switch (r?.mode) {
    case "manual": return `manual τ = ${r.value}`;
    case "quantile": return `quantile q = ${r.q}`;
    case "count": return `top ${r.n}`;
    default: return JSON.stringify(rule);
  }
}

/** A number cell: `data-v` carries the raw value for sorting; best cells are bold and tinted. */
function numCell(x: unknown, best = false, fmt = f4): Html {
  const v = isNum(x) ? String(x) : "";
  return best ? html`<td class="num best" data-v="${v}"><strong>${fmt(x)}</strong></td>` : html`<td class="num" data-v="${v}">${fmt(x)}</td>`;
}

/** Indices of the maxima of `xs` (ties all marked); none when fewer than two are finite or all are equal. */
function argmaxes(xs: unknown[]): Set<number> {
  const finite = xs.map((x, i) => [x, i] as const).filter(([x]) => isNum(x)) as [number, number][];
  if (finite.length < 2) return new Set();
  const top = Math.max(...finite.map(([x]) => x));
  if (finite.every(([x]) => x === top)) return new Set();
  return new Set(finite.filter(([x]) => x === top).map(([, i]) => i));
}

/** The caption with mentions highlighted: the sample's knowledge, and other knowledge (retention). */
function markedCaption(caption: string, concept: string): Html {
  const parts: Part[] = [];
  let at = 0;
  for (const m of findMentions(caption)) {
    const re = /[a-z0-9]+/gi;
    re.lastIndex = m.charIndex;
    let end = m.charIndex;
    for (let k = 0; k < m.length; k++) {
      const w = re.exec(caption);
      if (!w) break;
      end = w.index + w[0].length;
    }
    parts.push(caption.slice(at, m.charIndex));
    const cls = m.concept === concept ? "t" : "o";
    parts.push(html`<mark class="${cls}" title="${m.concept}">${caption.slice(m.charIndex, end)}</mark>`);
    at = end;
  }
  parts.push(caption.slice(at));
  return html`<q class="cap">${parts}</q>`;
}

const anchor = (prefix: string, name: string) => `${prefix}-${name.replace(/[^A-Za-z0-9_-]/g, "_")}`;
const conceptLink = (c: string) => html`<a href="#${anchor("k", c)}">${c}</a>`;

const sortableTh = (label: Part, col: number, extra = "") => html`<th scope="col" data-col="${col}" class="${extra}">${label}</th>`;

// ---------------------------------------------------------------------------------- sections

/** The paper's Table II averages (MiniGPT-4 on COCO), quoted for orientation only. */
const PAPER_AVERAGES: Record<string, { s: number; r: number; score: number }> = {
  "two-stage": { s: 0.7714, r: 0.6957, score: 0.7335 },
  schwettmann: { s: 0.7459, r: 0.3742, score: 0.56 },
  pan: { s: 0.3723, r: 0.735, score: 0.5537 },
};

/** The headline, read off the stored tables (which method leads where); no new numbers. */
function summarySection(r: SweepResults): Html {
  const avg = r.methods.map((m) => r.table2.find((x) => x.method === m && x.concept === "average" && x.sigma === "all"));
  const scored = avg.filter((x): x is ResultRow => !!x && isNum(x.score));
  const accepted = r.samples.filter((s) => s.status === "accepted").length;
  const leader = (k: "suppression" | "retention" | "score") => {
    const best = argmaxes(avg.map((x) => x?.[k]));
    return best.size ? [...best].map((i) => methodLabel(r.methods[i])).join(" and ") : "no single method";
  };
  const medianLayer = (m: string) => {
    const counts = r.layers[m] ?? [];
    const total = counts.reduce((a, b) => a + b, 0);
    let acc = 0;
    for (let l = 0; l < counts.length; l++) if ((acc += counts[l]) * 2 >= total && total > 0) return l;
    return undefined;
  };
  const nLayers = Math.max(0, ...Object.values(r.layers).map((c) => c.length));
  // Did the noise visibly act? Draw-0 captions of the sample's own image vs its clean caption.
  const clean = new Map(r.samples.map((x) => [x.sampleId, x.caption]));
  const changed = r.examples.filter((e) => e.caption !== clean.get(e.sampleId)).length;
  const sizes = r.table4.map((t) => t.selected);
  const meanN = sizes.length ? sizes.reduce((a, b) => a + b, 0) / sizes.length : NaN;
  const paper = r.methods.filter((m) => PAPER_AVERAGES[m]).map((m, i) => html`${i ? "; " : ""}${methodLabel(m)} S ${PAPER_AVERAGES[m].s.toFixed(4)}, R ${PAPER_AVERAGES[m].r.toFixed(4)}, score ${PAPER_AVERAGES[m].score.toFixed(4)}`);
  return html`<section id="summary"><h2>Summary</h2>
${scored.length ? html`<ul>
<li>Averaged over knowledge and noise levels, the score (S + R)/2 is ${avg.map((x, i) => html`${i ? ", " : ""}${methodLabel(r.methods[i])} <strong>${f4(x?.score)}</strong>`)}: best <strong>${leader("score")}</strong>.
Suppression is highest for ${leader("suppression")}, retention of other knowledge for ${leader("retention")}.</li>
<li>Neurons concentrate (median layer, of ${nLayers}) at ${r.methods.map((m, i) => html`${i ? ", " : ""}${methodLabel(m)} L${medianLayer(m) ?? "—"}`)}.</li>
<li>${accepted} of ${r.samples.length} samples met the paper's constraints and were scored${r.failures.length ? html`; ${r.failures.length} item(s) failed` : ""}; |N<sub>k</sub>| is ${isNum(meanN) ? meanN.toFixed(1) : "—"} neurons on average (${sizes.length ? `${Math.min(...sizes)}–${Math.max(...sizes)}` : "—"}).</li>
<li>Noise changed ${changed} of ${r.examples.length} example captions (draw 0, the sample's own image, every method and σ)${r.examples.length && changed === 0 ? html` — <strong>the perturbation left every sample's own caption unchanged</strong>: a weak intervention (more neurons or a larger σ may be needed), so read Table II with care` : ""}.</li>
</ul>` : html`<p class="empty">No sample met the paper's constraints (${r.samples.length} rejected${r.failures.length ? html`, ${r.failures.length} failed` : ""}), so there is nothing to compare: see <a href="#problems">Rejected samples</a>. A model whose captions mention the knowledge is needed.</p>`}
<p class="dim">For orientation, the paper (MiniGPT-4 on COCO, absolute σ 40/80/120) reports averages ${paper}. A different model, data and noise scale make the numbers comparable in ranking only.</p>
</section>`;
}

function setupSection(inp: ReportInput): Html {
  const r = inp.results;
  const s = inp.spec;
  const enc = r.encoder as Record<string, unknown> | null;
  const accepted = r.samples.filter((x) => x.status === "accepted").length;
  const noise = s ? `σ ∈ {${s.noise.levels.join(", ")}}${s.noise.unit === "std" ? " × each neuron's standard deviation over the image positions of the evaluation images" : " (absolute)"} at ${s.noise.scope === "image" ? "the image positions" : "every prefill position"}, ${s.noise.draws} draws per level` : `σ ∈ {${r.levels.join(", ")}}`;
  const others = s ? `; retention scored on ${s.eval.otherImages === "all" ? "all evaluation images of other knowledge" : `a seeded sample of ${s.eval.otherImages} images of other knowledge per group`}` : "";
  const thr = s ? (s.thresholds.mode === "auto" ? "auto (closed-loop calibration on a held-out split)" : "rules (manual / quantile / count, per knowledge)") : r.calibration.length ? "auto" : "rules";
  return html`<section id="setup"><h2>Setup</h2>
<dl class="kv">
<dt>Sweep</dt><dd><code>${r.sweepId}</code> · ${r.concepts.length} knowledge · ${r.samples.length} samples (${accepted} accepted, ${r.samples.length - accepted} rejected) · ${r.failures.length} failed items</dd>
<dt>Model bundle</dt><dd><code>${r.bundle.dir}</code> <span class="dim">sha256 ${shortSha(r.bundle.sha256)}…</span></dd>
<dt>Dataset</dt><dd>${r.dataset.kind}, split <code>${r.dataset.split}</code>, <code>${r.dataset.dir}</code> <span class="dim">sha256 ${shortSha(r.dataset.sha256)}…</span></dd>
<dt>Methods</dt><dd>${r.methods.map((m, i) => html`${i ? ", " : ""}${methodLabel(m)}`)}${s ? html` · baseline k: ${String(s.baselineK)} · stage aggregation over positions: ${s.aggregate}` : ""}</dd>
<dt>Thresholds</dt><dd>${thr}</dd>
<dt>Noise</dt><dd>${noise}${others}</dd>
<dt>BERTScore encoder</dt><dd>${enc ? html`<code>${String(enc.name ?? "?")}</code> (package ${String(enc.package ?? "?")} ${String(enc.packageVersion ?? "")}, layer ${String(enc.layer ?? "?")}, no idf, no rescale) <span class="dim">weights sha256 ${shortSha(enc.weightsSha256)}…</span>` : "not recorded"}</dd>
<dt>Artifacts</dt><dd>results <code>${inp.keys.results}</code>${inp.keys.plan ? html` · plan <code>${inp.keys.plan}</code>` : ""}</dd>
<dt>Downloads</dt><dd>${inp.downloads.map((d, i) => html`${i ? " · " : ""}<a href="${d}">${d}</a>`)}</dd>
</dl>
${s ? html`<details><summary>Full sweep spec (JSON)</summary><pre>${JSON.stringify(s, null, 1)}</pre></details>` : html`<p class="dim">The store holds no spec for this sweep (results copied without their sweep records); values above come from the results.</p>`}
</section>`;
}

async function table2Section(r: SweepResults): Promise<Html> {
  const M = r.methods;
  const get = (method: string, concept: string, sigma: number | "all") => r.table2.find((x) => x.method === method && x.concept === concept && x.sigma === sigma);
  const metrics = ["suppression", "retention", "score"] as const;
  const row = (concept: string, sigma: number | "all", first: boolean, label: Part) => {
    const rows = M.map((m) => get(m, concept, sigma));
    const groups = rows.find((x) => x)?.groups ?? 0;
    const cells = metrics.flatMap((metric) => {
      const xs = rows.map((x) => x?.[metric] as number | undefined);
      const best = argmaxes(xs);
      return xs.map((x, i) => numCell(x, best.has(i)));
    });
    return html`<tr class="${first ? "grp" : ""}${sigma === "all" ? " avg" : ""}"><th scope="row">${label}</th><td data-v="${sigma === "all" ? Infinity : sigma}">${sigma === "all" ? "avg" : sigma}</td><td class="num" data-v="${groups}">${groups}</td>${cells}</tr>`;
  };
  const sigmas: (number | "all")[] = [...r.levels, "all"];
  // Knowledge without a scored group would be rows of dashes: named once below the table instead.
  const scored = (c: string) => M.some((m) => (get(m, c, "all")?.groups ?? 0) > 0);
  const unscored = r.concepts.filter((c) => !scored(c));
  const body = r.concepts.filter(scored).flatMap((c) => sigmas.map((s, i) => row(c, s, i === 0, conceptLink(c))));
  const foot = sigmas.map((s, i) => row("average", s, i === 0, "Average"));
  // Chart: the averaged rows against σ.
  const chartRows = r.table2.filter((x): x is ResultRow & { sigma: number } => x.concept === "average" && x.sigma !== "all")
    .flatMap((x) => metrics.filter((m) => isNum(x[m])).map((metric) => ({ method: x.method, sigma: x.sigma, metric, value: x[metric] })));
  const chart = chartRows.length ? raw(await noiseChart(chartRows, M)) : null;
  let col = 3;
  return html`<section id="table2"><h2>Table II — impact on target and other knowledge</h2>
<p>Noise on each method's neurons at every image position, then greedy captions of every evaluation image.
Suppression <var>S</var> = 1 − <var>P</var><sub>same</sub> (captions of images of the knowledge that no longer mention it),
retention <var>R</var> = <var>P</var><sub>other</sub> (captions of images of other knowledge that still mention theirs), score (<var>S</var> + <var>R</var>)/2;
averaged over the neuron groups (accepted samples) of a knowledge and the noise draws. Ours = two-stage filtering. <strong>Bold</strong>: best method in the row for that measure (no mark when all tie).
Rows marked “avg” average over σ; the Average rows average over knowledge with at least one group. Click a column heading to sort.</p>
<div class="scroll"><table class="sortable t2">
<thead><tr><th scope="col" rowspan="2" data-col="0">Knowledge</th><th scope="col" rowspan="2" data-col="1">σ</th><th scope="col" rowspan="2" data-col="2" title="neuron groups = accepted samples">groups</th>
${metrics.map((m) => html`<th scope="colgroup" colspan="${M.length}" class="metric">${m === "score" ? "Score (S+R)/2" : m === "suppression" ? "Suppression S" : "Retention R"}</th>`)}</tr>
<tr>${metrics.map(() => M.map((m) => sortableTh(methodShort(m), col++)))}</tr></thead>
<tbody>${body}</tbody>
<tfoot>${foot}</tfoot>
</table></div>
${unscored.length ? html`<p class="dim">No scored neuron group (every sample rejected or failed): ${unscored.join(", ")}.</p>` : ""}
${chart ? html`<figure class="chart">${chart}<figcaption>Average over knowledge of S, R and the score per noise level (the Average rows of Table II).</figcaption></figure>` : html`<p class="empty">No scored neuron group: every sample was rejected or failed, so Table II has no numbers.</p>`}
</section>`;
}

function table3Section(r: SweepResults): Html {
  const cols = [["bleu", "BLEU"], ["rouge1", "ROUGE-1"], ["rougeL", "ROUGE-L"], ["bertscore", "BERTScore"]] as const;
  const best = Object.fromEntries(cols.map(([k]) => [k, argmaxes(r.table3.map((x) => x[k]))]));
  const enc = r.encoder as Record<string, unknown> | null;
  return html`<section id="table3"><h2>Table III — noisy captions vs the masked (inpainted) image's caption</h2>
<p>Each noisy caption of the sample's own image against the caption of its inpainted image: BLEU (sacrebleu sentence BLEU, 13a, exp smoothing, /100), ROUGE-1 F and ROUGE-L F (no stemmer),
BERTScore F1 with <strong>${enc ? String(enc.name ?? "?") : "an unrecorded encoder"}</strong>${enc ? html` (layer ${String(enc.layer ?? "?")}, no idf, no baseline rescale)` : ""} — not the paper's roberta-large, so compare BERTScores within this report only. Mean over draws, noise levels and samples.</p>
<div class="scroll"><table class="sortable t3">
<thead><tr>${sortableTh("Method", 0)}${cols.map(([, label], i) => sortableTh(label, i + 1))}${sortableTh("groups", 5)}</tr></thead>
<tbody>${r.table3.map((x) => html`<tr><th scope="row">${methodLabel(x.method)}</th>${cols.map(([k]) => numCell(x[k], best[k].has(r.table3.indexOf(x))))}<td class="num" data-v="${x.groups}">${x.groups}</td></tr>`)}</tbody>
</table></div></section>`;
}

function table4Section(r: SweepResults, spec: SweepSpec | null): Html {
  const auto = spec ? spec.thresholds.mode === "auto" : r.calibration.length > 0;
  const rows = r.table4.map((x) => html`<tr><th scope="row">${conceptLink(x.concept)}</th><td><a href="#${anchor("s", x.sampleId)}"><code>${x.sampleId}</code></a></td><td>${ruleText(x.act)}</td>${numCell(x.tauAct, false, fTau)}<td>${ruleText(x.grad)}</td>${numCell(x.tauGrad, false, fTau)}<td class="num" data-v="${x.candidates}">${x.candidates}</td><td class="num" data-v="${x.selected}">${x.selected}</td></tr>`);
  const grids = r.calibration.map((c) => {
    const aq = [...new Set(c.grid.map((g) => g.actQ))].sort((a, b) => a - b);
    const gq = [...new Set(c.grid.map((g) => g.gradQ))].sort((a, b) => a - b);
    const cell = (a: number, g: number) => {
      const p = c.grid.find((x) => x.actQ === a && x.gradQ === g);
      if (!p) return html`<td class="num">—</td>`;
      const chosen = c.chosen && c.chosen.actQ === a && c.chosen.gradQ === g;
      const text = html`${f4(p.score)}<br><span class="dim">S ${f4(p.suppression)} · R ${f4(p.retention)} · |N| ${p.neurons}</span>`;
      return chosen ? html`<td class="num best" title="chosen"><strong>${text}</strong></td>` : html`<td class="num">${text}</td>`;
    };
    return html`<figure class="grid"><figcaption><strong>${c.concept}</strong>: ${c.chosen ? html`chose q<sub>act</sub> = ${c.chosen.actQ}, q<sub>grad</sub> = ${c.chosen.gradQ} (score ${f4(c.chosen.score)}, |N| = ${c.chosen.neurons})` : "no grid point met the neuron cap"}</figcaption>
<table><thead><tr><th scope="col">q<sub>act</sub> \\ q<sub>grad</sub></th>${gq.map((g) => html`<th scope="col">${g}</th>`)}</tr></thead>
<tbody>${aq.map((a) => html`<tr><th scope="row">${a}</th>${gq.map((g) => cell(a, g))}</tr>`)}</tbody></table></figure>`;
  });
  return html`<section id="table4"><h2>Table IV — thresholds per knowledge</h2>
<p>τ<sub>act</sub> filters stage 1 (activation drop original − inpainted, max over image positions), τ<sub>grad</sub> stage 2 (GradCAM, signed).
Mode of this sweep: <strong>${auto ? "auto" : "rules (manual / quantile / count)"}</strong>. The rule is what the spec asked for; τ is the value it resolved to on the sample;
|C| the stage-1 candidates, |N<sub>k</sub>| the neurons kept. ${auto ? "" : "Auto calibration was not run for this sweep (thresholds.mode = \"auto\" runs it beside)."}</p>
${rows.length ? html`<div class="scroll"><table class="sortable t4"><thead><tr>${sortableTh("Knowledge", 0)}${sortableTh("Sample", 1)}${sortableTh("τ_act rule", 2)}${sortableTh("τ_act", 3)}${sortableTh("τ_grad rule", 4)}${sortableTh("τ_grad", 5)}${sortableTh("|C|", 6)}${sortableTh("|N_k|", 7)}</tr></thead><tbody>${rows}</tbody></table></div>` : html`<p class="empty">No accepted sample, so no thresholds were applied.</p>`}
${grids.length ? html`<h3>Auto calibration grids</h3><p>(S + R)/2 on the calibration split (never the scored images) for each quantile pair; bold: the chosen pair.</p><div class="grids">${grids}</div>` : ""}
</section>`;
}

async function layersSection(r: SweepResults): Promise<Html> {
  const total = (m: string) => (r.layers[m] ?? []).reduce((a, b) => a + b, 0);
  const any = r.methods.some((m) => total(m) > 0);
  return html`<section id="fig2"><h2>Fig. 2 — distribution of identified neurons across layers</h2>
${any ? html`<figure class="chart">${raw(await layerChart(r.layers, r.methods))}<figcaption>|N| per decoder layer, summed over all knowledge (${r.methods.map((m, i) => html`${i ? ", " : ""}${methodLabel(m)}: ${total(m)}`)}).</figcaption></figure>` : html`<p class="empty">No neurons were identified (no accepted sample).</p>`}
</section>`;
}

function knowledgeSection(inp: ReportInput): Html {
  const r = inp.results;
  const concepts = [...new Set([...r.concepts, ...r.samples.map((s) => s.concept)])];
  const img = (file: string | undefined, alt: string, label: string) =>
    file ? html`<figure class="im"><img src="${file}" alt="${alt}" width="136"><figcaption>${label}</figcaption></figure>` : html`<figure class="im missing"><div>not available</div><figcaption>${label}</figcaption></figure>`;
  const sample = (s: SweepResults["samples"][number]) => {
    const im = inp.images[s.sampleId] ?? {};
    const interp = r.interpretations.find((x) => x.sampleId === s.sampleId);
    const ex = r.examples.filter((x) => x.sampleId === s.sampleId);
    const decoded = interp ? r.methods.filter((m) => interp.decoded[m]?.length).map((m) => html`<tr><th scope="row">${methodLabel(m)}</th>${interp.decoded[m].map((n) => html`<td><span class="nid">L${n.layer}.${n.index}</span> ${n.tokens.map((t) => html`<code>${t}</code> `)}</td>`)}</tr>`) : [];
    const levels = [...new Set(ex.map((x) => x.sigma))].sort((a, b) => a - b);
    const examples = r.methods.flatMap((m) => {
      const mine = levels.map((sg) => ex.find((x) => x.method === m && x.sigma === sg)).filter((e) => !!e);
      return mine.map((e, i) => html`<tr class="${i === 0 ? "grp" : ""}">${i === 0 ? html`<th scope="rowgroup" rowspan="${mine.length}">${methodLabel(m)}</th>` : ""}<td class="num">${e.sigma}</td><td>${markedCaption(e.caption, s.concept)}${e.caption === s.caption ? html` <span class="same" title="identical to the caption without noise">= original</span>` : ""}</td></tr>`);
    });
    const missing = inp.missing[s.sampleId] ?? [];
    const title = html`<code>${s.sampleId}</code> <span class="badge ${s.status}">${s.status}</span>${s.target ? html` target token <code>${s.target}</code>` : ""}`;
    const body = html`<div class="sbody"><div class="imgs">${img(im.original, `original image of ${s.sampleId}`, "original")}${img(im.inpainted, `inpainted image of ${s.sampleId}`, "inpainted")}${img(im.mask, `inpainting mask of ${s.sampleId}`, "mask (dilated)")}${s.heatmapKey || im.heatmap ? img(im.heatmap, `activation heatmap of ${s.sampleId}`, "heatmap, top-5 neurons") : ""}
${missing.length ? html`<p class="dim">${missing.join("; ")}</p>` : ""}</div>
<div class="stext">
${decoded.length ? html`<table class="dec"><caption>Decoded neurons: top-5 tokens of W<sub>U</sub> · W<sub>out</sub> row, for each method's top-5 neurons (layer.index)</caption><tbody>${decoded}</tbody></table>` : ""}
<table class="caps"><caption>Captions${examples.length ? " — Table I: under noise on each method's neurons (draw 0)" : ""}</caption>
<thead><tr><th scope="col">Image / neurons</th><th scope="col">σ</th><th scope="col">Caption</th></tr></thead><tbody>
<tr><th scope="row">Original</th><td class="num">—</td><td>${markedCaption(s.caption, s.concept)}</td></tr>
<tr><th scope="row">Inpainted</th><td class="num">—</td><td>${markedCaption(s.inpaintedCaption, s.concept)}</td></tr>
${examples}</tbody></table></div></div>`;
    const id = anchor("s", s.sampleId);
    // Rejected samples fold away (the reason stays visible); they are also listed under "Rejected".
    return s.status === "accepted"
      ? html`<article class="sample accepted" id="${id}"><h4>${title}</h4>${body}</article>`
      : html`<details class="sample ${s.status}" id="${id}"><summary>${title} <span class="why">${s.reasons.join(", ")}${s.details.length ? html`: ${s.details.join("; ")}` : ""}</span></summary>${body}</details>`;
  };
  return html`<section id="knowledge"><h2>Per knowledge — Fig. 3 and Table I</h2>
<p>For each sample: the image, the inpainting mask, the inpainted image and the activation heatmap of the top-5 two-stage neurons (largest activation drop), the decoded tokens of each method's top neurons,
and the captions: original, inpainted, and under noise on each method's neurons. <mark class="t">Highlighted</mark>: the sample's knowledge; <mark class="o">underlined</mark>: other knowledge.</p>
${concepts.map((c) => html`<h3 class="k" id="${anchor("k", c)}">${c}</h3>${r.samples.filter((s) => s.concept === c).sort((a, b) => Number(b.status === "accepted") - Number(a.status === "accepted")).map(sample)}${r.samples.some((s) => s.concept === c) ? "" : html`<p class="empty">No sample of this knowledge.</p>`}`)}
</section>`;
}

function problemsSection(r: SweepResults): Html {
  const rejected = r.samples.filter((s) => s.status !== "accepted");
  return html`<section id="problems"><h2>Rejected samples and failed items</h2>
<p>A rejected sample failed one of the paper's constraints (the original caption mentions the knowledge, the inpainted one does not, the mask covers no other object); a failed item hit bad input. Neither is dropped silently.</p>
${rejected.length ? html`<div class="scroll"><table class="sortable rej"><thead><tr>${sortableTh("Sample", 0)}${sortableTh("Knowledge", 1)}${sortableTh("Reasons", 2)}<th scope="col">Details</th></tr></thead>
<tbody>${rejected.map((s) => html`<tr><td><a href="#${anchor("s", s.sampleId)}"><code>${s.sampleId}</code></a></td><td>${s.concept}</td><td>${s.reasons.join(", ")}</td><td>${s.details.join("; ")}</td></tr>`)}</tbody></table></div>` : html`<p>No sample was rejected.</p>`}
<h3>Failed items</h3>
${r.failures.length ? html`<table class="fail"><thead><tr><th scope="col">Item</th><th scope="col">Reason</th></tr></thead><tbody>${r.failures.map((f) => html`<tr><td><code>${f.item}</code></td><td>${f.reason}</td></tr>`)}</tbody></table>` : html`<p>None.</p>`}
</section>`;
}

// ------------------------------------------------------------------------------------- page

const STYLE = `
:root{--fg:#1d1d1f;--dim:#6b6b70;--line:#d8d8dc;--best:#fdf1c7;--bg:#fff}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);margin:0}
main{max-width:1180px;margin:0 auto;padding:1.2rem 1.5rem 3rem}
header h1{font-size:1.6rem;margin:.2rem 0}
nav{font-size:.9rem;margin:.6rem 0 1rem;display:flex;flex-wrap:wrap;gap:.3rem 1rem}
h2{font-size:1.25rem;border-bottom:2px solid var(--fg);padding-bottom:.2rem;margin-top:2.2rem}
h3{font-size:1.1rem;margin:1.6rem 0 .5rem}
h3.k{text-transform:capitalize}
h4{font-size:.95rem;margin:.2rem 0 .4rem;font-weight:600}
.dim{color:var(--dim);font-size:.85em}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0}
dl.kv dt{font-weight:600}
dl.kv dd{margin:0;overflow-wrap:anywhere}
table{border-collapse:collapse;font-size:.88rem;margin:.4rem 0}
th,td{padding:.25rem .55rem;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
thead th{border-bottom:2px solid var(--fg);white-space:nowrap}
th.metric{text-align:center;border-bottom:1px solid var(--fg)}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.best{background:var(--best)}
tr.grp>*{border-top:1.5px solid #9a9aa0}
tr.avg>*{background:#f5f5f7}
tfoot tr>*{font-weight:600}
tfoot tr.grp>*{border-top:2px solid var(--fg)}
.scroll{overflow-x:auto}
th[data-col]{cursor:pointer}
th[aria-sort=ascending]::after{content:" ▲"}
th[aria-sort=descending]::after{content:" ▼"}
figure{margin:.6rem 0}
figure.chart svg{max-width:100%;height:auto}
figcaption{font-size:.85rem;color:var(--dim)}
.grids{display:flex;flex-wrap:wrap;gap:1rem}
.sample{border:1px solid var(--line);border-radius:6px;padding:.6rem .8rem;margin:.6rem 0}
details.sample{background:#fbfbfc}
details.sample>summary{cursor:pointer;font-size:.95rem}
.sbody{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:1rem;margin-top:.4rem}
.imgs{display:grid;grid-template-columns:repeat(2,136px);gap:.4rem .5rem;align-content:start}
.imgs p{grid-column:1/-1;margin:0}
figure.im{margin:0;text-align:center}
figure.im figcaption{font-size:.78rem}
figure.im img{display:block;width:136px;height:auto;border:1px solid var(--line)}
figure.im.missing div{width:136px;height:136px;display:grid;place-items:center;background:#f0f0f2;color:var(--dim);font-size:.8rem}
@media (max-width:760px){.sbody{grid-template-columns:1fr}}
.badge{font-size:.75rem;padding:.05rem .4rem;border-radius:3px;font-weight:600;margin-left:.3rem}
.badge.accepted{background:#d9f2df;color:#14532d}
.badge.rejected{background:#fde2e1;color:#7f1d1d}
.why{color:#7f1d1d;font-size:.85rem;overflow-wrap:anywhere;font-weight:400}
p.empty{color:var(--dim);font-style:italic}
table.dec td{font-size:.82rem}
table.dec caption,table.caps caption{text-align:left;font-size:.85rem;color:var(--dim);caption-side:top}
.nid{color:var(--dim);font-size:.78rem;margin-right:.2rem}
table.dec,table.caps{width:100%}
table.caps tr.grp>*{border-top:1.5px solid #9a9aa0}
table.caps th[rowspan]{vertical-align:middle}
q.cap{quotes:none;overflow-wrap:anywhere}
mark.t{background:#ffd54f;padding:0 .1em}
mark.o{background:none;text-decoration:underline 2px #2874a6;text-underline-offset:2px}
th a{color:inherit;text-decoration:none}
th a:hover{text-decoration:underline}
.same{font-size:.75rem;color:var(--dim);white-space:nowrap}
code{font-size:.88em;background:#f3f3f5;padding:0 .2em;border-radius:3px}
pre{font-size:.8rem;background:#f6f6f8;padding:.6rem;overflow:auto;max-height:24rem}
footer{margin-top:3rem;font-size:.85rem;color:var(--dim)}
`;

/** Sorting by column heading; the tables are complete without it (JS off). */
export const SORT_SCRIPT = `for(const th of document.querySelectorAll("table.sortable th[data-col]")){th.tabIndex=0;th.title="sort by this column";const go=()=>{const t=th.closest("table"),b=t.tBodies[0],c=+th.dataset.col,d=th.getAttribute("aria-sort")==="descending"?-1:1;for(const o of t.querySelectorAll("th[aria-sort]"))o.removeAttribute("aria-sort");th.setAttribute("aria-sort",d>0?"descending":"ascending");const k=r=>{const x=r.cells[c],v=x?(x.dataset.v??x.textContent):"";const n=parseFloat(v);return v!==""&&!isNaN(n)?n:v};b.append(...[...b.rows].sort((p,q)=>{const a=k(p),z=k(q);if(a===""||z==="")return(a==="")-(z==="");return typeof a==="number"&&typeof z==="number"?d*(z-a):d*String(z).localeCompare(String(a))}))};th.addEventListener("click",go);th.addEventListener("keydown",e=>{if(e.key==="Enter")go()})}`;

const cspHash = (s: string) => `'sha256-${createHash("sha256").update(s).digest("base64")}'`;

export async function renderReport(inp: ReportInput): Promise<string> {
  const r = inp.results;
  const sections = [summarySection(r), setupSection(inp), await table2Section(r), table3Section(r), await layersSection(r), table4Section(r, inp.spec), knowledgeSection(inp), problemsSection(r)];
  // Defence in depth beside the escaping: only our own script (by hash) may run, nothing is fetched.
  const csp = `default-src 'none'; img-src 'self' data: file:; style-src 'unsafe-inline'; script-src ${cspHash(SORT_SCRIPT)}; base-uri 'none'; form-action 'none'`;
  const page = html`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>kneuron sweep ${r.sweepId}</title>
<style>${raw(STYLE)}</style></head>
<body><main>
<header><h1>Knowledge neurons — sweep <code>${r.sweepId}</code></h1>
<p class="dim">Two-stage filtering (activation drop on the inpainted image, then GradCAM) against Schwettmann's and Pan's scores, evaluated by noise on the neurons. Results aggregated ${inp.resultsAt}; this page is built from the stored artifacts only.</p>
<nav><a href="#summary">Summary</a><a href="#setup">Setup</a><a href="#table2">Table II</a><a href="#table3">Table III</a><a href="#fig2">Fig. 2</a><a href="#table4">Table IV</a><a href="#knowledge">Per knowledge (Fig. 3, Table I)</a><a href="#problems">Rejected / failed</a></nav></header>
${sections}
<footer>Rebuild with <code>kneuron report ${r.sweepId}</code>. Numbers are rounded to 4 places; the CSV files beside this page hold full precision.</footer>
</main><script>${raw(SORT_SCRIPT)}</script></body></html>
`;
  return page.value;
}
