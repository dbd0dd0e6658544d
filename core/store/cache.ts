/**
 * Directory trees through the store, for workers on other hosts: `pushTree` uploads files once,
 * content-addressed (`blobs/<sha256>`, skipped when present), and records the tree (relative
 * name → sha256, size) as a step; `fetchTree` rebuilds it in a worker's local cache, every file
 * verified against its hash, and reuses a complete copy. A worker then needs only the store.
 */
import { createHash } from "node:crypto";
import { mkdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { CorruptArtifactError, InvalidKeyError } from "./errors.js";
import { validateKey } from "./keys.js";
import { readStep, writeStep } from "./step.js";
import type { ArtifactStore } from "./types.js";

export type Tree = Record<string, { sha256: string; bytes: number }>;

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const blobKey = (hash: string) => `blobs/${hash}`;
/** Files moved at a time: bounded memory and sockets. */
const PARALLEL = 8;

async function inBatches<T>(items: T[], each: (x: T) => Promise<void>): Promise<void> {
  for (let k = 0; k < items.length; k += PARALLEL) await Promise.all(items.slice(k, k + PARALLEL).map(each));
}

/** Uploads `names` (relative, "/"-separated) under `root` and records the tree at `key`. */
export async function pushTree(store: ArtifactStore, key: string, root: string, names: string[]): Promise<{ tree: Tree; uploaded: number }> {
  validateKey(key);
  names.forEach(checkName);
  const tree: Tree = {};
  let uploaded = 0;
  await inBatches([...new Set(names)].sort(), async (name) => {
    const bytes = await readFile(join(root, ...name.split("/")));
    const hash = sha256(bytes);
    tree[name] = { sha256: hash, bytes: bytes.byteLength };
    if (await store.has(blobKey(hash))) return;
    await store.put(blobKey(hash), bytes);
    uploaded++;
  });
  await writeStep(store, key, { "tree.json": JSON.stringify(sortTree(tree)) }, { step: "tree" });
  return { tree, uploaded };
}

/** A relative "/"-separated name that stays inside its root. */
function checkName(name: string): string {
  if (name.startsWith("/") || name.split("/").some((s) => s === "" || s === "." || s === "..")) throw new InvalidKeyError(name, "a tree file name is relative and stays inside its root");
  return name;
}

const sortTree = (t: Tree): Tree => Object.fromEntries(Object.keys(t).sort().map((k) => [k, t[k]]));

export async function hasTree(store: ArtifactStore, key: string): Promise<boolean> {
  return store.has(`${key}/manifest.json`);
}

/** The tree recorded at `key` (relative name → sha256, size), or undefined when the store has none. */
export async function readTree(store: ArtifactStore, key: string): Promise<Tree | undefined> {
  if (!(await hasTree(store, key))) return undefined;
  return (await readStep(store, key)).readJson<Tree>("tree.json");
}

/** One file of a tree, verified against its hash; undefined when the tree does not list it. */
export async function readTreeFile(store: ArtifactStore, tree: Tree, name: string): Promise<Uint8Array | undefined> {
  const want = tree[checkName(name)];
  return want ? verifiedBlob(store, want.sha256, name) : undefined;
}

/** The blob of a tree file, refused (naming the file) when its content does not match its hash. */
async function verifiedBlob(store: ArtifactStore, hash: string, name: string): Promise<Uint8Array> {
  const bytes = await store.get(blobKey(hash));
  if (sha256(bytes) !== hash) throw new CorruptArtifactError(blobKey(hash), name, "content does not match its sha256");
  return bytes;
}

/**
 * The tree at `key` as a local directory under `cacheDir` (`<cacheDir>/<key>`), fetched and verified
 * on first use; a file already there with the right hash is kept. Concurrent fetches of one tree
 * are safe (each file is written to a temp name, then renamed).
 */
export async function fetchTree(store: ArtifactStore, key: string, cacheDir: string): Promise<string> {
  const root = join(cacheDir, ...validateKey(key).split("/"));
  const done = join(root, ".complete");
  if (await stat(done).then(() => true, () => false)) return root;
  const tree = await (await readStep(store, key)).readJson<Tree>("tree.json");
  await inBatches(Object.entries(tree), async ([name, want]) => {
    const file = join(root, ...checkName(name).split("/"));
    const have = await readFile(file).catch(() => undefined);
    if (have && sha256(have) === want.sha256) return;
    const bytes = await verifiedBlob(store, want.sha256, name);
    await mkdir(dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.part`;
    await writeFile(tmp, bytes);
    await rename(tmp, file);
  });
  await writeFile(done, `${key}\n`);
  return root;
}
