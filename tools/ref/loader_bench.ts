/**
 * Loader memory/time on a COCO-train-sized instances file (~450 MB, like instances_train2017.json:
 * 118k images, ~860k annotations with float polygons, some crowd RLE).
 *   npx tsx tools/ref/loader_bench.ts make <file>            # write the file (streamed)
 *   npx tsx tools/ref/loader_bench.ts load <file> <whole|stream>  # load it, print time and peak RSS
 */
import { createWriteStream } from "node:fs";
import { stat } from "node:fs/promises";
import { once } from "node:events";
import { loadCoco } from "../../core/data/index.js";
import { Rng } from "../../core/data/synth/rng.js";

const [cmd, file, mode] = process.argv.slice(2);

async function make(path: string): Promise<void> {
  const rng = new Rng("loader-bench");
  const out = createWriteStream(path);
  const write = async (s: string) => {
    if (!out.write(s)) await once(out, "drain");
  };
  const nImages = 118_287;
  await write('{"info":{"description":"COCO-sized loader benchmark","year":2017},"licenses":[],"images":[');
  for (let i = 0; i < nImages; i++) {
    await write(`${i ? "," : ""}{"license":1,"file_name":"${String(i + 1).padStart(12, "0")}.jpg","coco_url":"http://images.example/train2017/${String(i + 1).padStart(12, "0")}.jpg","height":480,"width":640,"date_captured":"2013-11-14 16:28:13","flickr_url":"http://farm.example/${i}.jpg","id":${i + 1}}`);
  }
  await write('],"annotations":[');
  let id = 0;
  for (let i = 0; i < nImages; i++) {
    const n = rng.int(3, 11);
    for (let k = 0; k < n; k++) {
      const cx = rng.range(60, 580), cy = rng.range(60, 420), r = rng.range(10, 50);
      if (rng.next() < 0.01) {
        const counts = Array.from({ length: 60 }, () => rng.int(1, 4000));
        counts.push(480 * 640 - counts.reduce((a, b) => a + b, 0));
        await write(`${id ? "," : ""}{"segmentation":{"counts":[${counts.join(",")}],"size":[480,640]},"area":${(r * r * 3).toFixed(1)},"iscrowd":1,"image_id":${i + 1},"bbox":[${(cx - r).toFixed(2)},${(cy - r).toFixed(2)},${(2 * r).toFixed(2)},${(2 * r).toFixed(2)}],"category_id":1,"id":${++id}}`);
        continue;
      }
      const pts = rng.int(14, 47);
      const poly: string[] = [];
      for (let p = 0; p < pts; p++) {
        const a = (2 * Math.PI * p) / pts, rr = r * rng.range(0.7, 1);
        poly.push((cx + rr * Math.cos(a)).toFixed(2), (cy + rr * Math.sin(a)).toFixed(2));
      }
      await write(`${id ? "," : ""}{"segmentation":[[${poly.join(",")}]],"area":${(Math.PI * r * r * 0.7).toFixed(4)},"iscrowd":0,"image_id":${i + 1},"bbox":[${(cx - r).toFixed(2)},${(cy - r).toFixed(2)},${(2 * r).toFixed(2)},${(2 * r).toFixed(2)}],"category_id":${rng.int(1, 90)},"id":${++id}}`);
    }
  }
  await write('],"categories":[{"supercategory":"person","id":1,"name":"person"}]}');
  out.end();
  await once(out, "finish");
  console.log(`${path}: ${((await stat(path)).size / 2 ** 20).toFixed(0)} MiB, ${nImages} images, ${id} annotations`);
}

if (cmd === "make") await make(file);
else if (cmd === "load") {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const ds = await loadCoco({ instancesPath: file }, { parse: mode as "whole" | "stream" });
  const t1 = performance.now();
  const perImage = ds.annsByImage.size;
  const t2 = performance.now();
  const heap = process.memoryUsage();
  console.log(JSON.stringify({
    mode,
    MiB: Math.round((await stat(file)).size / 2 ** 20),
    images: ds.images.length,
    annotations: ds.annotations.length,
    loadSeconds: +((t1 - t0) / 1000).toFixed(1),
    cpuSeconds: +((process.cpuUsage(c0).user + process.cpuUsage(c0).system) / 1e6).toFixed(1),
    indexSeconds: +((t2 - t1) / 1000).toFixed(2),
    imagesWithAnns: perImage,
    peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
    heapUsedMiB: Math.round(heap.heapUsed / 2 ** 20),
  }));
} else throw new Error("usage: loader_bench.ts make <file> | load <file> <whole|stream>");
