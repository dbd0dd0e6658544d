/**
 * Emoji icon sprites (iconify JSON sets rendered by sharp/librsvg) with their alpha mask and a
 * COCO polygon traced from it (OpenCV findContours + approxPolyDP). Cached per style/icon/size.
 */
import { createRequire } from "node:module";
import { getIconData, iconToHTML, iconToSVG, replaceIDs } from "@iconify/utils";
import sharp from "sharp";
import { loadCv } from "../../image/cv.js";
import type { IconStyle } from "../concepts.js";

const require = createRequire(import.meta.url);
type IconifyJSON = Parameters<typeof getIconData>[0];
const sets = new Map<IconStyle, IconifyJSON>();

function iconSet(style: IconStyle): IconifyJSON {
  let s = sets.get(style);
  if (!s) sets.set(style, (s = require(`@iconify-json/${style}/icons.json`) as IconifyJSON));
  return s;
}

/** Whether the style's icon set draws this icon (emojione and noto-v1 lack a few of the 30). */
export function hasIcon(style: IconStyle, icon: string): boolean {
  return getIconData(iconSet(style), icon) !== null;
}

export interface Sprite {
  /** RGBA, width×height, straight (non-premultiplied) alpha, cropped to the drawn content. */
  rgba: Uint8Array;
  width: number;
  height: number;
  /** Polygons in sprite pixel coordinates, through the centres of the mask's boundary pixels. */
  polygons: number[][];
}

/** Alpha at or above this counts as object: low, so the polygon hugs the anti-aliased rim. */
const ALPHA_THRESHOLD = 64;
/** approxPolyDP tolerance in px: keeps polygons small without visibly cutting corners. */
const POLY_EPSILON = 0.6;
/** Parts smaller than this many px (stray specks, detached sparkles) are not annotated. */
const MIN_PART_AREA = 6;

const cache = new Map<string, Promise<Sprite>>();

/** The icon drawn so that its visible content's longer side is `size` px (icon sets pad differently). */
export function sprite(style: IconStyle, icon: string, size: number): Promise<Sprite> {
  const key = `${style}/${icon}/${size}`;
  let p = cache.get(key);
  if (!p) cache.set(key, (p = renderSprite(style, icon, size)));
  return p;
}

async function rasterise(style: IconStyle, icon: string, side: number): Promise<Uint8Array> {
  const data = getIconData(iconSet(style), icon);
  if (!data) throw new Error(`icon set ${style} has no icon ${icon}`);
  const r = iconToSVG(data, { width: side, height: side });
  const svg = iconToHTML(replaceIDs(r.body), r.attributes);
  const { data: raw, info } = await sharp(Buffer.from(svg)).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.width !== side || info.height !== side) throw new Error(`icon ${style}/${icon} rendered at ${info.width}x${info.height}, wanted ${side}`);
  return new Uint8Array(raw.buffer, raw.byteOffset, raw.length);
}

/** [x0, y0, x1, y1) of the pixels with alpha ≥ threshold. */
function alphaBox(rgba: Uint8Array, side: number): [number, number, number, number] {
  let x0 = side, y0 = side, x1 = 0, y1 = 0;
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      if (rgba[4 * (y * side + x) + 3] < ALPHA_THRESHOLD) continue;
      x0 = Math.min(x0, x);
      y0 = Math.min(y0, y);
      x1 = Math.max(x1, x + 1);
      y1 = Math.max(y1, y + 1);
    }
  }
  return x1 > x0 ? [x0, y0, x1, y1] : [0, 0, side, side];
}

const extent = new Map<string, Promise<number>>();
/** Fraction of the icon's square that its content's longer side spans. */
function contentExtent(style: IconStyle, icon: string): Promise<number> {
  const key = `${style}/${icon}`;
  let p = extent.get(key);
  if (!p) {
    p = rasterise(style, icon, 256).then((a) => {
      const [x0, y0, x1, y1] = alphaBox(a, 256);
      return Math.max(x1 - x0, y1 - y0) / 256;
    });
    extent.set(key, p);
  }
  return p;
}

async function renderSprite(style: IconStyle, icon: string, size: number): Promise<Sprite> {
  const side = Math.round(size / (await contentExtent(style, icon)));
  const full = await rasterise(style, icon, side);
  const [x0, y0, x1, y1] = alphaBox(full, side);
  const width = x1 - x0;
  const height = y1 - y0;
  const rgba = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) rgba.set(full.subarray(4 * ((y + y0) * side + x0), 4 * ((y + y0) * side + x1)), 4 * y * width);
  return { rgba, width, height, polygons: await tracePolygons(rgba, width, height) };
}

/** Outer contours of the alpha mask as polygons through boundary pixel centres. */
async function tracePolygons(rgba: Uint8Array, width: number, height: number): Promise<number[][]> {
  const cv = await loadCv();
  // One px of padding so contours touching the sprite edge close properly.
  const pw = width + 2;
  const m = new cv.Mat(height + 2, pw, cv.CV_8UC1, new cv.Scalar(0));
  const contours = new cv.MatVector();
  const hierarchy = new cv.Mat();
  try {
    const md: Uint8Array = m.data;
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) md[(y + 1) * pw + x + 1] = rgba[4 * (y * width + x) + 3] >= ALPHA_THRESHOLD ? 255 : 0;
    cv.findContours(m, contours, hierarchy, cv.RETR_EXTERNAL, cv.CHAIN_APPROX_NONE);
    const polys: number[][] = [];
    for (let c = 0; c < contours.size(); c++) {
      const contour = contours.get(c);
      const approx = new cv.Mat();
      try {
        if (cv.contourArea(contour) < MIN_PART_AREA) continue;
        cv.approxPolyDP(contour, approx, POLY_EPSILON, true);
        const pts: Int32Array = approx.data32S;
        if (pts.length < 6) continue;
        // Contour points are padded pixel indices. COCO's rasteriser puts pixel centres on
        // integer coordinates, so the indices (minus the padding) trace boundary pixel centres.
        polys.push(Array.from(pts, (v) => v - 1));
      } finally {
        contour.delete();
        approx.delete();
      }
    }
    return polys;
  } finally {
    m.delete();
    contours.delete();
    hierarchy.delete();
  }
}
