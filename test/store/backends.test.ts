/** The ArtifactStore contract and the step protocol, on both backends: a local directory and real SeaweedFS S3. */
import { existsSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ArtifactStore,
  ArtifactNotFoundError,
  CorruptArtifactError,
  InvalidKeyError,
  LocalStore,
  createStore,
  isComplete,
  readStep,
  safeSegment,
  writeStep,
} from "../../core/store/index.js";
import { s3StoreConfig, tempDir, useSeaweed } from "../setup/services.js";

const seaweed = useSeaweed();
const localRoot = tempDir("kneuron-store-");
afterAll(() => rmSync(localRoot, { recursive: true, force: true }));

const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** A real store that fails its n-th put, standing in for a worker that dies mid-step. */
function crashingAfter(store: ArtifactStore, okPuts: number): ArtifactStore {
  let puts = 0;
  return Object.assign(Object.create(store) as ArtifactStore, {
    put: async (key: string, body: Uint8Array | string) => {
      if (++puts > okPuts) throw new Error(`simulated crash before writing ${key}`);
      return store.put(key, body);
    },
  });
}

const backends: [string, () => ArtifactStore][] = [
  ["local", () => createStore({ kind: "local", dir: path.join(localRoot, "store") })],
  ["s3", () => createStore(s3StoreConfig(seaweed.s3, "test-prefix/"))],
];

describe.each(backends)("%s store", (kind, make) => {
  let store: ArtifactStore;
  beforeAll(() => {
    store = make();
  });

  it("puts, gets, overwrites, lists by prefix and deletes", async () => {
    await store.put("basic/a.txt", "one");
    await store.put("basic/sub/b.bin", new Uint8Array([0, 1, 2, 255]));
    await store.put("basic2/c", "other");
    expect(text(await store.get("basic/a.txt"))).toBe("one");
    expect([...(await store.get("basic/sub/b.bin"))]).toEqual([0, 1, 2, 255]);
    await store.put("basic/a.txt", "two");
    expect(text(await store.get("basic/a.txt"))).toBe("two");
    expect(await store.list("basic/")).toEqual(["basic/a.txt", "basic/sub/b.bin"]);
    expect(await store.list("basic")).toEqual(["basic/a.txt", "basic/sub/b.bin", "basic2/c"]);
    expect(await store.list("basic/sub/")).toEqual(["basic/sub/b.bin"]);
    expect(await store.list("nothing-here/")).toEqual([]);
    expect(await store.has("basic/a.txt")).toBe(true);
    await store.delete("basic/a.txt");
    await store.delete("basic/a.txt"); // absent: not an error
    expect(await store.has("basic/a.txt")).toBe(false);
    await expect(store.get("basic/a.txt")).rejects.toThrow(ArtifactNotFoundError);
    await expect(store.get("basic/a.txt")).rejects.toThrow(/"basic\/a.txt" not found/);
  });

  it.each(["../x", "/abs", "a\u0000b", "a//b", "a/../../b", "a\\b", ".hidden"])("rejects the hostile key %j in every operation", async (key) => {
    await expect(store.put(key, "x")).rejects.toThrow(InvalidKeyError);
    await expect(store.get(key)).rejects.toThrow(InvalidKeyError);
    await expect(store.has(key)).rejects.toThrow(InvalidKeyError);
    await expect(store.delete(key)).rejects.toThrow(InvalidKeyError);
    await expect(writeStep(store, key, { f: "x" })).rejects.toThrow(InvalidKeyError);
  });

  it("a concept named ../../etc cannot become a key, and nothing lands outside the store", async () => {
    expect(() => `concepts/${safeSegment("../../etc")}/activate`).toThrow(InvalidKeyError);
    await expect(writeStep(store, "concepts/../../etc/activate", { passwd: "x" })).rejects.toThrow(InvalidKeyError);
    await expect(writeStep(store, "concepts/ok", { "../../passwd": "x" })).rejects.toThrow(InvalidKeyError);
    expect(existsSync(path.join(localRoot, "etc"))).toBe(false);
    expect(existsSync(path.join(path.dirname(localRoot), "etc"))).toBe(false);
    const everything = kind === "local" ? readdirSync(localRoot) : await createStore(s3StoreConfig(seaweed.s3)).list("");
    expect(everything.filter((k) => /etc|passwd/.test(k))).toEqual([]);
  });

  it("writes a step: payloads, then a manifest with sha256 and sizes; reads it back verified", async () => {
    const m = await writeStep(store, "steps/good", { "a.txt": "alpha", "b.bin": new Uint8Array([9, 8, 7]) }, { concept: "bear" });
    expect(m.files["a.txt"]).toEqual({ sha256: "8ed3f6ad685b959ead7022518e1af76cd816f8e8ec7ccdda1ed4018e8f2223f8", bytes: 5 });
    expect(m.files["b.bin"].bytes).toBe(3);
    expect(await store.list("steps/good/")).toEqual(["steps/good/a.txt", "steps/good/b.bin", "steps/good/manifest.json"]);
    expect(await isComplete(store, "steps/good")).toBe(true);
    const step = await readStep(store, "steps/good");
    expect(step.manifest.meta).toEqual({ concept: "bear" });
    expect(await step.readText("a.txt")).toBe("alpha");
    expect([...(await step.read("b.bin"))]).toEqual([9, 8, 7]);
    await expect(step.read("c.txt")).rejects.toThrow(ArtifactNotFoundError);
    await expect(writeStep(store, "steps/x", { "manifest.json": "{}" })).rejects.toThrow(/reserved/);
  });

  it("a payload without a manifest is absent: not complete, not readable", async () => {
    await store.put("steps/half/a.txt", "payload only");
    expect(await isComplete(store, "steps/half")).toBe(false);
    await expect(readStep(store, "steps/half")).rejects.toThrow(ArtifactNotFoundError);
  });

  it("a crash mid-step leaves it incomplete, also when redoing a step that was complete", async () => {
    await expect(writeStep(crashingAfter(store, 1), "steps/crash", { "a.txt": "1", "b.txt": "2" })).rejects.toThrow(/simulated crash/);
    expect(await isComplete(store, "steps/crash")).toBe(false);
    await writeStep(store, "steps/crash", { "a.txt": "1", "b.txt": "2" });
    expect(await isComplete(store, "steps/crash")).toBe(true);
    // A redo with new content that dies half way must not leave the old manifest vouching for it.
    await expect(writeStep(crashingAfter(store, 1), "steps/crash", { "a.txt": "new", "b.txt": "new" })).rejects.toThrow(/simulated crash/);
    expect(await isComplete(store, "steps/crash")).toBe(false);
    await writeStep(store, "steps/crash", { "a.txt": "new", "b.txt": "new" });
    expect(await (await readStep(store, "steps/crash")).readText("b.txt")).toBe("new");
  });

  it("a corrupted payload fails verification with an error naming the key and the file", async () => {
    await writeStep(store, "steps/corrupt", { "t.bin": new Uint8Array([1, 2, 3, 4]), "ok.txt": "fine" });
    await store.put("steps/corrupt/t.bin", new Uint8Array([1, 2, 3, 5])); // same size, one bit flipped
    expect(await isComplete(store, "steps/corrupt")).toBe(false);
    const step = await readStep(store, "steps/corrupt");
    expect(await step.readText("ok.txt")).toBe("fine");
    await expect(step.read("t.bin")).rejects.toThrow(CorruptArtifactError);
    await expect(step.read("t.bin")).rejects.toThrow(/corrupt artifact steps\/corrupt\/t\.bin: sha256 .* does not match/);
    await store.put("steps/corrupt/t.bin", new Uint8Array([1, 2]));
    await expect(step.read("t.bin")).rejects.toThrow(/steps\/corrupt\/t\.bin: size 2 bytes, manifest says 4/);
    await store.delete("steps/corrupt/ok.txt");
    await expect(step.read("ok.txt")).rejects.toThrow(/steps\/corrupt\/ok\.txt: listed in the manifest but missing/);
  });

  it("a garbled manifest is reported as corrupt, naming manifest.json", async () => {
    await writeStep(store, "steps/badmanifest", { "a.txt": "a" });
    await store.put("steps/badmanifest/manifest.json", '{"version": 1, "files": 3');
    expect(await isComplete(store, "steps/badmanifest")).toBe(false);
    await expect(readStep(store, "steps/badmanifest")).rejects.toThrow(/corrupt artifact steps\/badmanifest\/manifest\.json: not JSON/);
    await store.put("steps/badmanifest/manifest.json", '{"version": 1, "key": "steps/badmanifest", "files": {"a.txt": {"sha256": "zz"}}}');
    await expect(readStep(store, "steps/badmanifest")).rejects.toThrow(/manifest\.json: .*sha256/s);
  });
});

