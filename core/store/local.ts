import { mkdir, readFile, readdir, rename, rm, stat, open } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import path from "node:path";
import type { ArtifactStore } from "./types.js";
import { ArtifactNotFoundError, InvalidKeyError } from "./errors.js";
import { validateKey, validatePrefix } from "./keys.js";

/** Artifacts as files under one directory; writes go to a hidden temp file, fsync, then rename. */
export class LocalStore implements ArtifactStore {
  readonly root: string;
  constructor(dir: string) {
    this.root = path.resolve(dir);
  }

  describe(): string {
    return `local:${this.root}`;
  }

  private pathOf(key: string): string {
    validateKey(key);
    const p = path.resolve(this.root, ...key.split("/"));
    // Belt and braces: validateKey already forbids every way out of the root.
    if (!p.startsWith(this.root + path.sep)) throw new InvalidKeyError(key, "resolves outside the store");
    return p;
  }

  async put(key: string, body: Uint8Array | string): Promise<void> {
    const p = this.pathOf(key);
    await mkdir(path.dirname(p), { recursive: true });
    // Temp names start with "." so they are never valid keys and never listed.
    const tmp = path.join(path.dirname(p), `.${path.basename(p)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
    try {
      const fh = await open(tmp, "w");
      try {
        await fh.writeFile(body);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, p);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  }

  async get(key: string): Promise<Uint8Array> {
    try {
      return new Uint8Array(await readFile(this.pathOf(key)));
    } catch (e) {
      if (isNotFound(e)) throw new ArtifactNotFoundError(key, this.describe());
      throw e;
    }
  }

  async has(key: string): Promise<boolean> {
    try {
      return (await stat(this.pathOf(key))).isFile();
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  async list(prefix: string): Promise<string[]> {
    validatePrefix(prefix);
    // Walk only the directory the prefix points into.
    const slash = prefix.lastIndexOf("/");
    const dirKey = slash < 0 ? "" : prefix.slice(0, slash);
    const out: string[] = [];
    const walk = async (dirKey: string): Promise<void> => {
      const dir = dirKey ? path.join(this.root, ...dirKey.split("/")) : this.root;
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (e) {
        if (isNotFound(e) || (e as NodeJS.ErrnoException).code === "ENOTDIR") return;
        throw e;
      }
      for (const ent of entries) {
        if (ent.name.startsWith(".")) continue; // temp files
        const key = dirKey ? `${dirKey}/${ent.name}` : ent.name;
        if (ent.isDirectory()) {
          if (key.startsWith(prefix) || prefix.startsWith(key + "/")) await walk(key);
        } else if (ent.isFile() && key.startsWith(prefix)) {
          out.push(key);
        }
      }
    };
    await walk(dirKey);
    return out.sort();
  }

  async delete(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }
}

function isNotFound(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException)?.code;
  return code === "ENOENT";
}

