import { z } from "zod";
import type { ArtifactStore } from "./types.js";
import { ArtifactNotFoundError, CorruptArtifactError, InvalidKeyError } from "./errors.js";
import { canonicalJson, sha256Hex, validateKey } from "./keys.js";

/**
 * A step is a directory of payload files plus `manifest.json`, written last. The step is done iff
 * the manifest exists and every file matches its sha256 and size; anything less is redone.
 */
export const MANIFEST = "manifest.json";

export const StepManifestSchema = z.object({
  version: z.literal(1),
  key: z.string(),
  createdAt: z.string(),
  files: z.record(z.string(), z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/), bytes: z.number().int().nonnegative() })),
  meta: z.record(z.string(), z.unknown()).default({}),
});
export type StepManifest = z.infer<typeof StepManifestSchema>;

export interface StepReader {
  manifest: StepManifest;
  /** The named file's bytes, verified against the manifest (CorruptArtifactError otherwise). */
  read(name: string): Promise<Uint8Array>;
  readText(name: string): Promise<string>;
  readJson<T = unknown>(name: string): Promise<T>;
}

function checkFileName(key: string, name: string): void {
  if (name.includes("/")) throw new InvalidKeyError(`${key}/${name}`, "a step file name is one segment");
  validateKey(name);
  if (name === MANIFEST) throw new InvalidKeyError(`${key}/${name}`, `${MANIFEST} is reserved for the step manifest`);
}

export async function writeStep(
  store: ArtifactStore,
  key: string,
  files: Record<string, Uint8Array | string>,
  meta: Record<string, unknown> = {},
): Promise<StepManifest> {
  validateKey(key);
  const names = Object.keys(files).sort();
  for (const n of names) checkFileName(key, n);
  // Several writers may commit one step at once (concurrent runs of one spec, a retried activity
  // whose first attempt still runs), and a reader may be verifying it meanwhile. So nothing is
  // deleted first: every put replaces its object atomically, and a redo with other content that
  // dies half way leaves payloads that fail the old manifest's sha256, i.e. an incomplete step.
  const entries: StepManifest["files"] = {};
  for (const n of names) {
    const body = files[n];
    const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
    await store.put(`${key}/${n}`, bytes);
    entries[n] = { sha256: sha256Hex(bytes), bytes: bytes.byteLength };
  }
  // Same content already committed: keep that manifest (the first writer's createdAt).
  const existing = await readManifest(store, key).catch((e) => {
    if (e instanceof ArtifactNotFoundError || e instanceof CorruptArtifactError) return undefined;
    throw e;
  });
  if (existing && canonicalJson(existing.files) === canonicalJson(entries) && JSON.stringify(existing.meta) === JSON.stringify(meta)) return existing;
  const manifest: StepManifest = { version: 1, key, createdAt: new Date().toISOString(), files: entries, meta };
  await store.put(`${key}/${MANIFEST}`, JSON.stringify(manifest, null, 2) + "\n");
  return manifest;
}

async function readManifest(store: ArtifactStore, key: string): Promise<StepManifest> {
  validateKey(key);
  const raw = await store.get(`${key}/${MANIFEST}`);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(raw));
  } catch (e) {
    throw new CorruptArtifactError(key, MANIFEST, `not JSON (${(e as Error).message})`);
  }
  const parsed = StepManifestSchema.safeParse(json);
  if (!parsed.success) throw new CorruptArtifactError(key, MANIFEST, z.prettifyError(parsed.error).replace(/\n/g, "; "));
  if (parsed.data.key !== key) throw new CorruptArtifactError(key, MANIFEST, `manifest is for ${parsed.data.key}`);
  return parsed.data;
}

/** Opens a finished step; ArtifactNotFoundError if it has no manifest (never finished). */
export async function readStep(store: ArtifactStore, key: string): Promise<StepReader> {
  const manifest = await readManifest(store, key);
  const read = async (name: string): Promise<Uint8Array> => {
    const entry = manifest.files[name];
    if (!entry) throw new ArtifactNotFoundError(`${key}/${name}`, `${store.describe()} (not in the step's manifest)`);
    let bytes: Uint8Array;
    try {
      bytes = await store.get(`${key}/${name}`);
    } catch (e) {
      if (e instanceof ArtifactNotFoundError) throw new CorruptArtifactError(key, name, "listed in the manifest but missing");
      throw e;
    }
    if (bytes.byteLength !== entry.bytes) throw new CorruptArtifactError(key, name, `size ${bytes.byteLength} bytes, manifest says ${entry.bytes}`);
    const sha = sha256Hex(bytes);
    if (sha !== entry.sha256) throw new CorruptArtifactError(key, name, `sha256 ${sha.slice(0, 12)}… does not match the manifest's ${entry.sha256.slice(0, 12)}…`);
    return bytes;
  };
  const readText = async (name: string) => new TextDecoder().decode(await read(name));
  const readJson = async <T>(name: string): Promise<T> => {
    const text = await readText(name);
    try {
      return JSON.parse(text) as T;
    } catch (e) {
      throw new CorruptArtifactError(key, name, `not JSON (${(e as Error).message})`);
    }
  };
  return { manifest, read, readText, readJson };
}

/**
 * True iff the step's manifest exists and every file verifies. Missing or corrupt → false
 * (the step is redone); any other failure (store unreachable) propagates so it is retried.
 */
export async function isComplete(store: ArtifactStore, key: string): Promise<boolean> {
  try {
    const step = await readStep(store, key);
    for (const name of Object.keys(step.manifest.files)) await step.read(name);
    return true;
  } catch (e) {
    if (e instanceof ArtifactNotFoundError || e instanceof CorruptArtifactError) return false;
    throw e;
  }
}
