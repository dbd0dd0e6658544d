// The report page: the paper's results section (Tables I–IV, Figs. 2–3) for one sweep, as one
// static HTML document. Pure: takes the stored results plus the file names of the images placed
// beside it, returns the HTML. Every value from model output goes through the escaping template.
import { createHash } from "node:crypto";
import { findMentions } from "../core/data/concepts.js";
import type { SweepResults, ResultRow } from "../core/pipeline/aggregate.js";
import type { SweepSpec } from "../core/spec.js";
import { html, raw, type Html, type Part } from "./html.js";
import { ablationCurveChart, doseChart, layerChart, methodLabel, methodShort } from "./charts.js";
import { ciText, estimate, excludesZero, fmt, METRIC_NAMES, type Estimate, type MetricName, pairFinding, sigmaText, storedPairs, TIE_MARGIN } from "./findings.js";

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

/** A number cell: `data-v` carries the raw value for sorting. */
function numCell(x: unknown, fmt = f4): Html {
  const v = isNum(x) ? String(x) : "";
  return html`<td class="num" data-v="${v}">${fmt(x)}</td>`;
}

/** The random controls: the reference for every method, not contenders. */
const isControl = (m: string) => m.startsWith("random");

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

/** The headline, read off the stored tables and paired differences; no new numbers, no winner without an interval behind it. */
function summarySection(r: SweepResults): Html {
  const avg = r.methods.map((m) => r.table2.find((x) => x.method === m && x.concept === "average" && x.sigma === "all"));
  const scored = avg.filter((x): x is ResultRow => !!x && isNum(x.score));
  const accepted = r.samples.filter((s) => s.status === "accepted").length;
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
  const values = (metric: MetricName) => avg.map((x, i) => html`${i ? ", " : ""}${methodLabel(r.methods[i])} <strong>${x ? ciText(estimate(x, metric)) : "—"}</strong>`);
  const findings = storedPairs(r.differences).map(([a, b]) => pairFinding(r.differences, a, b, ["score", "selectivity"], methodLabel));
  return html`<section id="summary"><h2>Summary</h2>
${scored.length ? html`<ul>
<li>Averaged over knowledge and noise levels (95 % intervals in brackets), the score (S + R)/2 is ${values("score")}; the selectivity Δsame − Δother is ${values("selectivity")}.</li>
<li>Paired comparisons (a method is named ahead of another only where the 95 % interval of the difference excludes 0; all measures in <a href="#differences">Paired differences</a>):
${findings.length ? html`<ul class="findings">${findings.map((f) => html`<li>${f.sentences.join(" ")}</li>`)}</ul>` : html` none were computed (a single method and no control).`}</li>
<li>Neurons concentrate (median layer, of ${nLayers}) at ${r.methods.map((m, i) => html`${i ? ", " : ""}${methodLabel(m)} L${medianLayer(m) ?? "—"}`)}.</li>
<li>${accepted} of ${r.samples.length} samples met the paper's constraints and were scored${r.failures.length ? html`; ${r.failures.length} item(s) failed` : ""}; |N<sub>k</sub>| is ${isNum(meanN) ? meanN.toFixed(1) : "—"} neurons on average (${sizes.length ? `${Math.min(...sizes)}–${Math.max(...sizes)}` : "—"}).</li>
<li>Noise changed ${changed} of ${r.examples.length} example captions (draw 0, the sample's own image, every method and σ)${r.examples.length && changed === 0 ? html` — <strong>the perturbation left every sample's own caption unchanged</strong>: a weak intervention (more neurons or a larger σ may be needed), so read Table II with care` : ""}.</li>
</ul>` : html`<p class="empty">No sample met the paper's constraints (${r.samples.length} rejected${r.failures.length ? html`, ${r.failures.length} failed` : ""}), so there is nothing to compare: see <a href="#problems">Rejected samples</a>. A model whose captions mention the knowledge is needed.</p>`}
<p class="dim">For orientation, the paper (MiniGPT-4 on COCO, absolute σ 40/80/120, all images of a knowledge, no control, no intervals) reports averages ${paper}. A different model, data, evaluation sets and noise scale make these numbers not comparable with the ones above.</p>
</section>`;
}

function setupSection(inp: ReportInput): Html {
  const r = inp.results;
  const s = inp.spec;
  const ev = r.evaluation;
  const enc = r.encoder as Record<string, unknown> | null;
  const accepted = r.samples.filter((x) => x.status === "accepted").length;
  const noise = s ? `σ ∈ {${s.noise.levels.join(", ")}}${s.noise.unit === "std" ? " × each neuron's standard deviation over the image positions of the evaluation images (unit std)" : " in the model's raw activation units (unit absolute)"}, added at ${s.noise.scope === "image" ? "the image positions only" : "every prompt (prefill) position"} (scope ${s.noise.scope}), ${s.noise.draws} draws per level` : `σ ∈ {${r.levels.join(", ")}}; unit and scope not recorded (no spec)`;
  const others = s ? `; retention scored on ${s.eval.otherImages === "all" ? "all evaluation images of other knowledge" : `a seeded sample of ${s.eval.otherImages} images of other knowledge per group`}` : "";
  const thr = s ? (s.thresholds.mode === "auto" ? "auto (closed-loop calibration on a held-out split)" : "rules (manual / quantile / count, per knowledge)") : r.calibration.length ? "auto" : "rules";
  const controls = r.methods.filter(isControl);
  const sets = ev.sets === "faithful"
    ? "faithful (the paper's protocol): P_same(k) over images of k whose clean caption names k, P_other(k) over (image without k, k′) pairs whose clean caption names k′, so σ = 0 gives S = 0 and R = 1"
    : "all: every image of k and every (image without k, k′) pair, whatever the clean caption said (σ = 0 shows the clean miss rate)";
  return html`<section id="setup"><h2>Setup</h2>
<dl class="kv">
<dt>Sweep</dt><dd><code>${r.sweepId}</code> · ${r.concepts.length} knowledge · ${r.samples.length} samples (${accepted} accepted, ${r.samples.length - accepted} rejected) · ${r.failures.length} failed items</dd>
<dt>Model bundle</dt><dd><code>${r.bundle.dir}</code> <span class="dim">sha256 ${shortSha(r.bundle.sha256)}…</span></dd>
<dt>Dataset</dt><dd>${r.dataset.kind}, split <code>${r.dataset.split}</code>, <code>${r.dataset.dir}</code> <span class="dim">sha256 ${shortSha(r.dataset.sha256)}…</span></dd>
<dt>Methods</dt><dd>${r.methods.map((m, i) => html`${i ? ", " : ""}${methodLabel(m)}`)}${s ? html` · baseline k: ${String(s.baselineK)} · stage aggregation over positions: ${s.aggregate}` : ""}</dd>
<dt>Controls</dt><dd>${controls.length ? html`${controls.map((m, i) => html`${i ? ", " : ""}${methodLabel(m)}`)}: ${s ? `${s.randomGroups} seeded groups per sample` : "seeded groups per sample"} of the two-stage group's size (${controls.includes("random") ? "random: the same count per layer" : ""}${controls.length > 1 ? "; " : ""}${controls.includes("random-uniform") ? "random-uniform: any layer" : ""}), scored exactly like the methods, their runs pooled` : "none (no random control in this sweep: differences to chance cannot be judged)"}</dd>
<dt>Thresholds</dt><dd>${thr}</dd>
<dt>Noise</dt><dd>${noise}${others}</dd>
<dt>Evaluation sets</dt><dd>${sets}</dd>
<dt>Intervals</dt><dd>${Math.round(ev.bootstrap.level * 100)} % percentile intervals of a seeded, paired, hierarchical bootstrap (knowledge, then samples within it, then noise runs): ${ev.bootstrap.resamples} resamples, seed ${ev.bootstrap.seed}; every method sees the same resampled knowledge and samples, so a difference has its own interval</dd>
<dt>BERTScore encoder</dt><dd>${enc ? html`<code>${String(enc.name ?? "?")}</code> (package ${String(enc.package ?? "?")} ${String(enc.packageVersion ?? "")}, layer ${String(enc.layer ?? "?")}, no idf, no rescale) <span class="dim">weights sha256 ${shortSha(enc.weightsSha256)}…</span>` : "not recorded"}</dd>
<dt>Artifacts</dt><dd>results <code>${inp.keys.results}</code>${inp.keys.plan ? html` · plan <code>${inp.keys.plan}</code>` : ""}</dd>
<dt>Downloads</dt><dd>${inp.downloads.map((d, i) => html`${i ? " · " : ""}<a href="${d}">${d}</a>`)}</dd>
</dl>
${s ? html`<details><summary>Full sweep spec (JSON)</summary><pre>${JSON.stringify(s, null, 1)}</pre></details>` : html`<p class="dim">The store holds no spec for this sweep (results copied without their sweep records); values above come from the results.</p>`}
</section>`;
}

const METRIC_HEAD: Record<MetricName, Part> = {
  suppression: html`Suppression <var>S</var>`, retention: html`Retention <var>R</var>`, score: "Score (S+R)/2", selectivity: "Selectivity",
};

/** The control a method's Table II cells are compared with: the layer-matched one when run. */
const referenceControl = (r: SweepResults) => (r.methods.includes("random") ? "random" : r.methods.find(isControl));

/** An estimate with its interval; `mark` adds the ▲/▼ of a resolved difference to the control. */
function ciCell(e: Estimate, mark?: { up: boolean; title: string }): Html {
  const v = isNum(e.value) ? String(e.value) : "";
  return html`<td class="num ci${mark ? " res" : ""}" data-v="${v}">${fmt(e.value)} <span class="iv">[${fmt(e.lo)}, ${fmt(e.hi)}]</span>${mark ? html` <span class="mk" title="${mark.title}">${mark.up ? "▲" : "▼"}</span>` : ""}</td>`;
}

/** Set sizes: per-sample means (whole numbers shown whole). */
const fSize = (x: unknown) => (isNum(x) ? (Number.isInteger(x) ? String(x) : x.toFixed(1)) : "—");

/** One scope's Table II (a knowledge, or the average): σ × method rows, the four measures with intervals. */
function table2Rows(r: SweepResults, concept: string, withMarks: boolean): Html {
  const ref = withMarks ? referenceControl(r) : undefined;
  const sigmas: (number | "all")[] = [0, ...r.levels, "all"];
  const body = sigmas.flatMap((sigma) => r.methods.map((m, i) => {
    const row = r.table2.find((x) => x.method === m && x.concept === concept && x.sigma === sigma);
    const cells = METRIC_NAMES.map((metric) => {
      if (!row) return html`<td class="num">—</td>`;
      const d = ref && m !== ref && sigma !== 0 ? r.differences.find((x) => x.a === m && x.b === ref && x.sigma === sigma) : undefined;
      const de = d ? estimate(d, metric) : undefined;
      const mark = de && excludesZero(de) ? { up: de.lo > 0, title: `${methodLabel(m)} − ${methodLabel(ref!)} ${sigmaText(sigma)}: ${ciText(de, true)}` } : undefined;
      return ciCell(estimate(row, metric), mark);
    });
    const sig = sigma === "all" ? "avg" : sigma === 0 ? "0 (clean)" : String(sigma);
    return html`<tr class="${i === 0 ? "grp" : ""}${sigma === "all" ? " avg" : ""}${sigma === 0 ? " clean" : ""}${isControl(m) ? " ctl" : ""}"><td>${sig}</td><th scope="row">${methodShort(m)}</th><td class="num">${row ? row.groups : 0}</td>${cells}</tr>`;
  }));
  return html`<thead><tr><th scope="col">σ</th><th scope="col">Method</th><th scope="col" title="neuron groups scored (a control has several per sample)">groups</th>${METRIC_NAMES.map((m) => html`<th scope="col">${METRIC_HEAD[m]}</th>`)}</tr></thead><tbody>${body}</tbody>`;
}

/** n_same / n_other of a scope (the same sets for every method: read off the first row). */
function setSizes(r: SweepResults, concept: string): { same: number; other: number } | undefined {
  const row = r.table2.find((x) => x.concept === concept);
  return row ? { same: row.n_same, other: row.n_other } : undefined;
}

async function table2Section(r: SweepResults): Promise<Html> {
  const M = r.methods;
  const ref = referenceControl(r);
  const scored = (c: string) => M.some((m) => (r.table2.find((x) => x.method === m && x.concept === c && x.sigma === "all")?.groups ?? 0) > 0);
  const concepts = r.concepts.filter(scored);
  const unscored = r.concepts.filter((c) => !scored(c));
  const avgSizes = setSizes(r, "average");
  const chartMetrics: MetricName[] = ["suppression", "retention", "selectivity"];
  const points = r.table2.filter((x): x is ResultRow & { sigma: number } => x.concept === "average" && x.sigma !== "all")
    .flatMap((x) => chartMetrics.filter((m) => isNum(x[m])).map((metric) => ({ method: x.method, sigma: x.sigma, metric, value: x[metric], lo: x[`${metric}_lo`], hi: x[`${metric}_hi`] })));
  const chart = concepts.length && points.length ? raw(await doseChart(points, M, chartMetrics)) : null;
  // At a glance per knowledge: the selectivity averaged over σ per method (sortable), full tables folded below.
  const glance = concepts.map((c) => {
    const sz = setSizes(r, c);
    const rows = M.map((m) => r.table2.find((x) => x.method === m && x.concept === c && x.sigma === "all"));
    return html`<tr><th scope="row"><a href="#${anchor("t2", c)}">${c}</a></th><td class="num" data-v="${sz?.same ?? ""}">${fSize(sz?.same)}</td><td class="num" data-v="${sz?.other ?? ""}">${fSize(sz?.other)}</td>${rows.map((x) => (x ? ciCell(estimate(x, "selectivity")) : html`<td class="num">—</td>`))}</tr>`;
  });
  const details = concepts.map((c) => {
    const sz = setSizes(r, c);
    return html`<details class="t2k" id="${anchor("t2", c)}"><summary><strong>${c}</strong> <span class="dim">n<sub>same</sub> ${fSize(sz?.same)}, n<sub>other</sub> ${fSize(sz?.other)} per sample · ${conceptLink(c)} samples</span></summary>
<div class="scroll"><table class="t2 t2-k" data-concept="${c}">${table2Rows(r, c, false)}</table></div></details>`;
  });
  return html`<section id="table2"><h2>Table II — impact on target and other knowledge</h2>
<p>Noise on each method's neurons, then greedy captions of the evaluation sets. Suppression <var>S</var> = 1 − <var>P</var><sub>same</sub> (captions of images of the knowledge that no longer mention it),
retention <var>R</var> = <var>P</var><sub>other</sub> (captions of images of other knowledge that still mention theirs), score (<var>S</var> + <var>R</var>)/2,
selectivity = Δsame − Δother with Δsame = <var>P</var><sub>same</sub>(0) − <var>P</var><sub>same</sub>(σ) and Δother = <var>P</var><sub>other</sub>(0) − <var>P</var><sub>other</sub>(σ): noise that only damages the image drops both alike and scores ≈ 0. Its parts are read off the table: Δsame = <var>S</var>(σ) − <var>S</var>(0), Δother = <var>R</var>(0) − <var>R</var>(σ)${r.evaluation.sets === "faithful" ? " (here simply S and 1 − R)" : ""}.
σ = 0 (clean) is the clean captions over the same sets${r.evaluation.sets === "faithful" ? " (S = 0 and R = 1 by construction: faithful sets)" : ""}; “avg” averages over the noise levels (σ &gt; 0).
Each number is the mean over the neuron groups of a knowledge and the noise draws, then over knowledge, with its 95 % bootstrap interval in brackets. ${ref ? html`${methodLabel(ref)} is the control: ▲/▼ mark an average whose paired difference to it has a 95 % interval above/below 0 (hover for the difference); no other mark ranks the methods — see <a href="#differences">Paired differences</a>.` : "This sweep ran no random control."}</p>
${concepts.length ? html`<h3 id="t2-average">Average over knowledge</h3>
<p class="dim">${concepts.length} knowledge; set sizes per sample (mean): n<sub>same</sub> = ${fSize(avgSizes?.same)} images of the knowledge, n<sub>other</sub> = ${fSize(avgSizes?.other)} (image, other knowledge) pairs.</p>
<div class="scroll"><table class="t2 t2-avg">${table2Rows(r, "average", true)}</table></div>
${chart ? html`<figure class="chart" id="dose">${chart}<figcaption>Dose–response: suppression, retention and selectivity averaged over knowledge against σ (symlog axis; σ = 0 = clean captions) per method and control, with 95 % bootstrap bands (the Average rows above).</figcaption></figure>` : ""}
<h3>Per knowledge</h3>
<p class="dim">Selectivity averaged over σ (95 % interval) per knowledge; click a column heading to sort, a knowledge for its full table.</p>
<div class="scroll"><table class="sortable t2-glance"><thead><tr>${sortableTh("Knowledge", 0)}${sortableTh(html`n<sub>same</sub>`, 1)}${sortableTh(html`n<sub>other</sub>`, 2)}${M.map((m, i) => sortableTh(methodShort(m), i + 3))}</tr></thead><tbody>${glance}</tbody></table></div>
${details}` : html`<p class="empty">No scored neuron group: every sample was rejected or failed, so Table II has no numbers.</p>`}
${unscored.length ? html`<p class="dim">No scored neuron group (every sample rejected or failed): ${unscored.join(", ")}.</p>` : ""}
</section>`;
}

/** The paired differences a − b on the average over knowledge, as a table and as sentences. */
function differencesSection(r: SweepResults): Html {
  const pairs = storedPairs(r.differences);
  const findings = pairs.map(([a, b]) => pairFinding(r.differences, a, b, METRIC_NAMES, methodLabel));
  const rows = pairs.flatMap(([a, b]) => {
    const mine = r.differences.filter((d) => d.a === a && d.b === b);
    return mine.map((d, i) => html`<tr class="${i === 0 ? "grp" : ""}${d.sigma === "all" ? " avg" : ""}"><th scope="row">${methodShort(a)} − ${methodShort(b)}</th><td>${d.sigma === "all" ? "avg" : d.sigma}</td>${METRIC_NAMES.map((m) => {
      const e = estimate(d, m);
      return excludesZero(e) ? html`<td class="num ci res" data-v="${e.value}"><strong>${fmt(e.value, true)}</strong> <span class="iv">[${fmt(e.lo)}, ${fmt(e.hi)}]</span></td>` : html`<td class="num ci" data-v="${isNum(e.value) ? e.value : ""}">${fmt(e.value, true)} <span class="iv">[${fmt(e.lo)}, ${fmt(e.hi)}]</span></td>`;
    })}</tr>`);
  });
  return html`<section id="differences"><h2>Paired differences</h2>
<p>Each row is a − b on the average over knowledge, at one σ (“avg”: over the noise levels), with the 95 % interval of the paired bootstrap (both methods on the same resampled knowledge and samples).
<strong>Bold</strong>: the interval excludes 0 — the only differences this report calls resolved. An unresolved pair whose score and selectivity intervals (averaged over σ) lie within ±${TIE_MARGIN} is called a tie.</p>
${findings.length ? html`<ul class="findings">${findings.map((f) => html`<li>${f.sentences.join(" ")}</li>`)}</ul>
<div class="scroll"><table class="diff"><thead><tr><th scope="col">a − b</th><th scope="col">σ</th>${METRIC_NAMES.map((m) => html`<th scope="col">Δ ${METRIC_HEAD[m]}</th>`)}</tr></thead><tbody>${rows}</tbody></table></div>` : html`<p class="empty">No paired difference was computed (one method and no control, or nothing scored).</p>`}
</section>`;
}

function table3Section(r: SweepResults): Html {
  const cols = [["bleu", "BLEU"], ["rouge1", "ROUGE-1"], ["rougeL", "ROUGE-L"], ["bertscore", "BERTScore"]] as const;
  const enc = r.encoder as Record<string, unknown> | null;
  return html`<section id="table3"><h2>Table III — noisy captions vs the masked (inpainted) image's caption</h2>
<p>Each noisy caption of the sample's own image against the caption of its inpainted image: BLEU (sacrebleu sentence BLEU, 13a, exp smoothing, /100), ROUGE-1 F and ROUGE-L F (no stemmer),
BERTScore F1 with <strong>${enc ? String(enc.name ?? "?") : "an unrecorded encoder"}</strong>${enc ? html` (layer ${String(enc.layer ?? "?")}, no idf, no baseline rescale)` : ""} — not the paper's roberta-large, so compare BERTScores within this report only. Mean over draws, noise levels and samples;
descriptive only (no intervals, so no method is marked best).</p>
<div class="scroll"><table class="sortable t3">
<thead><tr>${sortableTh("Method", 0)}${cols.map(([, label], i) => sortableTh(label, i + 1))}${sortableTh("groups", 5)}</tr></thead>
<tbody>${r.table3.map((x) => html`<tr><th scope="row">${methodLabel(x.method)}</th>${cols.map(([k]) => numCell(x[k]))}<td class="num" data-v="${x.groups}">${x.groups}</td></tr>`)}</tbody>
</table></div></section>`;
}

function table4Section(r: SweepResults, spec: SweepSpec | null): Html {
  const auto = spec ? spec.thresholds.mode === "auto" : r.calibration.length > 0;
  const rows = r.table4.map((x) => html`<tr><th scope="row">${conceptLink(x.concept)}</th><td><a href="#${anchor("s", x.sampleId)}"><code>${x.sampleId}</code></a></td><td>${ruleText(x.act)}</td>${numCell(x.tauAct, fTau)}<td>${ruleText(x.grad)}</td>${numCell(x.tauGrad, fTau)}<td class="num" data-v="${x.candidates}">${x.candidates}</td><td class="num" data-v="${x.selected}">${x.selected}</td></tr>`);
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
    return html`<figure class="grid"><figcaption><strong>${c.concept}</strong>: ${c.chosen ? html`chose q<sub>act</sub> = ${c.chosen.actQ}, q<sub>grad</sub> = ${c.chosen.gradQ} (score ${f4(c.chosen.score)}, |N| = ${c.chosen.neurons})` : c.reason ?? "no grid point met the neuron cap"}</figcaption>
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

/** The heatmap's caption, with its localisation (IoU at the 95th percentile, pointing game) when measured. */
function heatmapLabel(r: SweepResults, sampleId: string): string {
  const h = r.causal?.samples.find((x) => x.sampleId === sampleId)?.heatmap;
  return h ? `heatmap, top-5 neurons — IoU ${fmt(h.iou)}, pointing ${h.pointing ? "hit" : "miss"}` : "heatmap, top-5 neurons";
}

const causalCell = (row: Record<string, number | string>, m: string) => ciCell({ value: row[m] as number, lo: row[`${m}_lo`] as number, hi: row[`${m}_hi`] as number });

/** The causal tests: deterministic ablation (groups and curve), the ground truth, heatmap localisation. */
async function causalSection(r: SweepResults): Promise<Html> {
  const c = r.causal;
  if (!c) return html`<section id="causal"><h2>Causal tests</h2><p class="empty">This sweep ran no causal tests (results from before them, or <code>causal.enabled: false</code>).</p></section>`;
  const label = (m: unknown) => (m === "heatmap" ? "Report heatmap (top-5 two-stage by drop)" : methodLabel(String(m)));
  const gtLabel = (x: Record<string, number | string>) => html` <span class="dim">${x.target === "z" ? "vs Δ z(t)" : "vs Δ log p(t)"}</span>`;
  const groups = c.ablation.filter((x) => x.kind === "group");
  const curve = c.ablation.filter((x) => x.kind === "curve");
  const chart = curve.length ? await ablationCurveChart(curve.map((x) => ({ method: String(x.method), k: Number(x.k), value: Number(x.drop_logp), lo: Number(x.drop_logp_lo), hi: Number(x.drop_logp_hi) })), [...new Set(curve.map((x) => String(x.method)))]) : "";
  const heads = (cols: [string, string][]) => html`<thead><tr><th scope="col">Method</th><th scope="col">samples</th>${cols.map(([, h]) => html`<th scope="col">${h}</th>`)}</tr></thead>`;
  const table = (rows: Record<string, number | string>[], cols: [string, string][], extra?: (x: Record<string, number | string>) => Html) =>
    html`<div class="scroll"><table class="causal">${heads(cols)}<tbody>${rows.map((x) => html`<tr><th scope="row">${label(x.method)}${extra ? extra(x) : ""}</th><td class="num">${String(x.samples)}</td>${cols.map(([m]) => causalCell(x, m))}</tr>`)}</tbody></table></div>`;
  const gt = c.samples.flatMap((s) => (s.groundTruth && "neurons" in s.groundTruth ? [s.groundTruth] : []));
  return html`<section id="causal"><h2>Causal tests</h2>
<p>Deterministic interventions instead of noise: each group's neurons are set to their mean over the evaluation images' image positions (mean-ablation) at the image positions of x, teacher-forced on caption(x) up to the target token t.
Every number is the mean over knowledge of the mean over samples (a control's groups averaged within the sample) with its 95 % hierarchical bootstrap interval.</p>
${c.skipped.length ? html`<ul class="findings">${c.skipped.map((s) => html`<li>${s}</li>`)}</ul>` : ""}
<h3>Ablation effect on the target</h3>
${groups.length ? html`<p>Drop of log p(t) and of z<sub>t</sub> when the group is ablated (higher = the group carries more of t), and the captions of the evaluation images under that one ablation, scored like the noise runs.</p>
${table(groups, [["drop_logp", "Δ log p(t)"], ["drop_z", "Δ z(t)"], ["suppression", "Suppression S"], ["retention", "Retention R"], ["selectivity", "Selectivity"]], (x) => html` <span class="dim">mean |N| ${Number(x.k).toFixed(1)}</span>`)}` : html`<p class="empty">No ablation was measured.</p>`}
${chart ? html`<figure class="chart"><figcaption>Ablation curve: the first k neurons of each method's ranking ablated together; grey: random groups of k neurons (the band is their 95 % interval).</figcaption>${raw(chart)}</figure>` : ""}
<h3>Ground truth: every neuron alone</h3>
${c.groundTruth.length ? html`<p>For ${String(Math.max(...c.groundTruth.map((x) => Number(x.samples))))} samples, every FFN neuron was ablated alone${gt.length ? ` (${gt[0].neurons} neurons per sample)` : ""}. Precision@k: share of the method's group among the k neurons with the largest true effect (k = |N_k|); Spearman ρ: the method's full ranking against the true effects; captured: the group's summed true effect over the true top-k's.</p>
${table(c.groundTruth, [["precision_at_k", "precision@k"], ["spearman", "Spearman ρ"], ["captured", "captured effect"]], gtLabel)}` : html`<p class="empty">No ground truth was computed.</p>`}
<h3>Heatmap localisation</h3>
${c.localisation.length ? html`<p>Each group's top-5 heatmap on x against the object's mask (not dilated): IoU of the hottest 5 % of pixels with the mask, and the pointing game (is the hottest pixel on the object).</p>
${table(c.localisation, [["iou", "IoU (95th pct.)"], ["pointing", "pointing game"]])}` : html`<p class="empty">No localisation was computed.</p>`}
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
    const body = html`<div class="sbody"><div class="imgs">${img(im.original, `original image of ${s.sampleId}`, "original")}${img(im.inpainted, `inpainted image of ${s.sampleId}`, "inpainted")}${img(im.mask, `inpainting mask of ${s.sampleId}`, "mask (dilated)")}${s.heatmapKey || im.heatmap ? img(im.heatmap, `activation heatmap of ${s.sampleId}`, heatmapLabel(r, s.sampleId)) : ""}
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
td.ci .iv{color:var(--dim);font-size:.85em}
td.res{background:var(--best)}
.mk{font-size:.8em;cursor:help}
tr.ctl>*{color:#444;font-style:italic}
tr.clean>*{background:#f7fbff}
details.t2k{margin:.3rem 0}
details.t2k>summary{cursor:pointer}
ul.findings li{margin:.2rem 0}
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
  const sections = [summarySection(r), setupSection(inp), await table2Section(r), differencesSection(r), await causalSection(r), table3Section(r), await layersSection(r), table4Section(r, inp.spec), knowledgeSection(inp), problemsSection(r)];
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
<p class="dim">Two-stage filtering (activation drop on the inpainted image, then GradCAM) against Schwettmann's and Pan's scores and random neuron groups, evaluated by noise on the neurons with 95 % bootstrap intervals. Results aggregated ${inp.resultsAt}; this page is built from the stored artifacts only.</p>
<nav><a href="#summary">Summary</a><a href="#setup">Setup</a><a href="#table2">Table II</a><a href="#differences">Differences</a><a href="#causal">Causal tests</a><a href="#table3">Table III</a><a href="#fig2">Fig. 2</a><a href="#table4">Table IV</a><a href="#knowledge">Per knowledge (Fig. 3, Table I)</a><a href="#problems">Rejected / failed</a></nav></header>
${sections}
<footer>Rebuild with <code>kneuron report ${r.sweepId}</code>. Table II and the differences are rounded to 3 places, other tables to 4; the CSV files beside this page hold full precision.</footer>
</main><script>${raw(SORT_SCRIPT)}</script></body></html>
`;
  return page.value;
}
