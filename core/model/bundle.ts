// The model bundle manifest (bundle.json, docs/BUNDLE.md §3): the zod schema both sides validate
// (Python through the JSON Schema generated from it, core/model/bundle.schema.json), the
// cross-field dimension checks, and the loader that verifies every file before a session opens.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { open, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { ModelError } from "./errors.js";

export const FORMAT_VERSION = 1;

/** Files every bundle has, by the name the runtime opens. */
export const REQUIRED_FILES = [
  "vision.onnx",
  "embed.onnx",
  "decoder.onnx",
  "gradient.onnx",
  "readout.safetensors",
  "tokenizer.json",
] as const;

const int = z.number().int();
const count = z.number().int().positive();
const tokenId = z.number().int().nonnegative();
const rgb = z.tuple([z.number(), z.number(), z.number()]);

const FileEntry = z
  .object({
    sha256: z.string().regex(/^[0-9a-f]{64}$/, "a lowercase hex sha256"),
    bytes: z.number().int().nonnegative(),
  })
  .strict();

export const BundleManifestSchema = z
  .object({
    formatVersion: z.literal(FORMAT_VERSION),
    family: z.enum(["tiny", "llava", "minigpt4"]),
    /** Where A lives: the input of the FFN output projection (default) or silu(gate(x)) alone. */
    activationSite: z.enum(["down_proj_input", "act_fn"]),
    image: z
      .object({
        size: count,
        mean: rgb,
        std: z.tuple([z.number().positive(), z.number().positive(), z.number().positive()]),
        resample: z.enum(["nearest", "bilinear", "bicubic"]),
        resize: z.enum(["squash", "shortest_edge_center_crop"]),
        patchSize: count,
        /** [rows, cols] of vision patches. */
        patchGrid: z.tuple([count, count]),
        /** Patches merged per token: one number for both sides (1 for LLaVA), or [rows, cols]
         *  (MiniGPT-4: [1, 4], four raster-consecutive patches of one row per token). */
        mergeFactor: z.union([count, z.tuple([count, count])]),
        /** [rows, cols] of image tokens after merging, row-major after any CLS tokens. */
        tokenGrid: z.tuple([count, count]),
        /** Leading image tokens that are not grid cells (CLS kept by `full` feature selection). */
        clsTokens: z.number().int().min(0).max(1),
      })
      .strict(),
    prompt: z
      .object({
        /** Prompt text with one `<image>` slot; the caption follows it. */
        template: z.string().regex(/^(?:(?!<image>)[\s\S])*<image>(?:(?!<image>)[\s\S])*$/, "must contain exactly one <image>"),
        /** Ids before the image (bos first when the model has one). */
        prefixIds: z.array(tokenId),
        /** Ids after the image; the caption is generated after them. */
        suffixIds: z.array(tokenId),
      })
      .strict(),
    /** P: image embeddings the vision graph returns and the prompt's image slot holds. */
    imageTokens: count,
    imageTokenId: tokenId,
    bosId: tokenId.nullable(),
    eosId: tokenId,
    layers: count,
    hidden: count,
    ffnDim: count,
    heads: count,
    kvHeads: count,
    headDim: count,
    vocab: count,
    maxPositions: count,
    files: z.record(z.string().min(1), FileEntry),
    exporter: z
      .object({
        tool: z.string(),
        opset: int,
        versions: z.record(z.string(), z.string()),
      })
      .strict(),
  })
  .strict();

export type BundleManifest = z.infer<typeof BundleManifestSchema>;

/** A bundle the runtime refuses: `item` names the file (or field), the message says why. */
export class BundleError extends ModelError {
  constructor(item: string, problem: string) {
    super("bad-bundle", item, problem);
  }
}

/** Cross-field checks JSON Schema cannot express; the first problem found, or null. */
export function dimensionProblem(m: BundleManifest): string | null {
  const im = m.image;
  const grid = im.size / im.patchSize;
  if (!Number.isInteger(grid) || im.patchGrid[0] !== grid || im.patchGrid[1] !== grid)
    return `image.patchGrid ${JSON.stringify(im.patchGrid)} does not match size ${im.size} / patchSize ${im.patchSize}`;
  const [mr, mc] = typeof im.mergeFactor === "number" ? [im.mergeFactor, im.mergeFactor] : im.mergeFactor;
  if (im.tokenGrid[0] * mr !== im.patchGrid[0] || im.tokenGrid[1] * mc !== im.patchGrid[1])
    return `image.tokenGrid ${JSON.stringify(im.tokenGrid)} × mergeFactor ${JSON.stringify(im.mergeFactor)} does not match patchGrid ${JSON.stringify(im.patchGrid)}`;
  const p = im.tokenGrid[0] * im.tokenGrid[1] + im.clsTokens;
  if (m.imageTokens !== p)
    return `imageTokens ${m.imageTokens} does not match tokenGrid ${JSON.stringify(im.tokenGrid)} + clsTokens ${im.clsTokens} = ${p}`;
  if (m.heads % m.kvHeads !== 0) return `heads ${m.heads} is not a multiple of kvHeads ${m.kvHeads}`;
  const ids: [string, number | null][] = [
    ["imageTokenId", m.imageTokenId],
    ["bosId", m.bosId],
    ["eosId", m.eosId],
    ...m.prompt.prefixIds.map((id, i): [string, number] => [`prompt.prefixIds[${i}]`, id]),
    ...m.prompt.suffixIds.map((id, i): [string, number] => [`prompt.suffixIds[${i}]`, id]),
  ];
  for (const [name, id] of ids) if (id !== null && id >= m.vocab) return `${name} ${id} is not < vocab ${m.vocab}`;
  const promptLen = m.prompt.prefixIds.length + m.imageTokens + m.prompt.suffixIds.length;
  if (promptLen >= m.maxPositions) return `prompt length ${promptLen} leaves no room below maxPositions ${m.maxPositions}`;
  return null;
}

