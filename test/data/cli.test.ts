import { mkdtemp, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import type { Command } from "commander";
import { buildProgram } from "../../cli/main.js";

/** Parse errors throw instead of exiting, in every subcommand. */
function throwing(c: Command): Command {
  c.exitOverride().configureOutput({ writeErr: () => {} });
  c.commands.forEach(throwing);
  return c;
}

async function kneuron(...args: string[]): Promise<string> {
  const lines: string[] = [];
  const spy = vi.spyOn(console, "log").mockImplementation((...a: unknown[]) => void lines.push(a.join(" ")));
  try {
    await throwing(buildProgram()).parseAsync(["node", "kneuron", ...args]);
  } finally {
    spy.mockRestore();
  }
  return lines.join("\n");
}

describe("kneuron data", () => {
  it("synth writes the requested splits, then reuses them; check validates them", async () => {
    const out = await mkdtemp(join(tmpdir(), "kneuron-cli-"));
    const first = await kneuron("data", "synth", "--out", out, "--seed", "2", "--split", "val", "calibration", "--size", "val=8", "--size", "calibration=4");
    expect(first).toMatch(/^val: 8 images, \d+ objects -> .*instances_val\.json \([\d.]+ s, \d+ images\/s\)$/m);
    expect(first).toMatch(/^calibration: 4 images/m);
    expect((await readdir(join(out, "annotations"))).sort()).toEqual(["captions_calibration.json", "captions_val.json", "instances_calibration.json", "instances_val.json"]);
    expect(await kneuron("data", "synth", "--out", out, "--seed", "2", "--split", "val", "calibration", "--size", "val=8", "--size", "calibration=4")).toMatch(/val: 8 images.*reused \(cached\)/);
    const check = await kneuron("data", "check", join(out, "annotations/instances_val.json"), "--captions", join(out, "annotations/captions_val.json"));
    expect(check).toMatch(/8 images, \d+ annotations \(\d+ mask px\), 80 categories, 8 captions; ok/);
  });

  it("rejects bad flags", async () => {
    await expect(kneuron("data", "synth", "--out", "/tmp/x", "--size", "test=3")).rejects.toThrow(/split one of/);
    await expect(kneuron("data", "synth", "--out", "/tmp/x", "--seed", "-2")).rejects.toThrow();
  });
});
