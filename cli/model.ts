/**
 * `kneuron caption <image...>`: greedy captions from the model runtime, optionally with Gaussian
 * noise on a neuron group (the evaluation's perturbation, DESIGN.md §2) to see what it does.
 */
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { fileURLToPath } from "node:url";
import { type Command, InvalidArgumentError } from "commander";
import { z } from "zod";
import { noiseDelta, positionStd } from "../core/method/noise.js";
import { NeuronSchema, type Neuron } from "../core/method/tensor.js";
import { ModelError } from "../core/model/errors.js";
import { type CaptionItem, loadModel } from "../core/model/runtime.js";

export const DEFAULT_BUNDLE = fileURLToPath(new URL("../models/tiny", import.meta.url));

/** A neuron file: `[{layer, index}, ...]` or `{ neurons: [...] }` (extra fields such as score are fine). */
const NeuronFileSchema = z.union([z.array(NeuronSchema.loose()), z.object({ neurons: z.array(NeuronSchema.loose()) }).loose()]);

export function readNeuronFile(path: string, layers: number, width: number): Neuron[] {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new ModelError("bad-item", path, `cannot read the neuron file (${(e as Error).message})`);
  }
  const parsed = NeuronFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ModelError("bad-item", path, `expected [{layer, index}, ...] or {neurons: [...]}: ${issue.path.join(".") || "(root)"}: ${issue.message}`);
  }
  const neurons = (Array.isArray(parsed.data) ? parsed.data : parsed.data.neurons).map(({ layer, index }) => ({ layer, index }));
  if (neurons.length === 0) throw new ModelError("bad-item", path, "no neurons listed");
  const bad = neurons.find((n) => n.layer >= layers || n.index >= width);
  if (bad) throw new ModelError("bad-item", path, `neuron (${bad.layer}, ${bad.index}) is outside the model's ${layers} layers × ${width} neurons`);
  return neurons;
}

const number = (what: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`${what} must be a number`);
  return n;
};
const positiveInt = (what: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${what} must be a positive integer`);
  return n;
};

interface CaptionCommandOptions {
  bundle: string;
  noiseNeurons?: string;
  level?: number;
  relative?: boolean;
  draws: number;
  seed: string;
  maxNewTokens: number;
  threads?: number;
  json?: boolean;
}

export async function captionCommand(images: string[], o: CaptionCommandOptions): Promise<void> {
  if ((o.noiseNeurons === undefined) !== (o.level === undefined)) {
    throw new InvalidArgumentError("--noise-neurons and --level go together");
  }
  const rt = await loadModel(o.bundle, { intraOpThreads: o.threads });
  try {
    const { layers, ffnDim: width } = rt.manifest;
    const group = o.noiseNeurons ? readNeuronFile(o.noiseNeurons, layers, width) : undefined;
    const pixels = await Promise.all(images.map((f) => rt.preprocess(f)));
    const embeds = await rt.embedImages(pixels);
    const scales = group && o.relative ? (await rt.activate(pixels)).map(positionStd) : undefined;
    // Row 0 of every image is the clean caption, rows 1..draws the noisy ones.
    const items: CaptionItem[] = [];
    embeds.forEach((imageEmbeds, i) => {
      items.push({ imageEmbeds });
      if (group) for (let draw = 0; draw < o.draws; draw++) {
        items.push({ imageEmbeds, delta: noiseDelta(group, {
          seed: o.seed, groupId: basename(o.noiseNeurons!), sigma: o.level!, draw, layers, width, scale: scales?.[i],
        }) });
      }
    });
    const caps = await rt.caption(items, { maxNewTokens: o.maxNewTokens });
    const per = group ? 1 + o.draws : 1;
    const results = images.map((image, i) => ({
      image,
      caption: caps[i * per].text,
      ...(group ? { noisy: caps.slice(i * per + 1, (i + 1) * per).map((c, draw) => ({ draw, caption: c.text })) } : {}),
    }));
    if (o.json) {
      console.log(JSON.stringify({ bundle: o.bundle, neurons: group?.length, level: o.level, relative: !!o.relative, results }, null, 2));
      return;
    }
    for (const r of results) {
      console.log(`${r.image}: ${r.caption}`);
      for (const n of r.noisy ?? []) console.log(`  noise σ=${o.level}${o.relative ? " (relative)" : ""} on ${group!.length} neurons, draw ${n.draw}: ${n.caption}`);
    }
  } finally {
    await rt.close();
  }
}

export function registerModel(program: Command): void {
  program
    .command("caption")
    .description("greedy captions of images with the model bundle, optionally with noise on a neuron group")
    .argument("<image...>", "image files (any format sharp reads)")
    .option("--bundle <dir>", "model bundle directory", DEFAULT_BUNDLE)
    .option("--noise-neurons <file>", "JSON neuron group: [{layer, index}, ...] or {neurons: [...]}")
    .option("--level <sigma>", "noise level σ added to each neuron's activation at every image position", number("--level"))
    .option("--relative", "σ in units of each neuron's activation std over image positions")
    .option("--draws <n>", "noise draws per image", positiveInt("--draws"), 1)
    .option("--seed <seed>", "noise seed", "0")
    .option("--max-new-tokens <n>", "caption length limit", positiveInt("--max-new-tokens"), 32)
    .option("--threads <n>", "onnxruntime threads (default: all cores)", positiveInt("--threads"))
    .option("--json", "print JSON")
    .action((images: string[], o: CaptionCommandOptions) => captionCommand(images, o));
}
