/**
 * Writes the inpainting parity fixtures: synthetic scenes and their dilated object masks
 * (test/fixtures/data/inpaint/). tools/ref/inpaint_ref.py then adds cv2.inpaint's outputs.
 *   npx tsx tools/ref/make_inpaint_fixtures.ts [outDir]
 */
import { mkdtemp, mkdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { generateSynthetic, loadCoco } from "../../core/data/index.js";
import { encodePng, loadImage, objectMask } from "../../core/image/index.js";

const out = process.argv[2] ?? "test/fixtures/data/inpaint";
await mkdir(out, { recursive: true });
const cases: Array<{ name: string; image: string; mask: string; radius: number; ref: string; dilation: number }> = [];

// Three 128 px experiment samples (radius 3, dilation 3) and one 256 px scene (radius 5, dilation 6).
for (const [imageSize, picks, radius, dilation] of [[128, [0, 40, 75], 3, 3], [256, [12], 5, 6]] as const) {
  const dir = await mkdtemp(join(tmpdir(), "kneuron-inpaint-fx-"));
  const r = await generateSynthetic({ outDir: dir, seed: 11, splits: ["experiment"], sizes: { experiment: 90 }, imageSize });
  const ds = await loadCoco({ instancesPath: r.splits.experiment!.instancesPath });
  for (const i of picks) {
    const img = ds.images[i];
    const marker = (img as { kneuron?: { annotation_id?: number } }).kneuron!;
    const ann = ds.annotation(marker.annotation_id!);
    const rgb = await loadImage(join(dir, "experiment", img.file_name));
    const mask = objectMask(ann, img.height, img.width, dilation);
    const name = `case${cases.length + 1}`;
    await writeFile(join(out, `${name}.png`), await encodePng(rgb, 9));
    await sharp(Buffer.from(mask.map((v) => (v ? 255 : 0))), { raw: { width: img.width, height: img.height, channels: 1 } })
      .png({ compressionLevel: 9 })
      .toFile(join(out, `${name}_mask.png`));
    cases.push({ name, image: `${name}.png`, mask: `${name}_mask.png`, radius, dilation, ref: `${name}_cv2.png` });
  }
}
await writeFile(join(out, "cases.json"), JSON.stringify(cases, null, 2) + "\n");
console.log(`wrote ${cases.length} cases to ${out}`);
