// Charts for the report: vega-lite specs compiled to vega and rendered to SVG at build time
// (renderer "none": no canvas, no DOM), so the page needs no script to show them.
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";

export const METHOD_LABEL: Record<string, string> = { "two-stage": "Ours (two-stage)", schwettmann: "Schwettmann's", pan: "Pan's" };
export const methodLabel = (m: string): string => METHOD_LABEL[m] ?? m;
/** Column heads, as the paper's tables name the methods. */
export const methodShort = (m: string): string => (m === "two-stage" ? "Ours" : METHOD_LABEL[m] ?? m);
const METHOD_COLOR: Record<string, string> = { "two-stage": "#c0392b", schwettmann: "#2874a6", pan: "#7d8c2a" };

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

const base = { $schema: "https://vega.github.io/schema/vega-lite/v6.json", background: "white", config: { font: "sans-serif", axis: { labelFontSize: 11, titleFontSize: 12 }, legend: { labelFontSize: 11, titleFontSize: 12, orient: "top" } } } as const;

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

/** Table II as a picture: the averaged suppression, retention and score against σ per method. */
export function noiseChart(rows: { method: string; sigma: number; metric: string; value: number }[], methods: string[]): Promise<string> {
  return renderSvg({
    ...base,
    data: { values: rows.map((r) => ({ ...r, method: methodLabel(r.method) })) },
    facet: { column: { field: "metric", type: "nominal", title: null, sort: ["suppression", "retention", "score"] } },
    spec: {
      width: 190,
      height: 150,
      mark: { type: "line", point: true },
      encoding: {
        x: { field: "sigma", type: "ordinal", title: "noise level σ", axis: { labelAngle: 0 } },
        y: { field: "value", type: "quantitative", title: null, scale: { domain: [0, 1] } },
        color: { field: "method", type: "nominal", title: null, scale: colorScale(methods), sort: methods.map(methodLabel) },
      },
    },
  } as TopLevelSpec);
}
