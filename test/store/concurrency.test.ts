/** Concurrent writers of one step, and a store endpoint that never answers, on both backends. */
import net from "node:net";
import path from "node:path";
import { readdirSync, rmSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { type ArtifactStore, S3Store, StoreAccessError, createStore, isComplete, preflightStore, readStep, writeStep } from "../../core/store/index.js";
import { s3StoreConfig, tempDir, useSeaweed } from "../setup/services.js";

const seaweed = useSeaweed();
const localRoot = tempDir("kneuron-store-conc-");
afterAll(() => rmSync(localRoot, { recursive: true, force: true }));

const backends: [string, () => ArtifactStore][] = [
  ["local", () => createStore({ kind: "local", dir: path.join(localRoot, "store") })],
  ["s3", () => createStore(s3StoreConfig(seaweed.s3, "conc/"))],
];

describe.each(backends)("%s store: concurrent writers", (_kind, make) => {
  it("a committed step never disappears while 4 writers commit it again and a reader verifies it", async () => {
    const store = make();
    const files = { "a.bin": new Uint8Array(200_000).fill(7), "b.txt": "payload" };
    const first = await writeStep(store, "conc/step", files, { step: "x" });
    let stop = false;
    let checks = 0;
    const misses: string[] = [];
    const reader = (async () => {
      while (!stop) {
        checks++;
        if (!(await isComplete(store, "conc/step"))) misses.push(`check ${checks}`);
      }
    })();
    const again = await Promise.all([1, 2, 3, 4].map(async () => {
      for (let i = 0; i < 5; i++) await writeStep(store, "conc/step", files, { step: "x" });
      return writeStep(store, "conc/step", files, { step: "x" });
    }));
    stop = true;
    await reader;
    expect(checks).toBeGreaterThan(3);
    expect(misses).toEqual([]);
    // Same content: the first writer's manifest stays (idempotent commit).
    for (const m of again) expect(m.createdAt).toBe(first.createdAt);
    expect((await readStep(store, "conc/step")).manifest.createdAt).toBe(first.createdAt);
  });
});

describe("a store endpoint that accepts connections but never answers", () => {
  let server: net.Server | undefined;
  afterAll(() => server?.close());

  it("fails each call within its timeout × attempts, naming the endpoint; the preflight fails fast", async () => {
    const sockets: net.Socket[] = [];
    server = net.createServer((s) => void sockets.push(s.on("data", () => undefined).on("error", () => undefined)));
    await new Promise<void>((r) => server!.listen(0, "127.0.0.1", () => r()));
    const endpoint = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    const cfg = { ...s3StoreConfig(seaweed.s3), endpoint, timeoutMs: 500, maxAttempts: 2 };
    const t0 = Date.now();
    const err = await new S3Store(cfg).get("k").catch((e) => e);
    expect(err).toBeInstanceOf(StoreAccessError);
    expect(err.message).toContain(endpoint);
    expect(err.message).toMatch(/get "k" failed: .*(timed out|timeout)/i);
    expect(Date.now() - t0).toBeLessThan(10_000);
    const t1 = Date.now();
    await expect(preflightStore({ ...cfg, timeoutMs: 30_000, maxAttempts: 3 }, 800)).rejects.toThrow(endpoint);
    expect(Date.now() - t1).toBeLessThan(5_000);
    for (const s of sockets) s.destroy();
  });

  it("a refused connection names the endpoint too; a working store passes the preflight", async () => {
    const dead = { ...s3StoreConfig(seaweed.s3), endpoint: "http://127.0.0.1:1", maxAttempts: 1 };
    await expect(new S3Store(dead).put("k", "x")).rejects.toThrow(/store s3:\/\/.*\(http:\/\/127\.0\.0\.1:1\): put "k" failed: .*ECONNREFUSED/);
    await preflightStore(s3StoreConfig(seaweed.s3));
    await preflightStore({ kind: "local", dir: path.join(localRoot, "pf") });
    // The probe leaves nothing behind: no object, no empty folder.
    expect(await createStore(s3StoreConfig(seaweed.s3)).list("preflight")).toEqual([]);
    expect(readdirSync(path.join(localRoot, "pf"))).toEqual([]);
  });
});
