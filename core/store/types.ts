/** Where artifacts live. Keys are validated "/"-separated paths (see validateKey). */
export interface ArtifactStore {
  /** Human-readable location, safe to print (no credentials). */
  describe(): string;
  /** Writes atomically: a reader sees the old object, the new one, or nothing, never a torn write. */
  put(key: string, body: Uint8Array | string): Promise<void>;
  /** Throws ArtifactNotFoundError when absent. */
  get(key: string): Promise<Uint8Array>;
  has(key: string): Promise<boolean>;
  /** Every valid key starting with `prefix` (plain string prefix, as S3), sorted; objects whose names are not valid keys (temp files, probes) are skipped. */
  list(prefix: string): Promise<string[]>;
  /** Deleting an absent key is not an error. */
  delete(key: string): Promise<void>;
}

export type LocalStoreConfig = { kind: "local"; dir: string };
export type S3StoreConfig = {
  kind: "s3";
  endpoint?: string;
  bucket: string;
  region: string;
  /** Key prefix inside the bucket, e.g. "kneuron/" ("" for none). */
  prefix: string;
  forcePathStyle: boolean;
  /** Absent: the AWS SDK's default credential chain (AWS_* env, profiles, instance roles). */
  accessKeyId?: string;
  secretAccessKey?: string;
  /** Connecting may take this long (default 5000 ms). */
  connectTimeoutMs?: number;
  /** A request may sit this long with no bytes moving before it is abandoned (default 30000 ms). */
  timeoutMs?: number;
  /** Attempts per call, the first included (default 3); then StoreAccessError naming the endpoint. */
  maxAttempts?: number;
};
export type StoreConfig = LocalStoreConfig | S3StoreConfig;
