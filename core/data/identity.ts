/**
 * A dataset's identity, independent of where it lies: the sha256 of its annotation files' content
 * and of its images' content under their names relative to the dataset root. The same data in two
 * directories (or on two hosts) has one identity, so every step key derived from it is the same;
 * an edited image or annotation gives another identity.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { isAbsolute, join, relative, sep } from "node:path";
import { imageInside } from "./coco.js";
import { DataError } from "./errors.js";

const sha256 = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex");

/** `file` under `root` as a POSIX relative name; DataError when it is not under `root`. */
export function relativeName(root: string, file: string): string {
  const rel = relative(root, file);
  if (!rel || rel.startsWith("..") || isAbsolute(rel)) throw new DataError(file, `not inside the dataset directory ${root}`);
  return rel.split(sep).join("/");
}

export interface DatasetIdentity {
  sha256: string;
  images: number;
}

/**
 * Identity of the splits `{ instances, imageDir }` under `root` (COCO layout: the images an
 * instances file lists, in `imageDir`). A missing or unreadable image enters as "missing": the plan
 * reports it against its own items, and the identity still changes if the file appears.
 */
export async function datasetIdentity(root: string, splits: { instances: string; imageDir: string }[]): Promise<DatasetIdentity> {
  const annotations: [string, string][] = [];
  const images: [string, string][] = [];
  for (const s of splits) {
    const bytes = await readFile(s.instances);
    annotations.push([relativeName(root, s.instances), sha256(bytes)]);
    let coco: { images?: { file_name?: unknown }[] };
    try {
      coco = JSON.parse(bytes.toString("utf8"));
    } catch (e) {
      throw new DataError(s.instances, `not valid JSON (${(e as Error).message})`);
    }
    if (!Array.isArray(coco.images)) throw new DataError(s.instances, "no `images` list");
    const names = coco.images.map((i) => String(i.file_name));
    // 16 reads at a time: bounded memory on a 5,000-image split.
    for (let k = 0; k < names.length; k += 16) {
      const part = names.slice(k, k + 16);
      // A name that resolves outside the dataset (`..`, a symlink out) is never read: it enters by
      // name, and the plan fails that image's items.
      const hashes = await Promise.all(part.map((n) => imageInside(root, join(s.imageDir, n)).then(
        (real) => readFile(real).then(sha256, () => "missing"),
        (e) => (e instanceof DataError ? "outside" : "missing"))));
      part.forEach((n, j) => images.push([`${relativeName(root, s.imageDir)}/${n}`, hashes[j]]));
    }
  }
  images.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return { sha256: sha256(JSON.stringify({ annotations, images })), images: images.length };
}
