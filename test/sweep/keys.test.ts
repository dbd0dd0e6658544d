/**
 * Path-free, content-addressed keys: the same sweep over the same data and bundle, copied into two
 * different directories, run by the direct runner (the very step code the activities call) into
 * two stores, gives the same step keys and results key; no step's key inputs hold an absolute
 * path or either directory; and the dataset's identity follows its content, not its place.
 */
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { createBertScorer, DEFAULT_MINILM_DIR } from "../../core/eval/metrics/index.js";
import { datasetIdentity } from "../../core/data/identity.js";
import { generateSynthetic } from "../../core/data/synth/generate.js";
import { loadModel } from "../../core/model/runtime.js";
import { runDirect } from "../../core/pipeline/direct.js";
import { parseSpec } from "../../core/spec.js";
import { createStore } from "../../core/store/index.js";
import { PROJECT_ROOT } from "../../temporal.config.js";
import { tempDir } from "../setup/services.js";
import { TEST_BUNDLE } from "./pool.js";

interface Seen { step: string; key: string; inputs: unknown }

/** Every string inside `v`, with where it sits. */
function strings(v: unknown, at = "$"): [string, string][] {
  if (typeof v === "string") return [[at, v]];
  if (Array.isArray(v)) return v.flatMap((x, k) => strings(x, `${at}[${k}]`));
  if (v && typeof v === "object") return Object.entries(v).flatMap(([k, x]) => strings(x, `${at}.${k}`));
  return [];
}

async function sweepIn(root: string): Promise<{ resultsKey: string; steps: Seen[] }> {
  const spec = parseSpec({
    dataset: { kind: "synthetic", seed: 1, dir: path.join(root, "data") },
    bundle: path.join(root, "bundle"),
    concepts: ["clock"],
    samplesPerConcept: 1,
    noise: { levels: [4], draws: 1 },
    eval: { otherImages: 2, maxNewTokens: 8, bootstrap: { resamples: 100, seed: 0 } },
  });
  const model = await loadModel(spec.bundle);
  let scorer: ReturnType<typeof createBertScorer> | undefined;
  const steps: Seen[] = [];
  try {
    const r = await runDirect({
      store: createStore({ kind: "local", dir: path.join(root, "store") }),
      model: async () => model,
      bertScorer: () => (scorer ??= createBertScorer({ dir: path.join(PROJECT_ROOT, DEFAULT_MINILM_DIR) })),
      onStep: (e) => steps.push({ step: e.step, key: e.key, inputs: e.inputs }),
    }, "keys", spec);
    return { resultsKey: r.resultsKey, steps };
  } finally {
    await model.close();
    await (await scorer)?.close();
  }
}

describe("path-free keys", () => {
  it("the same sweep in two directories gives the same keys; no key input holds a path", async () => {
    const [a, b] = [tempDir("kneuron-keys-a-"), tempDir("kneuron-keys-b-")];
    await generateSynthetic({ outDir: path.join(a, "data"), seed: 1, splits: ["experiment", "calibration"] });
    cpSync(path.join(a, "data"), path.join(b, "data"), { recursive: true });
    for (const d of [a, b]) cpSync(TEST_BUNDLE, path.join(d, "bundle"), { recursive: true });

    const ra = await sweepIn(a);
    const rb = await sweepIn(b);
    expect(ra.steps.length).toBeGreaterThan(8);
    for (const s of [...ra.steps, ...rb.steps]) {
      expect(s.inputs, s.step).toBeDefined();
      const located = strings(s.inputs).filter(([, v]) => path.isAbsolute(v) || v.includes(a) || v.includes(b) || v.includes(PROJECT_ROOT));
      expect(located, `${s.step} ${s.key}`).toEqual([]);
    }
    expect(rb.steps.map((s) => `${s.step} ${s.key}`)).toEqual(ra.steps.map((s) => `${s.step} ${s.key}`));
    expect(rb.resultsKey).toBe(ra.resultsKey);
  }, 600_000);

  it("a dataset's identity follows its content: an edited image changes it, a moved copy does not", async () => {
    const [a, b] = [tempDir("kneuron-id-a-"), tempDir("kneuron-id-b-")];
    await generateSynthetic({ outDir: a, seed: 1, splits: ["experiment"] });
    cpSync(a, b, { recursive: true });
    const splits = (root: string) => [{ instances: path.join(root, "annotations", "instances_experiment.json"), imageDir: path.join(root, "experiment") }];
    const ia = await datasetIdentity(a, splits(a));
    expect(ia.images).toBeGreaterThan(50);
    expect((await datasetIdentity(b, splits(b))).sha256).toBe(ia.sha256);
    const coco = JSON.parse(readFileSync(splits(b)[0].instances, "utf8")) as { images: { file_name: string }[] };
    const [first, second] = coco.images.map((i) => path.join(b, "experiment", i.file_name));
    writeFileSync(first, readFileSync(second));
    expect((await datasetIdentity(b, splits(b))).sha256).not.toBe(ia.sha256);
    await expect(datasetIdentity(b, [{ ...splits(b)[0], imageDir: path.join(path.dirname(b), "elsewhere") }])).rejects.toThrow(/not inside the dataset directory/);
  }, 120_000);
});
