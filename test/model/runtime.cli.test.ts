// `kneuron caption` end to end on the committed tiny random bundle (the command's code path,
// stdout captured): clean and noisy captions, neuron-file validation.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { Command } from "commander";
import { readNeuronFile, registerModel } from "../../cli/model.js";
import { ModelError } from "../../core/model/errors.js";

const BUNDLE = "test/fixtures/model/tiny-random";
let dir: string;
let image: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "kneuron-cli-"));
  image = join(dir, "scene.png");
  await sharp({ create: { width: 80, height: 60, channels: 3, background: { r: 30, g: 160, b: 40 } } })
    .composite([{ input: { create: { width: 30, height: 30, channels: 3, background: { r: 120, g: 60, b: 20 } } }, left: 25, top: 15 }])
    .png().toFile(image);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function kneuron(...args: string[]): Promise<string> {
  const out: string[] = [];
  const spy = vi.spyOn(console, "log").mockImplementation((s: string) => void out.push(s));
  try {
    // Only this command group: the full program (cli/main.ts) also loads the Temporal SDK.
    const program = new Command("kneuron").exitOverride();
    registerModel(program);
    await program.parseAsync(["node", "kneuron", ...args]);
  } finally {
    spy.mockRestore();
  }
  return out.join("\n");
}

describe("kneuron caption", () => {
  it("captions an image, and with noise on a neuron group gives one caption per draw", async () => {
    const neurons = join(dir, "neurons.json");
    writeFileSync(neurons, JSON.stringify({ neurons: [{ layer: 0, index: 3, score: 1 }, { layer: 1, index: 7 }] }));
    const clean = JSON.parse(await kneuron("caption", image, "--bundle", BUNDLE, "--json", "--max-new-tokens", "8"));
    expect(clean.results[0].caption.split(" ").length).toBeGreaterThan(0);
    const noisy = JSON.parse(await kneuron("caption", image, "--bundle", BUNDLE, "--json", "--max-new-tokens", "8",
      "--noise-neurons", neurons, "--level", "50", "--draws", "3"));
    expect(noisy.results[0].caption).toBe(clean.results[0].caption);
    expect(noisy.results[0].noisy).toHaveLength(3);
    // A large σ on two neurons changes at least one caption; draws are seeded, so reruns agree.
    expect(noisy.results[0].noisy.some((n: { caption: string }) => n.caption !== clean.results[0].caption)).toBe(true);
    const again = JSON.parse(await kneuron("caption", image, "--bundle", BUNDLE, "--json", "--max-new-tokens", "8",
      "--noise-neurons", neurons, "--level", "50", "--draws", "3"));
    expect(again.results).toEqual(noisy.results);
    const text = await kneuron("caption", image, "--bundle", BUNDLE, "--max-new-tokens", "8");
    expect(text).toBe(`${image}: ${clean.results[0].caption}`);
  });

  it("refuses neuron files that do not fit the model", () => {
    const bad = join(dir, "bad.json");
    writeFileSync(bad, JSON.stringify([{ layer: 5, index: 0 }]));
    expect(() => readNeuronFile(bad, 2, 128)).toThrow(ModelError);
    expect(() => readNeuronFile(bad, 2, 128)).toThrow(/outside the model's 2 layers/);
    writeFileSync(bad, JSON.stringify({ layers: [1] }));
    expect(() => readNeuronFile(bad, 2, 128)).toThrow(/expected \[\{layer, index\}/);
    writeFileSync(bad, "[]");
    expect(() => readNeuronFile(bad, 2, 128)).toThrow(/no neurons/);
  });
});
