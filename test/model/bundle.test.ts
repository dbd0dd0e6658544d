// loadBundleManifest on a real exported bundle (the committed tiny random one) and on damaged
// copies of it: each problem is refused with one BundleError naming the file and the cause —
// the same cases tools/tests/test_export_errors.py checks on the Python side.
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { bundleJsonSchema } from "../../core/model/bundle-schema.gen.js";
import { BundleError, BundleManifestSchema, loadBundleManifest, type BundleManifest } from "../../core/model/bundle.js";
import { ModelError } from "../../core/model/errors.js";

const FIXTURE = "test/fixtures/model/tiny-random";
const tmp = mkdtempSync(join(tmpdir(), "kneuron-bundle-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
function copyBundle(): string {
  const dir = join(tmp, `b${n++}`);
  cpSync(FIXTURE, dir, { recursive: true });
  return dir;
}

function editManifest(dir: string, fn: (m: Record<string, any>) => void): void {
  const p = join(dir, "bundle.json");
  const m = JSON.parse(readFileSync(p, "utf8"));
  fn(m);
  writeFileSync(p, JSON.stringify(m));
}

function flipByte(path: string): void {
  const b = readFileSync(path);
  b[b.length >> 1] ^= 1;
  writeFileSync(path, b);
}

describe("loadBundleManifest", () => {
  it("accepts the exported bundle and returns its manifest", async () => {
    const m: BundleManifest = await loadBundleManifest(FIXTURE);
    expect(m.formatVersion).toBe(1);
    expect(m.imageTokens).toBe(m.image.tokenGrid[0] * m.image.tokenGrid[1] + m.image.clsTokens);
    expect(m.prompt.template.split("<image>")).toHaveLength(2);
    for (const f of ["vision.onnx", "decoder.onnx", "gradient.onnx", "readout.safetensors"]) expect(m.files[f].bytes).toBeGreaterThan(0);
  });

  const cases: [string, (dir: string) => void, RegExp][] = [
    ["a missing file", (d) => unlinkSync(join(d, "gradient.onnx")), /gradient\.onnx: missing \(listed in bundle\.json\)/],
    ["no bundle.json", (d) => unlinkSync(join(d, "bundle.json")), /bundle\.json: missing/],
    ["a sha256 mismatch", (d) => flipByte(join(d, "tokenizer.json")), /tokenizer\.json: sha256 [0-9a-f]{64} does not match/],
    ["a size mismatch", (d) => appendFileSync(join(d, "vision.onnx"), Buffer.from([0])), /vision\.onnx: size \d+ bytes, bundle\.json says/],
    ["a wrong format version", (d) => editManifest(d, (m) => (m.formatVersion = 2)), /format version 2 is not supported \(this runtime reads 1\)/],
    ["a schema violation", (d) => editManifest(d, (m) => (m.family = "gpt2")), /invalid manifest at family/],
    ["inconsistent image tokens", (d) => editManifest(d, (m) => (m.imageTokens += 1)), /inconsistent dimensions: imageTokens \d+ does not match tokenGrid/],
    ["a readout shape that contradicts ffnDim", (d) => editManifest(d, (m) => (m.ffnDim = 100)),
      /inconsistent dimensions: tensor w_out\.0 has shape \[\d+,\d+\], bundle\.json implies \[\d+,100\]/],
    ["a prompt id outside the vocabulary", (d) => editManifest(d, (m) => m.prompt.suffixIds.push(m.vocab)), /prompt\.suffixIds\[\d+\] \d+ is not < vocab/],
    ["a required file not listed", (d) => editManifest(d, (m) => delete m.files["embed.onnx"]), /files does not list required embed\.onnx/],
  ];
  for (const [name, damage, message] of cases) {
    it(`refuses a bundle with ${name}`, async () => {
      const dir = copyBundle();
      await loadBundleManifest(dir); // valid before the damage
      damage(dir);
      const err = await loadBundleManifest(dir).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(BundleError);
      expect(err).toBeInstanceOf(ModelError);
      expect((err as ModelError).code).toBe("bad-bundle");
      expect((err as Error).message).toMatch(message);
    });
  }

  it("skips hashing on request but still checks sizes", async () => {
    const dir = copyBundle();
    flipByte(join(dir, "tokenizer.json"));
    await expect(loadBundleManifest(dir, { verifyHashes: false })).resolves.toBeTruthy();
    appendFileSync(join(dir, "tokenizer.json"), "x");
    await expect(loadBundleManifest(dir, { verifyHashes: false })).rejects.toThrow(/size \d+ bytes/);
  });
});

describe("bundle.json schema", () => {
  it("the committed JSON Schema Python validates with is generated from the zod schema (npx tsx core/model/bundle-schema.gen.ts)", () => {
    expect(readFileSync("core/model/bundle.schema.json", "utf8")).toBe(bundleJsonSchema());
  });

  it("rejects a template without exactly one <image> slot", () => {
    const m = JSON.parse(readFileSync(join(FIXTURE, "bundle.json"), "utf8"));
    expect(BundleManifestSchema.safeParse(m).success).toBe(true);
    for (const template of ["no slot", "<image> twice <image>"])
      expect(BundleManifestSchema.safeParse({ ...m, prompt: { ...m.prompt, template } }).success).toBe(false);
  });
});
