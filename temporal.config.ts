/**
 * kneuron's connection, worker, dev-service and artifact-store settings.
 *
 * Precedence: the defaults below < environment variables (KNEURON_*, table in ENV_VARS and
 * docs/OPERATIONS.md) < `overrides` passed to loadConfig (e.g. CLI flags).
 * Relative paths resolve against the project root (this file's directory).
 * Secrets (API key, S3 secret key) are never printed: print `redactConfig(cfg)`.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";

export const PROJECT_ROOT = path.dirname(fileURLToPath(import.meta.url));

/** The defaults ("file values"). Edit here, or override per run with environment variables. */
export const defaults = {
  temporal: {
    address: "127.0.0.1:7233",
    namespace: "default",
    /** mTLS or server-auth TLS for a real cluster: paths to PEM files. */
    tls: undefined as undefined | { certPath?: string; keyPath?: string; caPath?: string; serverName?: string },
    /** Temporal Cloud API key (implies TLS). */
    apiKey: undefined as undefined | string,
  },
  taskQueues: { gpu: "kneuron-gpu", cpu: "kneuron-cpu" },
  worker: {
    /** One model session per device: keep 1 unless the device has room for more. */
    gpuConcurrency: 1,
    cpuConcurrency: 2,
    /** onnxruntime execution provider for the model worker. */
    executionProvider: "cpu" as "cpu" | "cuda",
  },
  dev: {
    stateDir: ".state/dev",
    /** dbFile defaults to <stateDir>/temporal.sqlite. */
    temporal: { port: 7233, uiPort: 8233, httpPort: 7243, metricsPort: 7253, dbFile: undefined as undefined | string },
    s3: {
      port: 8333,
      /** Defaults to <stateDir>/seaweedfs. */
      dataDir: undefined as undefined | string,
      bucket: "kneuron",
      // Loopback-only development credentials; set KNEURON_DEV_S3_* to change them.
      accessKey: "kneuron-dev",
      secretKey: "kneuron-dev-secret",
    },
  },
  store: { kind: "local", dir: ".state/store" } as StoreInput,
};

type StoreInput =
  | { kind: "local"; dir?: string }
  | {
      kind: "s3";
      endpoint?: string;
      bucket?: string;
      region?: string;
      prefix?: string;
      forcePathStyle?: boolean;
      accessKeyId?: string;
      secretAccessKey?: string;
      connectTimeoutMs?: number;
      timeoutMs?: number;
      maxAttempts?: number;
    };

const port = z.number().int().min(1).max(65535);
const nonEmpty = z.string().min(1);

const StoreSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("local"), dir: nonEmpty.default(".state/store") }).strict(),
  z
    .object({
      kind: z.literal("s3"),
      /** Absent: the dev SeaweedFS (http://127.0.0.1:<dev.s3.port>). */
      endpoint: z.url().optional(),
      bucket: nonEmpty.regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "not a valid S3 bucket name").optional(),
      region: nonEmpty.default("us-east-1"),
      prefix: z.string().regex(/^([A-Za-z0-9_=+@,-][A-Za-z0-9._=+@,-]*\/)*$/, 'a key prefix like "runs/" or ""').default(""),
      forcePathStyle: z.boolean().default(true),
      accessKeyId: nonEmpty.optional(),
      secretAccessKey: nonEmpty.optional(),
      /** Every S3 call: connect timeout, idle timeout (no bytes moving), attempts; then an error naming the endpoint. */
      connectTimeoutMs: z.number().int().min(100).max(600_000).default(5000),
      timeoutMs: z.number().int().min(100).max(3_600_000).default(30_000),
      maxAttempts: z.number().int().min(1).max(20).default(3),
    })
    .strict(),
]);

export const ConfigSchema = z
  .object({
    temporal: z
      .object({
        address: nonEmpty.regex(/^[^\s:/]+:\d{1,5}$/, "expected host:port"),
        namespace: nonEmpty,
        tls: z
          .object({ certPath: nonEmpty.optional(), keyPath: nonEmpty.optional(), caPath: nonEmpty.optional(), serverName: nonEmpty.optional() })
          .strict()
          .refine((t) => !t.certPath === !t.keyPath, "certPath and keyPath go together (client mTLS)")
          .optional(),
        apiKey: nonEmpty.optional(),
      })
      .strict(),
    taskQueues: z.object({ gpu: nonEmpty, cpu: nonEmpty }).strict(),
    worker: z
      .object({
        gpuConcurrency: z.number().int().min(1).max(64),
        cpuConcurrency: z.number().int().min(1).max(256),
        executionProvider: z.enum(["cpu", "cuda"]),
      })
      .strict(),
    dev: z
      .object({
        stateDir: nonEmpty,
        temporal: z.object({ port, uiPort: port, httpPort: port, metricsPort: port, dbFile: nonEmpty.optional() }).strict(),
        s3: z
          .object({
            port,
            dataDir: nonEmpty.optional(),
            bucket: nonEmpty.regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "not a valid S3 bucket name"),
            accessKey: nonEmpty,
            secretKey: z.string().min(8, "at least 8 characters"),
          })
          .strict(),
      })
      .strict(),
    store: StoreSchema,
  })
  .strict();

