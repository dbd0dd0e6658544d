import {
  S3Client,
  PutObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  DeleteObjectCommand,
  paginateListObjectsV2,
} from "@aws-sdk/client-s3";
import type { ArtifactStore, S3StoreConfig } from "./types.js";
import { ArtifactNotFoundError, StoreAccessError } from "./errors.js";
import { validateKey, validatePrefix } from "./keys.js";

/** Artifacts as objects in one S3 bucket under an optional key prefix. S3 PUTs are atomic. */
export class S3Store implements ArtifactStore {
  readonly client: S3Client;
  readonly bucket: string;
  readonly prefix: string;
  private readonly endpoint: string | undefined;

  constructor(cfg: Omit<S3StoreConfig, "kind">) {
    this.bucket = cfg.bucket;
    this.prefix = cfg.prefix ? (cfg.prefix.endsWith("/") ? cfg.prefix : cfg.prefix + "/") : "";
    if (this.prefix) validateKey(this.prefix.slice(0, -1));
    this.endpoint = cfg.endpoint;
    this.client = new S3Client({
      endpoint: cfg.endpoint,
      region: cfg.region,
      forcePathStyle: cfg.forcePathStyle,
      // An endpoint that accepts connections but never answers must fail, not hang: bounded
      // connect and idle timeouts, bounded attempts (the SDK backs off between them).
      maxAttempts: cfg.maxAttempts ?? 3,
      requestHandler: { connectionTimeout: cfg.connectTimeoutMs ?? 5000, socketTimeout: cfg.timeoutMs ?? 30_000 },
      credentials:
        cfg.accessKeyId && cfg.secretAccessKey
          ? { accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey }
          : undefined,
    });
  }

  describe(): string {
    return `s3://${this.bucket}/${this.prefix}${this.endpoint ? ` (${this.endpoint})` : ""}`;
  }

  private objectKey(key: string): string {
    return this.prefix + validateKey(key);
  }

  /** Runs one SDK call; any failure but "not found" becomes a StoreAccessError naming the endpoint. */
  private async call<T>(op: string, key: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (isNotFound(e) || e instanceof ArtifactNotFoundError) throw e;
      throw new StoreAccessError(this.describe(), op, key, e);
    }
  }

  async put(key: string, body: Uint8Array | string): Promise<void> {
    const Body = typeof body === "string" ? new TextEncoder().encode(body) : body;
    const Key = this.objectKey(key);
    await this.call("put", key, () => this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key, Body, ContentLength: Body.byteLength })));
  }

  async get(key: string): Promise<Uint8Array> {
    const Key = this.objectKey(key);
    try {
      return await this.call("get", key, async () => {
        const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key }));
        if (!r.Body) throw new Error(`S3 returned no body for ${key}`);
        return await r.Body.transformToByteArray();
      });
    } catch (e) {
      if (isNotFound(e)) throw new ArtifactNotFoundError(key, this.describe());
      throw e;
    }
  }

  async has(key: string): Promise<boolean> {
    const Key = this.objectKey(key);
    try {
      await this.call("head", key, () => this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key })));
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  async list(prefix: string): Promise<string[]> {
    validatePrefix(prefix);
    const out: string[] = [];
    await this.call("list", prefix, async () => {
      const pages = paginateListObjectsV2({ client: this.client }, { Bucket: this.bucket, Prefix: this.prefix + prefix });
      for await (const page of pages) {
        for (const o of page.Contents ?? []) {
          const key = o.Key?.slice(this.prefix.length);
          // Objects outside the key space (e.g. the dev server's ".kneuron/probe") are not artifacts.
          if (key && isValidKey(key)) out.push(key);
        }
      }
    });
    return out.sort();
  }

  async delete(key: string): Promise<void> {
    const Key = this.objectKey(key);
    await this.call("delete", key, () => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key })));
  }
}

function isValidKey(key: string): boolean {
  try {
    validateKey(key);
    return true;
  } catch {
    return false;
  }
}

function isNotFound(e: unknown): boolean {
  const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
  if (err?.name === "NoSuchBucket") return false; // a misconfiguration, not a missing artifact
  return err?.name === "NoSuchKey" || err?.name === "NotFound" || err?.$metadata?.httpStatusCode === 404;
}
