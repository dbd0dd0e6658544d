/** A worker started by `kneuron sweep start --workers` exits with its parent, even one killed with SIGKILL. */
import type { Worker } from "@temporalio/worker";

/** With KNEURON_WORKER_LEASH=1, stdin is a pipe from the parent: its EOF means the parent is gone. */
export function leashToParent(worker: Worker): void {
  if (process.env.KNEURON_WORKER_LEASH !== "1") return;
  const stop = () => {
    if (worker.getState() === "RUNNING") worker.shutdown();
  };
  process.stdin.on("end", stop);
  process.stdin.on("error", stop);
  process.stdin.resume();
}
