import { randomBytes } from "node:crypto";
import type { ArtifactStore, StoreConfig } from "./types.js";
import { LocalStore } from "./local.js";
import { S3Store } from "./s3.js";

/** A store for the start-up check: one attempt and short timeouts, so a dead endpoint fails in seconds. */
function probeStore(cfg: StoreConfig, timeoutMs: number): ArtifactStore {
  if (cfg.kind === "local") return new LocalStore(cfg.dir);
  return new S3Store({ ...cfg, maxAttempts: 1, connectTimeoutMs: Math.min(cfg.connectTimeoutMs ?? 5000, timeoutMs), timeoutMs: Math.min(cfg.timeoutMs ?? 30_000, timeoutMs) });
}

/**
 * Writes, reads back and deletes one small object, so a run learns before it starts that the store
 * answers and accepts writes. Throws StoreAccessError (or the file system's error) naming the store.
 */
export async function preflightStore(cfg: StoreConfig, timeoutMs = 10_000): Promise<void> {
  const store = probeStore(cfg, timeoutMs);
  // Top level, so a local store keeps no empty folder after the delete.
  const key = `preflight-${process.pid}-${randomBytes(4).toString("hex")}`;
  let written = false;
  try {
    await store.put(key, "ok");
    written = true;
    const back = new TextDecoder().decode(await store.get(key));
    if (back !== "ok") throw new Error(`store ${store.describe()}: a probe object read back as ${JSON.stringify(back.slice(0, 20))}`);
  } catch (e) {
    if ((e as Error).name === "StoreAccessError") throw e;
    throw new Error(`store ${store.describe()} is not usable: ${(e as Error).message}`, { cause: e });
  } finally {
    if (written) await store.delete(key).catch(() => undefined);
  }
}