describe("local store specifics", () => {
  it("never lists its hidden temp files", async () => {
    const dir = path.join(localRoot, "tmpcheck");
    const store = new LocalStore(dir);
    await store.put("k/v", "1");
    writeFileSync(path.join(dir, "k", ".v.123.abcd.tmp"), "partial");
    expect(await store.list("")).toEqual(["k/v"]);
    expect(store.describe()).toBe(`local:${dir}`);
  });
});

describe("s3 store specifics", () => {
  it("isolates prefixes in one bucket and describes itself without credentials", async () => {
    const a = createStore(s3StoreConfig(seaweed.s3, "tenant-a/"));
    const b = createStore(s3StoreConfig(seaweed.s3, "tenant-b"));
    await a.put("k", "A");
    await b.put("k", "B");
    expect(text(await a.get("k"))).toBe("A");
    expect(await b.list("")).toEqual(["k"]);
    expect(a.describe()).toBe(`s3://${seaweed.s3.bucket}/tenant-a/ (${seaweed.s3.endpoint})`);
    expect(a.describe()).not.toContain(seaweed.s3.secretAccessKey);
  });

  it("rejects wrong credentials (the server really checks them)", async () => {
    const bad = createStore({ ...s3StoreConfig(seaweed.s3), secretAccessKey: "not-the-secret" });
    await expect(bad.get("k")).rejects.toThrow(/signature/i);
  });
});
