/**
 * docs/img/synthetic-scenes.png: experiment samples of the synthetic set (target polygon
 * outlined), their inpainted twins (Telea, mask dilated 3 px) and a heatmap rendered with
 * renderHeatmap. No model is involved: the heatmap's per-token values are the mean |x − x~| of
 * each 16×16-px token cell (8×8 grid), i.e. where inpainting changed the image.
 *   npx tsx tools/ref/make_picture.ts [out.png]
 */
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { generateSynthetic, loadCoco, type SynthMarker } from "../../core/data/index.js";
import { encodePng, loadImage, objectMask, renderHeatmap, teleaInpainter } from "../../core/image/index.js";

const out = process.argv[2] ?? "docs/img/synthetic-scenes.png";
const dir = await mkdtemp(join(tmpdir(), "kneuron-picture-"));
const r = await generateSynthetic({ outDir: dir, seed: 0, splits: ["experiment"] });
const ds = await loadCoco({ instancesPath: r.splits.experiment!.instancesPath, captionsPath: r.splits.experiment!.captionsPath });
const picks = [0, 13, 24, 37, 61, 84]; // bear, bus, pizza, chair, laptop, wine glass samples
const T = 192; // tile size
const PAD = 8;
const LABEL = 128;
const CAP = 48;
const rows = ["scene", "inpainted", "heatmap"];
const W = LABEL + picks.length * (T + PAD);
const H = rows.length * (T + CAP) + PAD;
const tiles: sharp.OverlayOptions[] = [];
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");
let svgText = "";
const inpainter = teleaInpainter({ radius: 3 });

for (const [col, i] of picks.entries()) {
  const img = ds.images[i];
  const marker = (img as unknown as { kneuron: SynthMarker }).kneuron;
  const ann = ds.annotation(marker.annotation_id!);
  const rgb = await loadImage(join(dir, "experiment", img.file_name));
  const mask = objectMask(ann, img.height, img.width, 3);
  const twin = await inpainter.inpaint(rgb, mask);
  // per-token |x − x~| on an 8×8 grid of 16 px cells
  const values = new Float32Array(64);
  for (let y = 0; y < img.height; y++) for (let x = 0; x < img.width; x++) {
    const p = 3 * (y * img.width + x);
    const d = Math.abs(rgb.data[p] - twin.data[p]) + Math.abs(rgb.data[p + 1] - twin.data[p + 1]) + Math.abs(rgb.data[p + 2] - twin.data[p + 2]);
    values[Math.floor(y / 16) * 8 + Math.floor(x / 16)] += d / (16 * 16 * 3);
  }
  const heat = await renderHeatmap({ image: rgb, values, grid: [8, 8], alpha: 0.5, colormap: "jet" });
  const k = T / img.width;
  const outline = (ann.segmentation as number[][]).map((p) => `<polygon points="${p.map((v) => (v + 0.5) * k).join(" ")}" fill="none" stroke="#ff00ff" stroke-width="2"/>`).join("");
  const scene = await sharp(await encodePng(rgb)).resize(T, T, { kernel: "nearest" }).composite([{ input: Buffer.from(`<svg width="${T}" height="${T}" xmlns="http://www.w3.org/2000/svg">${outline}</svg>`) }]).png().toBuffer();
  const left = LABEL + col * (T + PAD);
  const images = [scene, await sharp(await encodePng(twin)).resize(T, T, { kernel: "nearest" }).png().toBuffer(), await sharp(heat).resize(T, T, { kernel: "nearest" }).png().toBuffer()];
  const caption = ds.captionsByImage.get(img.id)![0].replace(/^the image shows /, "");
  for (const [row, buf] of images.entries()) tiles.push({ input: buf, left, top: PAD + row * (T + CAP) });
  // the caption on two lines, split at the word nearest its middle
  const words = caption.split(" ");
  let cut = 1;
  while (cut < words.length - 1 && words.slice(0, cut + 1).join(" ").length <= caption.length / 2) cut++;
  const lines = caption.length > 28 ? [words.slice(0, cut).join(" "), words.slice(cut).join(" ")] : [caption];
  lines.forEach((line, j) => (svgText += `<text x="${left + T / 2}" y="${PAD + T + 14 + 13 * j}" font-size="12" text-anchor="middle" font-family="sans-serif">${esc(line)}</text>`));
  svgText += `<text x="${left + T / 2}" y="${PAD + T + 42}" font-size="11" text-anchor="middle" fill="#555" font-family="sans-serif">target: ${esc(marker.concept!)} (${marker.style})</text>`;
  svgText += `<text x="${left + T / 2}" y="${PAD + 2 * T + CAP + 15}" font-size="12" text-anchor="middle" font-family="sans-serif">${esc(marker.concept!)} removed</text>`;
}
const labels = ["scene +\ntarget polygon", "inpainted twin\n(Telea r=3,\ndilation 3 px)", "heatmap:\nmean |x − x~|\nper token (8×8)"];
for (const [row, l] of labels.entries()) {
  l.split("\n").forEach((line, j) => (svgText += `<text x="8" y="${PAD + row * (T + CAP) + T / 2 - 10 + 16 * j}" font-size="13" font-family="sans-serif">${esc(line)}</text>`));
}
tiles.push({ input: Buffer.from(`<svg width="${W}" height="${H}" xmlns="http://www.w3.org/2000/svg">${svgText}</svg>`), left: 0, top: 0 });
await sharp({ create: { width: W, height: H, channels: 3, background: "#ffffff" } }).composite(tiles).png().toFile(out);
console.log(`wrote ${out} (${W}x${H})`);
