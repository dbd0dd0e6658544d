/**
 * A sweep's dataset and bundle into the store (`kneuron sweep start|resume --push`, tests), so that workers on
 * other hosts fetch them into their own caches (core/store/cache.ts) instead of reading the
 * directories the spec names. The trees are keyed by the same content hashes as the plan
 * (dataset identity, bundle.json's sha256): a worker finds them from the plan alone.
 */
import { createHash } from "node:crypto";
import { readdir, readFile, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { datasetIdentity, relativeName } from "../data/identity.js";
import { DataError } from "../data/errors.js";
import { pushTree } from "../store/cache.js";
import type { ArtifactStore } from "../store/index.js";
import type { SweepSpec } from "../spec.js";
import { resolveDataset } from "./plan.js";

export const datasetTreeKey = (identity: string) => `trees/datasets/${identity}`;
export const bundleTreeKey = (sha256: string) => `trees/bundles/${sha256}`;

/** The splits a sweep reads: instances (+ captions) and the images they list. */
export async function datasetFiles(spec: SweepSpec): Promise<{ root: string; identity: string; names: string[] }> {
  const ds = await resolveDataset(spec);
  const splits = [ds.split, ...(ds.calibrationSplit ? [ds.calibrationSplit] : [])];
  const names: string[] = [];
  for (const s of splits) {
    const instances = join(ds.dir, "annotations", `instances_${s}.json`);
    const coco = JSON.parse(await readFile(instances, "utf8")) as { images?: { file_name: string }[] };
    names.push(relativeName(ds.dir, instances), ...(coco.images ?? []).map((i) => relativeName(ds.dir, join(ds.dir, s, i.file_name))));
    const captions = join(ds.dir, "annotations", `captions_${s}.json`);
    if (await stat(captions).then(() => true, () => false)) names.push(relativeName(ds.dir, captions));
  }
  // The synthetic generator's stamp: a fetched copy is then recognised as generated, not redone.
  if (await stat(join(ds.dir, ".kneuron-synth.json")).then(() => true, () => false)) names.push(".kneuron-synth.json");
  const identity = await datasetIdentity(ds.dir, splits.map((s) => ({ instances: join(ds.dir, "annotations", `instances_${s}.json`), imageDir: join(ds.dir, s) })));
  return { root: ds.dir, identity: identity.sha256, names };
}

/** Uploads what a sweep of `spec` reads; returns the two tree keys the sweep is started with. */
export async function pushData(store: ArtifactStore, spec: SweepSpec): Promise<{ dataset: string; bundle: string; uploaded: number }> {
  const data = await datasetFiles(spec);
  const bundleDir = resolve(spec.bundle);
  const bundleJson = await readFile(join(bundleDir, "bundle.json")).catch(() => {
    throw new DataError(bundleDir, "not a model bundle (no bundle.json)");
  });
  const bundleNames = (await readdir(bundleDir, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile()).map((e) => relativeName(bundleDir, join(e.parentPath, e.name)));
  const dataset = datasetTreeKey(data.identity);
  const bundle = bundleTreeKey(createHash("sha256").update(bundleJson).digest("hex"));
  const a = await pushTree(store, dataset, data.root, data.names);
  const b = await pushTree(store, bundle, bundleDir, bundleNames);
  return { dataset, bundle, uploaded: a.uploaded + b.uploaded };
}
