// One process of bench/runtime.verify.bench.ts's threads-vs-processes comparison: loads the model
// with the given intra-op threads and captions its part of the drafted workload (the noise setting).
// Usage: tsx bench/verify-worker.ts <bundle> <threads> <part> <parts>; prints {seconds, captions}.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadModel } from "../core/model/runtime.js";
import { NOISES, workload } from "./runtime.verify.bench.js";

const [bundle, threads, part, parts] = process.argv.slice(2);
const t0 = performance.now();
const rt = await loadModel(bundle, { intraOpThreads: Number(threads) });
const dir = mkdtempSync(join(tmpdir(), "kneuron-verify-w-"));
try {
  const w = await workload(rt, dir, NOISES[1]);
  const clean = await rt.caption(w.embeds.map((e) => ({ imageEmbeds: e })));
  const items = w.items.map((it, k) => ({ ...it, draft: rt.tokenizer.encode(clean[k % clean.length].text) }));
  const mine = items.filter((_, k) => k % Number(parts) === Number(part));
  await rt.caption(mine);
  console.log(JSON.stringify({ seconds: (performance.now() - t0) / 1000, captions: mine.length }));
} finally {
  await rt.close();
  rmSync(dir, { recursive: true, force: true });
}
