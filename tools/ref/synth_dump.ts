/**
 * Generates a small synthetic set and dumps our decoded masks, for the pycocotools check
 * (tools/tests/test_coco_format.py): <out>/ours_masks_<split>.json = {ann id: RLE counts string}.
 *   npx tsx tools/ref/synth_dump.ts <outDir> [seed]
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { generateSynthetic, loadCoco, rleEncode, rleToString, SPLITS } from "../../core/data/index.js";
import { objectMask } from "../../core/image/index.js";

const [out, seedArg] = process.argv.slice(2);
if (!out) throw new Error("usage: synth_dump.ts <outDir> [seed]");
const r = await generateSynthetic({ outDir: out, seed: Number(seedArg ?? 3), sizes: { train: 30, val: 10, experiment: 96, calibration: 30 } });
for (const split of SPLITS) {
  const s = r.splits[split]!;
  const ds = await loadCoco({ instancesPath: s.instancesPath, captionsPath: s.captionsPath });
  const masks: Record<number, { mask: string; dilated3: string }> = {};
  for (const a of ds.annotations) {
    const img = ds.image(a.image_id);
    const enc = (m: Uint8Array) => rleToString(rleEncode(m, img.height, img.width));
    masks[a.id] = { mask: enc(ds.annToMask(a)), dilated3: enc(objectMask(a, img.height, img.width, 3)) };
  }
  await writeFile(join(out, `ours_masks_${split}.json`), JSON.stringify(masks));
}
console.log(JSON.stringify(Object.fromEntries(Object.entries(r.splits).map(([k, v]) => [k, v!.images]))));
