/// <reference lib="dom" />
// The README's report images, reproducible from a finished sweep in a local store:
//   npx tsx test/report/docs-images.ts <storeDir> <sweepId> <outDir> [sampleId ...]
// writes report.png (full page), report-top.png (its first screen), causal.png (the Causal tests
// section, when the sweep has one) and heatmaps.png (original · inpainted · heatmap of the named
// samples, default the first three with a heatmap). Fails on
// console errors, failed requests or undecoded images, like the browser test.
import { mkdtemp, mkdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import sharp from "sharp";
import { createStore, readStep } from "../../core/store/index.js";
import { buildReport, exportReport } from "../../report/build.js";
import { launchChromium, openWatched } from "./browser.js";

const [storeDir, sweepId, outDir, ...picked] = process.argv.slice(2);
if (!storeDir || !sweepId || !outDir) throw new Error("usage: docs-images.ts <storeDir> <sweepId> <outDir> [sampleId ...]");
const store = createStore({ kind: "local", dir: storeDir });
const built = await buildReport({ store, sweepId });
const tmp = await mkdtemp(join(tmpdir(), "kn-docs-"));
await mkdir(outDir, { recursive: true });
const palette = (img: ReturnType<typeof sharp>) => img.png({ palette: true, quality: 90, compressionLevel: 9 });
const browser = await launchChromium();
try {
  const { page, problems, failedRequests } = await openWatched(browser, pathToFileURL(await exportReport(store, built.key, tmp)).href);
  const broken = await page.$$eval("img", (imgs) => imgs.filter((i) => !(i as HTMLImageElement).naturalWidth).map((i) => i.getAttribute("src")));
  if (problems.length || failedRequests.length || broken.length) throw new Error(`report has problems: ${JSON.stringify({ problems, failedRequests, broken })}`);
  const full = await page.screenshot({ fullPage: true });
  await palette(sharp(full)).toFile(join(outDir, "report.png"));
  const { width, height } = await sharp(full).metadata();
  await palette(sharp(full).extract({ left: 0, top: 0, width: width!, height: Math.min(height!, 1660) })).toFile(join(outDir, "report-top.png"));
  console.log(`report.png: ${width}×${height}, from ${built.key}`);
  const causal = await page.$("section#causal");
  if (causal) {
    await palette(sharp(await causal.screenshot())).toFile(join(outDir, "causal.png"));
    console.log("causal.png: the Causal tests section");
  }
} finally {
  await browser.close();
}

// Heatmap strip: the same image files the report shows, read from the report step.
const step = await readStep(store, built.key);
const ids = picked.length ? picked : Object.keys(built.images).filter((id) => built.images[id].heatmap).slice(0, 3);
const S = 192, G = 6;
const tiles: { input: Buffer; left: number; top: number }[] = [];
for (const [row, id] of ids.entries()) {
  const im = built.images[id];
  const files = [im?.original, im?.inpainted, im?.heatmap];
  if (files.some((f) => !f)) throw new Error(`sample ${id}: the report has no original, inpainted and heatmap image for it`);
  for (const [col, f] of files.entries()) tiles.push({ input: await sharp(await step.read(f!)).resize(S, S).png().toBuffer(), left: col * (S + G), top: row * (S + G) });
}
await palette(sharp({ create: { width: 3 * S + 2 * G, height: ids.length * S + (ids.length - 1) * G, channels: 3, background: "white" } }).composite(tiles)).toFile(join(outDir, "heatmaps.png"));
console.log(`heatmaps.png: ${ids.join(", ")}`);
await rm(tmp, { recursive: true, force: true });
