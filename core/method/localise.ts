// Heatmap localisation (Schwettmann et al. 2023's check): does a group's heatmap on x fall on the
// object? IoU of the heatmap's top 5 % of pixels with the object mask, and the pointing game
// (is the hottest pixel inside the mask). Arithmetic only.
import { upsampleBilinear } from "../image/heatmap.js";
import { quantile } from "./tensor.js";

export interface Localisation {
  /** |hot ∩ mask| / |hot ∪ mask|, hot = pixels at or above the `q` quantile of the heatmap. */
  iou: number;
  /** 1 when the heatmap's maximum (first in raster order) lies in the mask, else 0. */
  pointing: number;
}

/** Score a full-resolution heatmap `heat` [h·w] against a 0/1 `mask` [h·w]. */
export function localiseMap(heat: ArrayLike<number>, mask: ArrayLike<number>, q = 0.95): Localisation {
  if (heat.length !== mask.length) throw new RangeError(`localise: heatmap has ${heat.length} pixels, mask ${mask.length}`);
  if (heat.length === 0) throw new RangeError("localise: empty heatmap");
  const tau = quantile(heat, q);
  let inter = 0, union = 0, best = 0;
  for (let i = 0; i < heat.length; i++) {
    const hot = heat[i] >= tau, m = mask[i] > 0;
    if (hot && m) inter++;
    if (hot || m) union++;
    if (heat[i] > heat[best]) best = i;
  }
  return { iou: union ? inter / union : NaN, pointing: mask[best] > 0 ? 1 : 0 };
}

/** Score token-grid heatmap values [rows·cols] (upsampled bilinearly to the mask's h×w, as displayed). */
export function localise(values: Float32Array, grid: [number, number], mask: ArrayLike<number>, h: number, w: number, q = 0.95): Localisation {
  if (values.length !== grid[0] * grid[1]) throw new RangeError(`localise: ${values.length} values for a ${grid[0]}x${grid[1]} grid`);
  return localiseMap(upsampleBilinear(values, grid[0], grid[1], h, w), mask, q);
}
