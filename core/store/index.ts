import type { ArtifactStore, StoreConfig } from "./types.js";
import { LocalStore } from "./local.js";
import { S3Store } from "./s3.js";

export * from "./types.js";
export * from "./errors.js";
export * from "./keys.js";
export * from "./step.js";
export * from "./safetensors.js";
export { preflightStore } from "./preflight.js";
export { LocalStore } from "./local.js";
export { S3Store } from "./s3.js";

export function createStore(cfg: StoreConfig): ArtifactStore {
  switch (cfg.kind) {
    case "local":
      return new LocalStore(cfg.dir);
    case "s3":
      return new S3Store(cfg);
  }
}