/** Readout tensor shapes the manifest implies (docs/BUNDLE.md §3.5). */
export function readoutShapes(m: BundleManifest): Record<string, number[]> {
  const shapes: Record<string, number[]> = { w_u: [m.vocab, m.hidden] };
  for (let l = 0; l < m.layers; l++) shapes[`w_out.${l}`] = [m.hidden, m.ffnDim];
  return shapes;
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** The JSON header of a safetensors file, read without loading the tensors. */
async function safetensorsHeader(path: string): Promise<Record<string, { dtype: string; shape: number[] }>> {
  const fh = await open(path, "r");
  try {
    const len = Buffer.alloc(8);
    await fh.read(len, 0, 8, 0);
    const n = Number(len.readBigUInt64LE(0));
    const { size } = await fh.stat();
    if (n <= 0 || 8 + n > size) throw new Error(`header length ${n} outside a ${size}-byte file`);
    const buf = Buffer.alloc(n);
    await fh.read(buf, 0, n, 8);
    const header = JSON.parse(buf.toString("utf8")) as Record<string, { dtype: string; shape: number[] }>;
    delete header["__metadata__"];
    return header;
  } finally {
    await fh.close();
  }
}

export interface LoadOptions {
  /** Hash every file (default true). Sizes are always checked. */
  verifyHashes?: boolean;
}

/**
 * Read and verify `dir/bundle.json`: format version, schema, dimensions, every listed file
 * present with the recorded size and sha256, the required files listed, readout shapes.
 * Throws one BundleError naming the first problem.
 */
export async function loadBundleManifest(dir: string, opts: LoadOptions = {}): Promise<BundleManifest> {
  const manifestPath = join(dir, "bundle.json");
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(manifestPath, "utf8"));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new BundleError(manifestPath, err.code === "ENOENT" ? "missing (not a bundle directory?)" : `not valid JSON: ${err.message}`);
  }
  const version = (raw as { formatVersion?: unknown } | null)?.formatVersion;
  if (version !== FORMAT_VERSION)
    throw new BundleError(manifestPath, `format version ${JSON.stringify(version)} is not supported (this runtime reads ${FORMAT_VERSION})`);
  const parsed = BundleManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue.path.length ? issue.path.join(".") : "(root)";
    throw new BundleError(manifestPath, `invalid manifest at ${where}: ${issue.message}`);
  }
  const m = parsed.data;
  const dims = dimensionProblem(m);
  if (dims) throw new BundleError(manifestPath, `inconsistent dimensions: ${dims}`);
  for (const name of REQUIRED_FILES)
    if (!(name in m.files)) throw new BundleError(manifestPath, `files does not list required ${name}`);

  for (const [name, entry] of Object.entries(m.files)) {
    if (name.startsWith("/") || name.split(/[\\/]/).includes(".."))
      throw new BundleError(manifestPath, `file name ${name} leaves the bundle directory`);
    const path = join(dir, name);
    let bytes: number;
    try {
      bytes = (await stat(path)).size;
    } catch {
      throw new BundleError(path, "missing (listed in bundle.json)");
    }
    if (bytes !== entry.bytes) throw new BundleError(path, `size ${bytes} bytes, bundle.json says ${entry.bytes}`);
    if (opts.verifyHashes ?? true) {
      const sha = await sha256File(path);
      if (sha !== entry.sha256) throw new BundleError(path, `sha256 ${sha} does not match bundle.json (${entry.sha256})`);
    }
  }

  const readoutPath = join(dir, "readout.safetensors");
  let header: Record<string, { dtype: string; shape: number[] }>;
  try {
    header = await safetensorsHeader(readoutPath);
  } catch (e) {
    throw new BundleError(readoutPath, `unreadable safetensors header: ${(e as Error).message}`);
  }
  for (const [name, shape] of Object.entries(readoutShapes(m))) {
    const t = header[name];
    if (!t) throw new BundleError(readoutPath, `tensor ${name} missing`);
    if (t.dtype !== "F32") throw new BundleError(readoutPath, `tensor ${name} has dtype ${t.dtype}, expected F32`);
    if (JSON.stringify(t.shape) !== JSON.stringify(shape))
      throw new BundleError(readoutPath, `inconsistent dimensions: tensor ${name} has shape ${JSON.stringify(t.shape)}, bundle.json implies ${JSON.stringify(shape)}`);
  }
  return m;
}
