/**
 * Typed errors of the artifact store; each names the key (and file) it is about. Only an invalid
 * key is bad input: a missing or corrupt artifact may be a store outage or a half-written step,
 * so it is retried.
 */
import { BadInputError } from "../errors.js";

/** A key or name that could escape the store or is not portable across backends. */
export class InvalidKeyError extends BadInputError {
  override name = "InvalidKeyError";
  constructor(readonly key: string, readonly reason: string) {
    super(`invalid artifact key ${JSON.stringify(key)}: ${reason}`);
  }
}

export class ArtifactNotFoundError extends Error {
  override name = "ArtifactNotFoundError";
  constructor(readonly key: string, readonly store: string) {
    super(`artifact ${JSON.stringify(key)} not found in ${store}`);
  }
}

/** Stored bytes that do not match their manifest (or a manifest that does not parse). */
export class CorruptArtifactError extends Error {
  override name = "CorruptArtifactError";
  constructor(readonly key: string, readonly file: string, readonly reason: string) {
    super(`corrupt artifact ${key}/${file}: ${reason}`);
  }
}

/**
 * The store's backend failed or did not answer in time (after its bounded retries); names the
 * store and its endpoint. Not bad input: a sweep retries it, the direct runner stops on it.
 */
export class StoreAccessError extends Error {
  override name = "StoreAccessError";
  constructor(readonly store: string, readonly op: string, readonly key: string, cause: unknown) {
    super(`store ${store}: ${op} ${JSON.stringify(key)} failed: ${describeCause(cause)}`, { cause });
  }
}

/** The SDK's message plus the network code when it has one (ECONNREFUSED, ENOTFOUND, ...). */
function describeCause(e: unknown): string {
  const err = e as { name?: string; message?: string; code?: string };
  const msg = err?.message || err?.name || String(e);
  return err?.code && !msg.includes(err.code) ? `${msg} (${err.code})` : msg;
}

export class SafetensorsError extends Error {
  override name = "SafetensorsError";
}
