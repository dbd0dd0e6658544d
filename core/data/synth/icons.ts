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

export interface Sprite {
  /** RGBA, size×size, straight (non-premultiplied) alpha as sharp outputs it. */
  rgba: Uint8Array;
  size: number;
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

export function sprite(style: IconStyle, icon: string, size: number): Promise<Sprite> {
  const key = `${style}/${icon}/${size}`;
  let p = cache.get(key);
  if (!p) cache.set(key, (p = renderSprite(style, icon, size)));
  return p;
}

async function renderSprite(style: IconStyle, icon: string, size: number): Promise<Sprite> {
  const data = getIconData(iconSet(style), icon);
  if (!data) throw new Error(`icon set ${style} has no icon ${icon}`);
  const r = iconToSVG(data, { width: size, height: size });
  const svg = iconToHTML(replaceIDs(r.body), r.attributes);
  const { data: raw, info } = await sharp(Buffer.from(svg)).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.width !== size || info.height !== size) throw new Error(`icon ${style}/${icon} rendered at ${info.width}x${info.height}, wanted ${size}`);
  const rgba = new Uint8Array(raw.buffer, raw.byteOffset, raw.length);
  return { rgba, size, polygons: await tracePolygons(rgba, size) };
}

/** Outer contours of the alpha mask as polygons through boundary pixel centres. */
async function tracePolygons(rgba: Uint8Array, size: number): Promise<number[][]> {
  const cv = await loadCv();
  // One px of padding so contours touching the sprite edge close properly.
  const pad = size + 2;
  const m = new cv.Mat(pad, pad, cv.CV_8UC1, new cv.Scalar(0));
  const contours = new cv.MatVector();
  const hierarchy = new cv.Mat();
  try {
    const md: Uint8Array = m.data;
    for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) md[(y + 1) * pad + x + 1] = rgba[4 * (y * size + x) + 3] >= ALPHA_THRESHOLD ? 255 : 0;
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
