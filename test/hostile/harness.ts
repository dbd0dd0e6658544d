/**
 * Runs the real `kneuron` CLI in this process (cli/main.ts `run`, the function bin.mjs calls) and
 * captures what a user would see: the exit code and everything printed. Environment variables are
 * set for the one run and restored after it.
 */
import { vi } from "vitest";
import { run } from "../../cli/main.js";
import { type ArtifactStore, isComplete, writeStep } from "../../core/store/index.js";

export interface CliResult {
  code: number;
  out: string;
  err: string;
}

export async function kneuron(argv: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  const out: string[] = [];
  const err: string[] = [];
  const fmt = (a: unknown[]) => a.map(String).join(" ");
  const log = vi.spyOn(console, "log").mockImplementation((...a) => void out.push(fmt(a)));
  const error = vi.spyOn(console, "error").mockImplementation((...a) => void err.push(fmt(a)));
  // Commander writes usage errors straight to stderr.
  const write = vi.spyOn(process.stderr, "write").mockImplementation((s: string | Uint8Array) => (err.push(String(s)), true));
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
  process.exitCode = 0;
  try {
    await run(["node", "kneuron", ...argv]);
    return { code: Number(process.exitCode ?? 0), out: out.join("\n"), err: err.join("\n") };
  } finally {
    process.exitCode = 0;
    log.mockRestore();
    error.mockRestore();
    write.mockRestore();
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
  }
}

/** A finished step written before the bad runs; `stillVerifies` checks that no bad run touched it. */
export async function sentinel(store: ArtifactStore): Promise<{ stillVerifies(): Promise<boolean> }> {
  const files = { "a.txt": "written before the bad runs", "b.bin": new Uint8Array([1, 2, 3]) };
  await writeStep(store, "sentinel/step", files);
  const keys = await store.list("");
  return {
    async stillVerifies() {
      return (await isComplete(store, "sentinel/step")) && JSON.stringify(await store.list("sentinel/")) === JSON.stringify(keys.filter((k) => k.startsWith("sentinel/")));
    },
  };
}
