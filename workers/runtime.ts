/** The Temporal worker runtime's log level, set once per process before the first worker. */
import path from "node:path";
import { DefaultLogger, Runtime, type LogLevel } from "@temporalio/worker";

let installed = false;
/** Workers log each state change at INFO; CLI commands and tests keep WARN and above. */
export function installRuntime(level: LogLevel = "WARN"): void {
  if (installed) return;
  installed = true;
  try {
    Runtime.install({ logger: new DefaultLogger(level) });
  } catch {
    /* a runtime was already created in this process; keep it */
  }
}

/** KNEURON_WORKER_CACHE_DIR: where a worker keeps the datasets and bundles it fetches from the store. */
export function workerCacheDir(): string | undefined {
  const dir = process.env.KNEURON_WORKER_CACHE_DIR;
  return dir ? path.resolve(dir) : undefined;
}
