import {
  S3Client,
  PutObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  DeleteObjectCommand,
  paginateListObjectsV2,
} from "@aws-sdk/client-s3";
import type { ArtifactStore, S3StoreConfig } from "./types.js";
import { ArtifactNotFoundError } from "./errors.js";
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

  async put(key: string, body: Uint8Array | string): Promise<void> {
    const Body = typeof body === "string" ? new TextEncoder().encode(body) : body;
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key), Body, ContentLength: Body.byteLength }));
  }

  async get(key: string): Promise<Uint8Array> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      if (!r.Body) throw new Error(`S3 returned no body for ${key}`);
      return await r.Body.transformToByteArray();
    } catch (e) {
      if (isNotFound(e)) throw new ArtifactNotFoundError(key, this.describe());
      throw e;
    }
  }

  async has(key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  async list(prefix: string): Promise<string[]> {
    validatePrefix(prefix);
    const out: string[] = [];
    const pages = paginateListObjectsV2({ client: this.client }, { Bucket: this.bucket, Prefix: this.prefix + prefix });
    for await (const page of pages) {
      for (const o of page.Contents ?? []) {
        const key = o.Key?.slice(this.prefix.length);
        // Objects outside the key space (e.g. the dev server's ".kneuron/probe") are not artifacts.
        if (key && isValidKey(key)) out.push(key);
      }
    }
    return out.sort();
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
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
