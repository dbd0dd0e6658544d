/**
 * Worker processes started by another process (`kneuron sweep start --workers`, the fault tests,
 * the bench): `node --import tsx workers/<kind>.ts`, configured entirely through KNEURON_* env
 * built from a Config, leashed (stdin pipe) so they exit when the parent goes away.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { ENV_VARS, PROJECT_ROOT, type Config } from "../temporal.config.js";

/** The KNEURON_* variables that reproduce `config` in a child process (secrets included: env, never argv). */
export function configEnv(config: Config): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, { path: p }] of Object.entries(ENV_VARS)) {
    let v: unknown = config;
    for (const part of p.split(".")) v = (v as Record<string, unknown> | undefined)?.[part];
    if (v !== undefined && v !== null && typeof v !== "object") env[name] = String(v);
  }
  return env;
}

export interface WorkerProcess {
  kind: "cpu" | "model";
  readonly pid: number;
  readonly exited: boolean;
  /** Resolves with the exit code (or signal) once the process is gone. */
  readonly done: Promise<number | string | null>;
  /** Graceful: SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  /** The crash a fault test wants: SIGKILL, no goodbye. */
  kill(): Promise<void>;
  /** Resolves once the worker polls its queue (its start line is in the log); rejects if it exits first. */
  ready(timeoutMs?: number): Promise<void>;
}

export interface SpawnWorkerOptions {
  config: Config;
  /** Extra arguments (the model worker's `--bundle DIR`). */
  args?: string[];
  /** Extra environment (e.g. KNEURON_WORKER_NAME). */
  env?: Record<string, string>;
  /** stdout+stderr go here (appended). */
  logFile: string;
  /** Working directory (default the project root): a worker "on another host" runs elsewhere. */
  cwd?: string;
}

/** tsx's loader by absolute URL, so a worker started in any directory finds it. */
const TSX = pathToFileURL(path.join(PROJECT_ROOT, "node_modules", "tsx", "dist", "loader.mjs")).href;

export function spawnWorker(kind: "cpu" | "model", opts: SpawnWorkerOptions): WorkerProcess {
  mkdirSync(path.dirname(opts.logFile), { recursive: true });
  const log = openSync(opts.logFile, "a");
  const logStart = statSync(opts.logFile).size;
  let child: ChildProcess;
  try {
    // Strip the parent's KNEURON_* so the child sees exactly `config`.
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("KNEURON_")));
    child = spawn(process.execPath, ["--import", TSX, path.join(PROJECT_ROOT, "workers", `${kind}.ts`), ...(opts.args ?? [])], {
      cwd: opts.cwd ?? PROJECT_ROOT,
      env: { ...base, ...configEnv(opts.config), ...opts.env, KNEURON_WORKER_LEASH: "1" },
      stdio: ["pipe", log, log],
    });
  } finally {
    closeSync(log);
  }
  if (!child.pid) throw new Error(`could not start the ${kind} worker`);
  let exited = false;
  const done = new Promise<number | string | null>((resolve) => child.once("exit", (code, sig) => ((exited = true), resolve(code ?? sig))));
  const signal = (sig: NodeJS.Signals) => {
    if (!exited) child.kill(sig);
  };
  return {
    kind,
    pid: child.pid,
    get exited() {
      return exited;
    },
    done,
    async stop(graceMs = 30_000) {
      signal("SIGTERM");
      const t = setTimeout(() => signal("SIGKILL"), graceMs);
      await done;
      clearTimeout(t);
    },
    async kill() {
      signal("SIGKILL");
      await done;
    },
    async ready(timeoutMs = 120_000) {
      const deadline = Date.now() + timeoutMs;
      const mine = () => readFileSync(opts.logFile, "utf8").slice(logStart);
      while (!mine().includes(`kneuron ${kind} worker:`)) {
        if (exited) throw new Error(`the ${kind} worker exited during startup:\n${mine().trim().split("\n").slice(-15).join("\n")}`);
        if (Date.now() > deadline) throw new Error(`the ${kind} worker did not start within ${timeoutMs / 1000}s (log: ${opts.logFile})`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
  };
}
