/**
 * `kneuron data synth`: the synthetic COCO-format scenes (cached per seed/version).
 * `kneuron data check`: load and validate a COCO instances file, decoding every mask.
 */
import { type Command, InvalidArgumentError, Option } from "commander";
import { annToMask, DEFAULT_SIZES, generateSynthetic, loadCoco, SPLITS, type SplitName } from "../core/data/index.js";

const nonNegInt = (what: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${what} must be a non-negative integer`);
  return n;
};

/** "train=200" → ["train", 200], accumulated over repeated --size flags. */
const sizeFlag = (v: string, acc: Partial<Record<SplitName, number>>) => {
  const m = /^([a-z]+)=(\d+)$/.exec(v);
  if (!m || !(SPLITS as readonly string[]).includes(m[1])) throw new InvalidArgumentError(`expected <split>=<images> with split one of ${SPLITS.join(", ")}`);
  return { ...acc, [m[1]]: Number(m[2]) };
};

export function registerData(program: Command): void {
  const data = program.command("data").description("datasets: synthetic COCO-format scenes, COCO 2017 checks");

  data
    .command("synth")
    .description(`render synthetic scenes in COCO 2017 layout (<out>/<split>/*.png, <out>/annotations/{instances,captions}_<split>.json); reused when seed and version match`)
    .requiredOption("--out <dir>", "output directory")
    .option("--seed <n>", "random seed", nonNegInt("--seed"), 0)
    .addOption(new Option("--split <name...>", "splits to make").choices([...SPLITS]).default([...SPLITS]))
    .option("--size <split=n>", `images in a split (repeatable; defaults ${Object.entries(DEFAULT_SIZES).map(([k, v]) => `${k}=${v}`).join(" ")})`, sizeFlag, {})
    .option("--image-size <px>", "image side in pixels", nonNegInt("--image-size"), 128)
    .option("--force", "regenerate even if a matching cached split exists", false)
    .action(async (o: { out: string; seed: number; split: SplitName[]; size: Partial<Record<SplitName, number>>; imageSize: number; force: boolean }) => {
      let last = 0;
      const r = await generateSynthetic({
        outDir: o.out,
        seed: o.seed,
        splits: o.split,
        sizes: o.size,
        imageSize: o.imageSize,
        force: o.force,
        onProgress: (split, done, total) => {
          const now = Date.now();
          if (process.stderr.isTTY && (now - last > 250 || done === total)) {
            last = now;
            process.stderr.write(`\r${split}: ${done}/${total}${done === total ? "\n" : ""}`);
          }
        },
      });
      for (const s of Object.values(r.splits)) {
        const speed = s.reused ? "reused (cached)" : `${s.seconds.toFixed(1)} s, ${(s.images / Math.max(s.seconds, 1e-9)).toFixed(0)} images/s`;
        console.log(`${s.split}: ${s.images} images, ${s.annotations} objects -> ${s.instancesPath} (${speed})`);
      }
    });

  data
    .command("check")
    .description("load a COCO instances file (and captions), validate it and decode every mask")
    .argument("<instances>", "instances_*.json")
    .option("--captions <file>", "captions_*.json")
    .action(async (instancesPath: string, o: { captions?: string }) => {
      const t0 = performance.now();
      const ds = await loadCoco({ instancesPath, captionsPath: o.captions });
      let pixels = 0;
      for (const a of ds.annotations) {
        const img = ds.image(a.image_id);
        pixels += annToMask(a, img.height, img.width).reduce((s, v) => s + v, 0);
      }
      console.log(
        `${instancesPath}: ${ds.images.length} images, ${ds.annotations.length} annotations (${pixels} mask px), ${ds.categories.length} categories, ${ds.captions.length} captions; ok in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
      );
    });
}
