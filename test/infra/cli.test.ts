/** `kneuron dev up|status|roundtrip|down` as a user runs them: separate processes sharing a state dir. */
import { execFile } from "node:child_process";
import { rmSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { freePorts, pidAlive } from "../../infra/process.js";
import { connectClient } from "../../infra/connect.js";
import { createStore, isComplete } from "../../core/store/index.js";
import { loadConfig, PROJECT_ROOT } from "../../temporal.config.js";
import { tempDir } from "../setup/services.js";

const stateDir = tempDir();
const [tPort, uiPort, httpPort, metricsPort, s3Port] = await freePorts(5);
const env: NodeJS.ProcessEnv = {
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("KNEURON_"))),
  KNEURON_DEV_STATE_DIR: stateDir,
  KNEURON_DEV_TEMPORAL_PORT: String(tPort),
  KNEURON_DEV_TEMPORAL_UI_PORT: String(uiPort),
  KNEURON_DEV_TEMPORAL_HTTP_PORT: String(httpPort),
  KNEURON_DEV_TEMPORAL_METRICS_PORT: String(metricsPort),
  KNEURON_DEV_S3_PORT: String(s3Port),
};

async function kneuron(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [path.join(PROJECT_ROOT, "cli", "bin.mjs"), ...args], { env, cwd: PROJECT_ROOT });
    return { code: 0, out: stdout, err: stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, out: x.stdout, err: x.stderr };
  }
}

afterAll(async () => {
  await kneuron("dev", "down");
  rmSync(stateDir, { recursive: true, force: true });
});

describe("kneuron dev", () => {
  let workflowId = "";
  let artifactKey = "";

  it("status says down (exit 3) before up", async () => {
    const r = await kneuron("dev", "status");
    expect(r.code).toBe(3);
    expect(r.out).toMatch(/temporal: down\s+s3:\s+down/);
  });

  it("up starts both in the background and prints the UI URL and S3 endpoint; a second up is a no-op", async () => {
    const r = await kneuron("dev", "up");
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain("dev services started");
    expect(r.out).toContain(`Temporal UI: http://127.0.0.1:${uiPort}`);
    expect(r.out).toContain(`S3:          http://127.0.0.1:${s3Port}`);
    const again = await kneuron("dev", "up");
    expect(again.out).toContain("dev services already running");
    const st = await kneuron("dev", "status", "--json");
    const status = JSON.parse(st.out);
    expect(status).toMatchObject({ temporal: "up", s3: "up" });
    expect(pidAlive(status.state.temporal.pid) && pidAlive(status.state.s3.pid)).toBe(true);
  });

  it("roundtrip runs the real workflow against them and names the workflow's UI page", async () => {
    const r = await kneuron("dev", "roundtrip", "--message", "cli says hi", "--size", "1000");
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/round trip ok .*1000 float32 values and "cli says hi" verified/);
    workflowId = /\/workflows\/(roundtrip-[^\s]+)/.exec(r.out)![1];
    artifactKey = /key (roundtrip\/\S+)/.exec(r.out)![1];
    expect(r.out).toContain(`http://127.0.0.1:${uiPort}/namespaces/default/workflows/${workflowId}`);
  });

  it("down stops both; up again finds the earlier workflow and artifact (state persists)", async () => {
    const before = JSON.parse((await kneuron("dev", "status", "--json")).out);
    const down = await kneuron("dev", "down");
    expect(down.out).toContain("stopped: temporal, seaweedfs");
    expect(pidAlive(before.state.temporal.pid) || pidAlive(before.state.s3.pid)).toBe(false);
    expect((await kneuron("dev", "status")).code).toBe(3);

    expect((await kneuron("dev", "up")).out).toContain("dev services started");
    const cfg = loadConfig({ temporal: { address: `127.0.0.1:${tPort}` }, store: { kind: "s3" } }, env);
    const client = await connectClient(cfg);
    try {
      expect((await client.workflow.getHandle(workflowId).describe()).status.name).toBe("COMPLETED");
    } finally {
      await client.connection.close();
    }
    expect(await isComplete(createStore(cfg.store), artifactKey)).toBe(true);
  });

  it("a bad setting is one readable error line and exit code 1", async () => {
    const saved = env.KNEURON_DEV_S3_PORT;
    env.KNEURON_DEV_S3_PORT = "lots";
    const r = await kneuron("dev", "up");
    env.KNEURON_DEV_S3_PORT = saved;
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/kneuron: invalid kneuron configuration \(1 problem\):\n {2}- KNEURON_DEV_S3_PORT \(dev\.s3\.port\): expected an integer, got "lots"/);
  });
});
