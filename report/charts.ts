// Charts for the report: vega-lite specs compiled to vega and rendered to SVG at build time
// (renderer "none": no canvas, no DOM), so the page needs no script to show them.
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";

export const METHOD_LABEL: Record<string, string> = {
  "two-stage": "Ours (two-stage)", schwettmann: "Schwettmann's", pan: "Pan's",
  random: "Random (layer-matched)", "random-uniform": "Random (any layer)",
};
export const methodLabel = (m: string): string => METHOD_LABEL[m] ?? m;
/** Column heads, as the paper's tables name the methods. */
export const methodShort = (m: string): string => (m === "two-stage" ? "Ours" : METHOD_LABEL[m] ?? m);
/** The controls in grey: they are the reference, not contenders. */
const METHOD_COLOR: Record<string, string> = { "two-stage": "#c0392b", schwettmann: "#2874a6", pan: "#7d8c2a", random: "#555555", "random-uniform": "#a0a0a0" };

function colorScale(methods: string[]) {
  return { domain: methods.map(methodLabel), range: methods.map((m, i) => METHOD_COLOR[m] ?? ["#7f7f7f", "#9467bd", "#8c564b"][i % 3]) };
}

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const base = { $schema: "https://vega.github.io/schema/vega-lite/v6.json", background: "white", config: { font: "sans-serif", axis: { labelFontSize: 11, titleFontSize: 12 }, legend: { labelFontSize: 11, titleFontSize: 12, orient: "top", labelLimit: 320, symbolOpacity: 1 } } } as const;

/** The paper's Fig. 2: |N| per layer for each method, summed over all knowledge. */
export function layerChart(layers: Record<string, number[]>, methods: string[]): Promise<string> {
  const values = methods.flatMap((m) => (layers[m] ?? []).map((count, layer) => ({ layer, method: methodLabel(m), count })));
  const nLayers = Math.max(0, ...methods.map((m) => layers[m]?.length ?? 0));
  return renderSvg({
    ...base,
    data: { values },
    width: Math.max(360, Math.min(900, nLayers * methods.length * 14)),
    height: 220,
    mark: { type: "bar" },
    encoding: {
      x: { field: "layer", type: "ordinal", title: "decoder layer", axis: { labelAngle: 0 } },
      xOffset: { field: "method", sort: methods.map(methodLabel) },
      y: { field: "count", type: "quantitative", title: "neurons identified (all knowledge)" },
      color: { field: "method", type: "nominal", title: null, scale: colorScale(methods), sort: methods.map(methodLabel) },
      tooltip: [{ field: "method" }, { field: "layer" }, { field: "count" }],
    },
  } as TopLevelSpec);
}

/** A point of the dose–response chart: one method's averaged metric at one σ, with its 95 % interval. */
export interface DosePoint { method: string; sigma: number; metric: string; value: number; lo: number; hi: number }

/**
 * Dose–response: the averaged metrics against σ (σ = 0 = the clean captions) per method, the
 * bootstrap interval as a band. σ on a symlog axis: the levels are geometric and include 0.
 */
export function doseChart(points: DosePoint[], methods: string[], metrics: string[]): Promise<string> {
  const sigmas = [...new Set(points.map((p) => p.sigma))].sort((a, b) => a - b);
  const x = { field: "sigma", type: "quantitative", title: "noise level σ", scale: { type: "symlog" }, axis: { values: sigmas, format: ".4~g", labelFlush: false } };
  const color = { field: "method", type: "nominal", title: null, scale: colorScale(methods), sort: methods.map(methodLabel) };
  return renderSvg({
    ...base,
    data: { values: points.map((p) => ({ ...p, method: methodLabel(p.method) })) },
    facet: { column: { field: "metric", type: "nominal", title: null, sort: metrics } },
    resolve: { scale: { y: "independent" } },
    spec: {
      width: 200,
      height: 160,
      layer: [
        { mark: { type: "errorband", opacity: 0.18 }, encoding: { x, y: { field: "lo", type: "quantitative", title: null }, y2: { field: "hi" }, color } },
        {
          mark: { type: "line", point: true, strokeWidth: 1.6 },
          encoding: {
            x, y: { field: "value", type: "quantitative", title: null }, color,
            tooltip: [{ field: "method" }, { field: "metric" }, { field: "sigma", title: "σ" }, { field: "value", format: ".3f" }, { field: "lo", format: ".3f", title: "95 % lo" }, { field: "hi", format: ".3f", title: "95 % hi" }],
          },
        },
      ],
    },
  } as TopLevelSpec);
}

/** A point of the ablation curve: one method's (or the random band's) mean drop at group size k, with its 95 % interval. */
export interface CurvePoint { method: string; k: number; value: number; lo: number; hi: number }

/**
 * The ablation curve (Schwettmann-style): drop of log p(t) when the first k neurons of each
 * method's ranking are ablated, k on a log₂ axis; the random groups of each k as a grey band.
 */
export function ablationCurveChart(points: CurvePoint[], methods: string[]): Promise<string> {
  const ks = [...new Set(points.map((p) => p.k))].sort((a, b) => a - b);
  const x = { field: "k", type: "quantitative", title: "neurons ablated k", scale: { type: "log", base: 2 }, axis: { values: ks, format: "d" } };
  const color = { field: "method", type: "nominal", title: null, scale: colorScale(methods), sort: methods.map(methodLabel) };
  const values = points.map((p) => ({ ...p, method: methodLabel(p.method) }));
  return renderSvg({
    ...base,
    data: { values },
    width: 420,
    height: 220,
    layer: [
      { mark: { type: "errorband", opacity: 0.18 }, encoding: { x, y: { field: "lo", type: "quantitative", title: "drop of log p(t)" }, y2: { field: "hi" }, color } },
      {
        mark: { type: "line", point: true, strokeWidth: 1.6 },
        encoding: {
          x, y: { field: "value", type: "quantitative" }, color,
          tooltip: [{ field: "method" }, { field: "k" }, { field: "value", format: ".3f" }, { field: "lo", format: ".3f", title: "95 % lo" }, { field: "hi", format: ".3f", title: "95 % hi" }],
        },
      },
    ],
  } as TopLevelSpec);
}
