// Child process of bench/runtime.bench.ts: a fresh "model worker" that loads a bundle and
// captions two batches of noise runs at the given batch size; prints its RSS after loading and
// its peak RSS (getrusage maxRSS) as JSON. Usage: tsx bench/rss-worker.ts BUNDLE BATCH THREADS
import { loadModel } from "../core/model/runtime.js";

const [bundle, batchArg, threadsArg] = process.argv.slice(2);
const batch = Number(batchArg);
const rt = await loadModel(bundle, { intraOpThreads: Number(threadsArg), maxBatch: batch });
const loadedRss = process.memoryUsage().rss;
const S = rt.manifest.image.size;
const { layers, ffnDim } = rt.manifest;
const pixels = new Float32Array(3 * S * S).map((_, i) => Math.sin(i) * 0.9);
const items = Array.from({ length: 2 * batch }, (_, k) => ({
  pixels,
  delta: new Float32Array(layers * ffnDim).map((_, i) => ((i * 31 + k * 17) % 13 === 0 ? k / batch : 0)),
}));
await rt.caption(items, { batchSize: batch, stopAtEos: false });
await rt.close();
console.log(JSON.stringify({ loadedRss, peakRss: process.resourceUsage().maxRSS * 1024, estimate: rt.estimateBatchBytes(batch) }));
