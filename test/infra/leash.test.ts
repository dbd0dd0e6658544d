/** Dev services started by a process die with it, even when it is SIGKILLed (no orphans). */
import { spawn } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { afterAll, expect, it } from "vitest";
import { pidAlive, sleep } from "../../infra/process.js";
import { PROJECT_ROOT } from "../../temporal.config.js";
import { tempDir } from "../setup/services.js";

const stateDir = tempDir();
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

const argv0 = (pid: number) => {
  try {
    return path.basename(readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0]);
  } catch {
    return "";
  }
};

it("a SIGKILLed parent takes its Temporal and SeaweedFS with it", async () => {
  const child = spawn(process.execPath, ["--import", "tsx", path.join("test", "infra", "fixtures", "hold-services.ts"), stateDir], {
    cwd: PROJECT_ROOT,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const line = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d) => {
      out += d;
      const l = out.split("\n").find((x) => x.startsWith("{"));
      if (l) resolve(l);
    });
    child.once("exit", (code) => reject(new Error(`fixture exited early (${code})`)));
  });
  const { temporal, s3 } = JSON.parse(line) as { temporal: number; s3: number };
  // The leash's pids: the services themselves are its children.
  const services = (leash: number) =>
    readFileSync(`/proc/${leash}/task/${leash}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  const servicePids = [...services(temporal), ...services(s3)];
  expect(servicePids.map(argv0).sort()).toEqual(["temporal", "weed"]);

  child.kill("SIGKILL");
  const deadline = Date.now() + 30_000;
  const all = [...servicePids, temporal, s3];
  while (Date.now() < deadline && all.some(pidAlive)) await sleep(200);
  expect(servicePids.filter(pidAlive)).toEqual([]);
  expect([temporal, s3].filter(pidAlive)).toEqual([]);
});