type Parsed = z.infer<typeof ConfigSchema>;
/** The resolved configuration: absolute paths, dev files placed, the S3 store's bucket known. */
export type Config = Omit<Parsed, "dev" | "store"> & {
  dev: Parsed["dev"] & { temporal: { dbFile: string }; s3: { dataDir: string } };
  store: Parsed["store"] & ({ kind: "local" } | { kind: "s3"; bucket: string });
};
export type ResolvedStoreConfig = Config["store"];

type DeepPartial<T> = T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;
export type ConfigOverrides = DeepPartial<typeof defaults>;

/** Every bad field of a configuration, one per line, naming where the value came from. */
export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(readonly issues: string[]) {
    super(`invalid kneuron configuration (${issues.length} problem${issues.length === 1 ? "" : "s"}):\n  - ${issues.join("\n  - ")}`);
  }
}

type EnvKind = "string" | "int" | "bool";
/** Environment variable → config path. Documented in docs/OPERATIONS.md. */
export const ENV_VARS: Record<string, { path: string; kind: EnvKind; secret?: boolean }> = {
  KNEURON_TEMPORAL_ADDRESS: { path: "temporal.address", kind: "string" },
  KNEURON_TEMPORAL_NAMESPACE: { path: "temporal.namespace", kind: "string" },
  KNEURON_TEMPORAL_API_KEY: { path: "temporal.apiKey", kind: "string", secret: true },
  KNEURON_TEMPORAL_TLS_CERT: { path: "temporal.tls.certPath", kind: "string" },
  KNEURON_TEMPORAL_TLS_KEY: { path: "temporal.tls.keyPath", kind: "string" },
  KNEURON_TEMPORAL_TLS_CA: { path: "temporal.tls.caPath", kind: "string" },
  KNEURON_TEMPORAL_TLS_SERVER_NAME: { path: "temporal.tls.serverName", kind: "string" },
  KNEURON_TASK_QUEUE_GPU: { path: "taskQueues.gpu", kind: "string" },
  KNEURON_TASK_QUEUE_CPU: { path: "taskQueues.cpu", kind: "string" },
  KNEURON_WORKER_GPU_CONCURRENCY: { path: "worker.gpuConcurrency", kind: "int" },
  KNEURON_WORKER_CPU_CONCURRENCY: { path: "worker.cpuConcurrency", kind: "int" },
  KNEURON_EXECUTION_PROVIDER: { path: "worker.executionProvider", kind: "string" },
  KNEURON_DEV_STATE_DIR: { path: "dev.stateDir", kind: "string" },
  KNEURON_DEV_TEMPORAL_PORT: { path: "dev.temporal.port", kind: "int" },
  KNEURON_DEV_TEMPORAL_UI_PORT: { path: "dev.temporal.uiPort", kind: "int" },
  KNEURON_DEV_TEMPORAL_HTTP_PORT: { path: "dev.temporal.httpPort", kind: "int" },
  KNEURON_DEV_TEMPORAL_METRICS_PORT: { path: "dev.temporal.metricsPort", kind: "int" },
  KNEURON_DEV_TEMPORAL_DB: { path: "dev.temporal.dbFile", kind: "string" },
  KNEURON_DEV_S3_PORT: { path: "dev.s3.port", kind: "int" },
  KNEURON_DEV_S3_DATA_DIR: { path: "dev.s3.dataDir", kind: "string" },
  KNEURON_DEV_S3_BUCKET: { path: "dev.s3.bucket", kind: "string" },
  KNEURON_DEV_S3_ACCESS_KEY: { path: "dev.s3.accessKey", kind: "string", secret: true },
  KNEURON_DEV_S3_SECRET_KEY: { path: "dev.s3.secretKey", kind: "string", secret: true },
  KNEURON_STORE: { path: "store.kind", kind: "string" },
  KNEURON_STORE_DIR: { path: "store.dir", kind: "string" },
  KNEURON_S3_ENDPOINT: { path: "store.endpoint", kind: "string" },
  KNEURON_S3_BUCKET: { path: "store.bucket", kind: "string" },
  KNEURON_S3_REGION: { path: "store.region", kind: "string" },
  KNEURON_S3_PREFIX: { path: "store.prefix", kind: "string" },
  KNEURON_S3_FORCE_PATH_STYLE: { path: "store.forcePathStyle", kind: "bool" },
  KNEURON_S3_ACCESS_KEY_ID: { path: "store.accessKeyId", kind: "string", secret: true },
  KNEURON_S3_SECRET_ACCESS_KEY: { path: "store.secretAccessKey", kind: "string", secret: true },
  KNEURON_S3_CONNECT_TIMEOUT_MS: { path: "store.connectTimeoutMs", kind: "int" },
  KNEURON_S3_TIMEOUT_MS: { path: "store.timeoutMs", kind: "int" },
  KNEURON_S3_MAX_ATTEMPTS: { path: "store.maxAttempts", kind: "int" },
};

