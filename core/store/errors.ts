/** Typed errors of the artifact store; each names the key (and file) it is about. */

/** A key or name that could escape the store or is not portable across backends. */
export class InvalidKeyError extends Error {
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

export class SafetensorsError extends Error {
  override name = "SafetensorsError";
}
