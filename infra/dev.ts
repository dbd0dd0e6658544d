/**
 * `kneuron dev up|down|status`: the dev services as long-lived background processes shared by
 * every kneuron command, tracked in `<dev.stateDir>/services.json` so any process can find,
 * check and stop them. Ports, database file, data dir and credentials come from config.dev.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import type { Config } from "../temporal.config.js";
import { ServiceError, ServiceProcess, pidAlive, sleep } from "./process.js";
import { startDevServices } from "./services.js";

const DevStateSchema = z.object({
  version: z.literal(1),
  startedAt: z.string(),
  temporal: z.object({
    pid: z.number().int(),
    address: z.string(),
    namespace: z.string(),
    uiUrl: z.string(),
    httpUrl: z.string(),
    dbFile: z.string(),
    logFile: z.string(),
  }),
  s3: z.object({
    pid: z.number().int(),
    endpoint: z.string(),
    bucket: z.string(),
    region: z.string(),
    dataDir: z.string(),
    logFile: z.string(),
  }),
});
export type DevState = z.infer<typeof DevStateSchema>;

export type ServiceHealth = "up" | "down" | "not responding";
export interface DevStatus {
  state?: DevState;
  temporal: ServiceHealth;
  s3: ServiceHealth;
}

export const devStateFile = (cfg: Config) => path.join(cfg.dev.stateDir, "services.json");

export function readDevState(cfg: Config): DevState | undefined {
  const file = devStateFile(cfg);
  if (!existsSync(file)) return undefined;
  const parsed = DevStateSchema.safeParse(JSON.parse(readFileSync(file, "utf8")));
  if (!parsed.success) throw new ServiceError(`${file} is not a kneuron dev state file; remove it after stopping any services by hand`);
  return parsed.data;
}

/** Only signal a pid that still runs the binary we started (pids get reused). */
function runs(pid: number, binary: "temporal" | "weed"): boolean {
  if (!pidAlive(pid)) return false;
  try {
    const argv0 = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0];
    return path.basename(argv0) === binary;
  } catch {
    return false;
  }
}

async function responds(url: string): Promise<boolean> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await r.body?.cancel();
    return true;
  } catch {
    return false;
  }
}

export async function devStatus(cfg: Config): Promise<DevStatus> {
  const state = readDevState(cfg);
  if (!state) return { temporal: "down", s3: "down" };
  const health = async (pid: number, bin: "temporal" | "weed", url: string): Promise<ServiceHealth> =>
    !runs(pid, bin) ? "down" : (await responds(url)) ? "up" : "not responding";
  const [temporal, s3] = await Promise.all([
    health(state.temporal.pid, "temporal", `${state.temporal.httpUrl}/api/v1/namespaces/${state.temporal.namespace}`),
    health(state.s3.pid, "weed", state.s3.endpoint),
  ]);
  return { state, temporal, s3 };
}

/** One `dev up`/`dev down` at a time per state dir (a stale lock from a dead process is taken over). */
async function withLock<T>(cfg: Config, fn: () => Promise<T>): Promise<T> {
  mkdirSync(cfg.dev.stateDir, { recursive: true });
  const lock = path.join(cfg.dev.stateDir, "services.lock");
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      const fd = openSync(lock, "wx");
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const holder = Number(readFileSync(lock, "utf8") || 0);
      if (!holder || !pidAlive(holder)) rmSync(lock, { force: true });
      else if (Date.now() > deadline) throw new ServiceError(`another kneuron process (pid ${holder}) holds ${lock}`);
      else await sleep(250);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

async function stopState(state: DevState): Promise<string[]> {
  const stopped: string[] = [];
  for (const [name, pid, bin] of [["temporal", state.temporal.pid, "temporal"], ["seaweedfs", state.s3.pid, "weed"]] as const) {
    if (runs(pid, bin)) {
      await ServiceProcess.adopt(pid).stop();
      stopped.push(name);
    }
  }
  return stopped;
}

/** Starts the dev services in the background unless they already run; returns where they are. */
export async function devUp(cfg: Config): Promise<{ state: DevState; started: boolean }> {
  return withLock(cfg, async () => {
    const status = await devStatus(cfg);
    if (status.state && status.temporal === "up" && status.s3 === "up") return { state: status.state, started: false };
    if (status.state) await stopState(status.state); // half up: start clean
    const d = cfg.dev;
    const svc = await startDevServices({
      stateDir: d.stateDir,
      mode: "detached",
      temporal: { ...d.temporal, namespace: cfg.temporal.namespace },
      s3: { port: d.s3.port, dataDir: d.s3.dataDir, bucket: d.s3.bucket, accessKey: d.s3.accessKey, secretKey: d.s3.secretKey },
    });
    const state: DevState = {
      version: 1,
      startedAt: new Date().toISOString(),
      temporal: {
        pid: svc.temporal.pid,
        address: svc.temporal.address,
        namespace: svc.temporal.namespace,
        uiUrl: svc.temporal.uiUrl,
        httpUrl: svc.temporal.httpUrl,
        dbFile: svc.temporal.dbFile,
        logFile: svc.temporal.logFile,
      },
      s3: { pid: svc.s3.pid, endpoint: svc.s3.endpoint, bucket: svc.s3.bucket, region: svc.s3.region, dataDir: svc.s3.dataDir, logFile: svc.s3.logFile },
    };
    writeFileSync(devStateFile(cfg), JSON.stringify(state, null, 2) + "\n");
    return { state, started: true };
  });
}

/** Stops the background dev services (their data stays for the next `dev up`). */
export async function devDown(cfg: Config): Promise<{ stopped: string[] }> {
  return withLock(cfg, async () => {
    const state = readDevState(cfg);
    if (!state) return { stopped: [] };
    const stopped = await stopState(state);
    rmSync(devStateFile(cfg), { force: true });
    return { stopped };
  });
}