/** Config paths whose values are secrets: redacted for printing, never echoed in errors. */
export const SECRET_PATHS = new Set(["temporal.apiKey", "dev.s3.accessKey", "dev.s3.secretKey", "store.accessKeyId", "store.secretAccessKey"]);

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function merge(base: unknown, over: unknown): unknown {
  if (over === undefined) return base;
  if (!isPlainObject(base) || !isPlainObject(over)) return over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = merge(base[k], v);
  return out;
}

function setPath(obj: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split(".");
  let o = obj;
  for (const p of parts.slice(0, -1)) {
    if (!isPlainObject(o[p])) o[p] = {};
    o = o[p] as Record<string, unknown>;
  }
  o[parts[parts.length - 1]] = value;
}

export function loadConfig(overrides: ConfigOverrides = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const issues: string[] = [];
  const fromEnv: Record<string, unknown> = {};
  const envOf = new Map<string, string>();
  for (const [name, spec] of Object.entries(ENV_VARS)) {
    const raw = env[name];
    if (raw === undefined || raw === "") continue;
    envOf.set(spec.path, name);
    let value: unknown = raw;
    if (spec.kind === "int") {
      if (!/^\d+$/.test(raw.trim())) {
        issues.push(`${name} (${spec.path}): expected an integer, got ${JSON.stringify(raw)}`);
        continue;
      }
      value = Number(raw.trim());
    } else if (spec.kind === "bool") {
      const v = raw.trim().toLowerCase();
      if (!["1", "0", "true", "false", "yes", "no"].includes(v)) {
        issues.push(`${name} (${spec.path}): expected true/false, got ${JSON.stringify(raw)}`);
        continue;
      }
      value = ["1", "true", "yes"].includes(v);
    }
    setPath(fromEnv, spec.path, value);
  }

  // The store is a union: fields of the kind not in effect are dropped, not merged.
  const kind =
    (overrides.store as { kind?: string } | undefined)?.kind ?? (fromEnv.store as { kind?: string } | undefined)?.kind ?? defaults.store.kind;
  const keep = (store: unknown) =>
    isPlainObject(store) ? Object.fromEntries(Object.entries(store).filter(([k]) => k !== "kind" && (kind === "local") === (k === "dir"))) : undefined;
  const base = { ...defaults, store: { kind, ...(kind === defaults.store.kind ? keep(defaults.store) : {}) } };
  const merged = merge(merge(base, { ...fromEnv, store: keep(fromEnv.store) }), { ...overrides, store: keep(overrides.store) });

  const parsed = ConfigSchema.safeParse(merged);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const p = issue.path.join(".");
      const src = envOf.get(p);
      // Never echo a value: zod messages do not include it, and we add only the source name.
      issues.push(`${src ? `${src} (${p})` : p || "(root)"}: ${issue.message}`);
    }
  }
  if (issues.length) throw new ConfigError(issues);
  const cfg = parsed.data! as Config;

  // Resolve relative paths against the project root, and the S3 store's dev defaults.
  const abs = (p: string) => path.resolve(PROJECT_ROOT, p);
  cfg.dev.stateDir = abs(cfg.dev.stateDir);
  cfg.dev.temporal.dbFile = abs(cfg.dev.temporal.dbFile ?? path.join(cfg.dev.stateDir, "temporal.sqlite"));
  cfg.dev.s3.dataDir = abs(cfg.dev.s3.dataDir ?? path.join(cfg.dev.stateDir, "seaweedfs"));
  if (cfg.temporal.tls) {
    for (const k of ["certPath", "keyPath", "caPath"] as const) if (cfg.temporal.tls[k]) cfg.temporal.tls[k] = abs(cfg.temporal.tls[k]!);
  }
  if (cfg.store.kind === "local") cfg.store.dir = abs(cfg.store.dir);
  else if (!cfg.store.endpoint) {
    cfg.store.endpoint = `http://127.0.0.1:${cfg.dev.s3.port}`;
    cfg.store.bucket ??= cfg.dev.s3.bucket;
    if (!cfg.store.accessKeyId && !cfg.store.secretAccessKey) {
      cfg.store.accessKeyId = cfg.dev.s3.accessKey;
      cfg.store.secretAccessKey = cfg.dev.s3.secretKey;
    }
  }
  if (cfg.store.kind === "s3" && !cfg.store.bucket) throw new ConfigError([`${envOf.get("store.bucket") ?? "KNEURON_S3_BUCKET"} (store.bucket): required for an S3 store with an explicit endpoint`]);
  return cfg;
}

/** A deep copy safe to print or log: every secret replaced by "<redacted>". */
export function redactConfig<T>(cfg: T): T {
  const walk = (v: unknown, p: string): unknown => {
    if (SECRET_PATHS.has(p) && v !== undefined) return "<redacted>";
    if (isPlainObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, p ? `${p}.${k}` : k)]));
    return v;
  };
  return walk(cfg, "") as T;
}
