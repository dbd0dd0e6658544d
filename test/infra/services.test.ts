/** Dev service handles: clear startup errors, and SeaweedFS restarts that keep the objects. */
import { rmSync } from "node:fs";
import net from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { ServiceError } from "../../infra/process.js";
import { startTemporal } from "../../infra/services.js";
import { createStore, isComplete, writeStep } from "../../core/store/index.js";
import { s3StoreConfig, tempDir, useSeaweed } from "../setup/services.js";

const seaweed = useSeaweed();
const scratch = tempDir();
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("startup errors", () => {
  it("a fixed port that is taken is named in the error", async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const err = await startTemporal({ stateDir: scratch, port }).catch((e) => e);
      expect(err).toBeInstanceOf(ServiceError);
      expect(err.message).toBe(`temporal: port ${port} (port) is already in use on 127.0.0.1`);
    } finally {
      blocker.close();
    }
  });

  it("a missing binary points at the setup script", async () => {
    const saved = process.env.KNEURON_TEMPORAL_BIN;
    process.env.KNEURON_TEMPORAL_BIN = "/nonexistent/temporal";
    try {
      await expect(startTemporal({ stateDir: scratch })).rejects.toThrow(/temporal binary not found at \/nonexistent\/temporal: run `bash infra\/setup.sh`/);
    } finally {
      if (saved === undefined) delete process.env.KNEURON_TEMPORAL_BIN;
      else process.env.KNEURON_TEMPORAL_BIN = saved;
    }
  });
});

describe("SeaweedFS restart", () => {
  it("keeps every object (same data dir and ports), with the same endpoint", async () => {
    const store = createStore(s3StoreConfig(seaweed.s3));
    await writeStep(store, "restart/step", { "a.bin": new Uint8Array(100_000).fill(7), "b.txt": "kept" });
    const { endpoint, pid } = seaweed.s3;
    await seaweed.s3.restart();
    expect(seaweed.s3.pid).not.toBe(pid);
    expect(seaweed.s3.endpoint).toBe(endpoint);
    expect(await isComplete(store, "restart/step")).toBe(true);
    expect(await store.list("")).toEqual(["restart/step/a.bin", "restart/step/b.txt", "restart/step/manifest.json"]);
  });

  it("while stopped, store calls fail loudly (a transient error to retry), not as 'absent'", async () => {
    const store = createStore({ ...s3StoreConfig(seaweed.s3) });
    await seaweed.s3.stop();
    try {
      await expect(isComplete(store, "restart/step")).rejects.toThrow(/ECONNREFUSED|connect/i);
    } finally {
      await seaweed.s3.restart();
    }
    expect(await isComplete(store, "restart/step")).toBe(true);
  });
});
