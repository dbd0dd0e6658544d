/**
 * Runs the project's Telea inpainter (OpenCV.js) on the parity fixtures and writes <name>_ts.png
 * into outDir, for tools/tests/test_inpaint_parity.py.
 *   npx tsx tools/ref/inpaint_ts.ts <fixtureDir> <outDir>
 */
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import sharp from "sharp";
import { encodePng, loadImage, teleaInpainter } from "../../core/image/index.js";
import { writeFile } from "node:fs/promises";

const [fx, out] = process.argv.slice(2);
if (!fx || !out) throw new Error("usage: inpaint_ts.ts <fixtureDir> <outDir>");
await mkdir(out, { recursive: true });
const cases = JSON.parse(await readFile(join(fx, "cases.json"), "utf8")) as Array<{ name: string; image: string; mask: string; radius: number }>;
for (const c of cases) {
  const img = await loadImage(join(fx, c.image));
  const mask = new Uint8Array(await sharp(join(fx, c.mask)).greyscale().raw().toBuffer()).map((v) => (v > 127 ? 1 : 0));
  const res = await teleaInpainter({ radius: c.radius }).inpaint(img, mask);
  await writeFile(join(out, `${c.name}_ts.png`), await encodePng(res));
}
console.log(`inpainted ${cases.length} cases into ${out}`);
