import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, ENV_VARS, PROJECT_ROOT, SECRET_PATHS, loadConfig, redactConfig } from "../../temporal.config.js";
import { connectClient } from "../../infra/connect.js";

describe("loadConfig", () => {
  it("has working defaults: local dev Temporal, both task queues, a local store under the project", () => {
    const cfg = loadConfig({}, {});
    expect(cfg.temporal).toEqual({ address: "127.0.0.1:7233", namespace: "default" });
    expect(cfg.taskQueues).toEqual({ gpu: "kneuron-gpu", cpu: "kneuron-cpu" });
    expect(cfg.worker.gpuConcurrency).toBe(1);
    expect(cfg.store).toEqual({ kind: "local", dir: path.join(PROJECT_ROOT, ".state/store") });
    expect(cfg.dev.temporal.dbFile).toBe(path.join(PROJECT_ROOT, ".state/dev/temporal.sqlite"));
  });

  it("environment variables override defaults, and overrides override the environment", () => {
    const env = {
      KNEURON_TEMPORAL_ADDRESS: "temporal.example.internal:7233",
      KNEURON_TEMPORAL_NAMESPACE: "research",
      KNEURON_WORKER_CPU_CONCURRENCY: "8",
      KNEURON_STORE: "s3",
      KNEURON_S3_ENDPOINT: "https://s3.example.internal",
      KNEURON_S3_BUCKET: "kneuron-artifacts",
      KNEURON_S3_PREFIX: "team/",
      KNEURON_S3_FORCE_PATH_STYLE: "false",
      KNEURON_STORE_DIR: "/ignored/for/s3",
      KNEURON_S3_TIMEOUT_MS: "1234",
    };
    const cfg = loadConfig({ temporal: { namespace: "cli-flag" } }, env);
    expect(cfg.temporal).toEqual({ address: "temporal.example.internal:7233", namespace: "cli-flag" });
    expect(cfg.worker.cpuConcurrency).toBe(8);
    expect(cfg.store).toEqual({ kind: "s3", endpoint: "https://s3.example.internal", bucket: "kneuron-artifacts", region: "us-east-1", prefix: "team/", forcePathStyle: false, connectTimeoutMs: 5000, timeoutMs: 1234, maxAttempts: 3 });
  });

  it("an S3 store without an endpoint means the dev SeaweedFS with the dev credentials", () => {
    const cfg = loadConfig({}, { KNEURON_STORE: "s3", KNEURON_DEV_S3_PORT: "9100" });
    expect(cfg.store).toMatchObject({ kind: "s3", endpoint: "http://127.0.0.1:9100", bucket: "kneuron", accessKeyId: cfg.dev.s3.accessKey, secretAccessKey: cfg.dev.s3.secretKey });
    // An override switching the kind back to local drops the s3 fields.
    expect(loadConfig({ store: { kind: "local", dir: "/tmp/x" } }, { KNEURON_STORE: "s3" }).store).toEqual({ kind: "local", dir: "/tmp/x" });
  });

  it("lists every bad field in one readable ConfigError, naming the env var it came from", () => {
    let err: unknown;
    try {
      loadConfig(
        { worker: { gpuConcurrency: 0 }, temporal: { tls: { certPath: "/c.pem" } } },
        { KNEURON_TEMPORAL_ADDRESS: "no-port", KNEURON_DEV_S3_PORT: "eighty", KNEURON_STORE: "ftp", KNEURON_EXECUTION_PROVIDER: "tpu" },
      );
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const e = err as ConfigError;
    expect(e.issues).toHaveLength(6);
    expect(e.message).toMatch(/invalid kneuron configuration \(6 problems\)/);
    expect(e.message).toContain('KNEURON_DEV_S3_PORT (dev.s3.port): expected an integer, got "eighty"');
    expect(e.message).toContain("KNEURON_TEMPORAL_ADDRESS (temporal.address): expected host:port");
    expect(e.message).toMatch(/KNEURON_STORE \(store\.kind\): .*'local' \| 's3'/);
    expect(e.message).toMatch(/KNEURON_EXECUTION_PROVIDER \(worker\.executionProvider\): .*"cpu"\|"cuda"/);
    expect(e.message).toMatch(/worker\.gpuConcurrency: Too small/);
    expect(e.message).toMatch(/temporal\.tls: certPath and keyPath go together/);
  });

  it("rejects unknown fields and bad S3 settings", () => {
    expect(() => loadConfig({ temporal: { adress: "x:1" } } as never, {})).toThrow(/temporal: Unrecognized key: "adress"/);
    expect(() => loadConfig({}, { KNEURON_STORE: "s3", KNEURON_S3_ENDPOINT: "https://s3.example" })).toThrow(/store\.bucket\): required/);
    expect(() => loadConfig({}, { KNEURON_STORE: "s3", KNEURON_S3_BUCKET: "Bad_Name", KNEURON_S3_PREFIX: "../up/" })).toThrow(
      /KNEURON_S3_BUCKET \(store\.bucket\): not a valid S3 bucket name[\s\S]*KNEURON_S3_PREFIX \(store\.prefix\)/,
    );
  });
});

describe("secrets", () => {
  const secrets = {
    KNEURON_TEMPORAL_API_KEY: "tc-apikey-SECRET-1",
    KNEURON_STORE: "s3",
    KNEURON_S3_ENDPOINT: "https://s3.example.internal",
    KNEURON_S3_BUCKET: "bucket-a",
    KNEURON_S3_ACCESS_KEY_ID: "AKIA-SECRET-2",
    KNEURON_S3_SECRET_ACCESS_KEY: "s3-SECRET-3",
    KNEURON_DEV_S3_SECRET_KEY: "dev-SECRET-4",
  };

  it("redactConfig hides every secret and keeps everything else", () => {
    const cfg = loadConfig({}, secrets);
    expect(cfg.temporal.apiKey).toBe("tc-apikey-SECRET-1"); // the real config keeps them
    const printed = JSON.stringify(redactConfig(cfg));
    expect(printed).not.toMatch(/SECRET/);
    expect(printed).toContain("https://s3.example.internal");
    expect(redactConfig(cfg).temporal.apiKey).toBe("<redacted>");
    expect(redactConfig(cfg).store).toMatchObject({ accessKeyId: "<redacted>", secretAccessKey: "<redacted>" });
    expect(cfg.store).toMatchObject({ secretAccessKey: "s3-SECRET-3" });
  });

  it("every secret env var maps to a redacted path", () => {
    for (const spec of Object.values(ENV_VARS)) if (spec.secret) expect(SECRET_PATHS.has(spec.path)).toBe(true);
  });

  it("config errors never echo a secret value", () => {
    try {
      loadConfig({}, { ...secrets, KNEURON_DEV_S3_SECRET_KEY: "short", KNEURON_S3_ACCESS_KEY_ID: "" , KNEURON_S3_BUCKET: "BAD" });
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message).toMatch(/KNEURON_DEV_S3_SECRET_KEY \(dev\.s3\.secretKey\): at least 8 characters/);
      expect((e as Error).message).not.toMatch(/short|tc-apikey|AKIA-|s3-SECRET|dev-SECRET/);
    }
  });

  it("TLS files that cannot be read give an error naming the file, at connect time", async () => {
    const cfg = loadConfig({}, { KNEURON_TEMPORAL_TLS_CERT: "/nonexistent/client.pem", KNEURON_TEMPORAL_TLS_KEY: "/nonexistent/client.key" });
    await expect(connectClient(cfg)).rejects.toThrow(/temporal\.tls: cannot read \/nonexistent\/client\.pem: ENOENT/);
  });
});
