/**
 * `kneuron sweep start|status|watch|resume|cancel|list|report` (durable sweeps on Temporal) and
 * `kneuron run --direct` (the same protocol in this process, same artifacts, no Temporal).
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { type Command, InvalidArgumentError, Option } from "commander";
import cliProgress from "cli-progress";
import { type Client, WorkflowNotFoundError } from "@temporalio/client";
import { defaultPayloadConverter } from "@temporalio/common";
import { type ArtifactStore, InvalidKeyError, createStore, preflightStore, readStep, safeSegment } from "../core/store/index.js";
import { COCO_CATEGORIES } from "../core/data/concepts.js";
import { didYouMean } from "../core/suggest.js";
import { parseSpec, type SweepSpec } from "../core/spec.js";
import type { SweepResults } from "../core/pipeline/aggregate.js";
import { runDirect } from "../core/pipeline/direct.js";
import { checkEstimate, estimateRun, formatBytes, readBundleShape, RunTooLargeError } from "../core/pipeline/estimate.js";
import { readLatest, readSweepSpec, writeSweepSpec } from "../core/pipeline/records.js";
import { loadModel } from "../core/model/runtime.js";
import { connectClient } from "../infra/connect.js";
import { devUp, readDevState } from "../infra/dev.js";
import { loadConfig, PROJECT_ROOT, type Config } from "../temporal.config.js";
import { sharedBertScorer } from "../workers/cpu.js";
import { modelLoadOptions } from "../workers/model.js";
import { spawnWorker, type WorkerProcess } from "../workers/spawn.js";
import { specSummary, sweepWorkflow, type SweepWorkflowResult } from "../workflows/sweep.js";
import { PHASES, type SweepProgress } from "../workflows/progress.js";
import { sweepProgress } from "../workflows/watch.js";
import { pushData } from "../core/pipeline/push.js";
import { PhaseKey, SweepIdKey } from "../workflows/search-attributes.js";

// ------------------------------------------------------------------------------- spec + config

export interface SpecFlags {
  config?: string;
  dataset?: string;
  bundle?: string;
  concepts?: string;
  samples?: number;
  /** Sweep the known concepts of a list that also names unknown ones (else that is an error). */
  allowMissing?: boolean;
}

/**
 * `synthetic`, `synthetic:SEED`, `coco:DIR` or `coco:DIR:SPLIT` → the spec's dataset. The split
 * is the part after the last ":" when it looks like a split name (val2017, train2017, ...).
 */
export function parseDatasetFlag(v: string): Record<string, unknown> {
  const m = /^(synthetic|coco)(?::(.*))?$/.exec(v);
  if (!m) throw new Error(`--dataset ${v}: expected synthetic[:SEED], coco:DIR or coco:DIR:SPLIT`);
  if (m[1] === "synthetic") {
    if (m[2] === undefined) return { kind: "synthetic" };
    if (!/^\d{1,9}$/.test(m[2])) throw new Error(`--dataset ${v}: the seed must be a non-negative integer, got ${JSON.stringify(m[2])}`);
    return { kind: "synthetic", seed: Number(m[2]) };
  }
  if (!m[2]) throw new Error(`--dataset ${v}: coco needs a directory: coco:DIR or coco:DIR:SPLIT`);
  const split = /^(.*):([A-Za-z0-9_-]+)$/.exec(m[2]);
  if (split && split[1]) return { kind: "coco", dir: path.resolve(split[1]), split: split[2] };
  return { kind: "coco", dir: path.resolve(m[2]) };
}

/** What a JSON value is, for an error message ("null", "an array", "a string"). */
const jsonKind = (v: unknown) => (v === null ? "null" : Array.isArray(v) ? "an array" : `a ${typeof v}`);

/** Every COCO category name by its normal form: lower case, "_" / "-" / runs of spaces as one space. */
const normalName = (n: string) => n.trim().toLowerCase().replace(/[\s_-]+/g, " ");
const CONCEPT_BY_NORMAL = new Map(COCO_CATEGORIES.map((c) => [normalName(c.name), c.name]));

/**
 * Concept names as the user typed them → COCO's spelling (case and "_" ignored). No valid name at
 * all is an error; unknown names next to valid ones are an error too unless `allowMissing`, then a
 * warning. Every unknown name is listed with the nearest known one.
 */
export function resolveConcepts(names: unknown[], source: string, allowMissing = false, warn: (m: string) => void = (m) => console.error(`kneuron: warning: ${m}`)): string[] {
  const known: string[] = [];
  const unknown: string[] = [];
  for (const n of names) {
    const name = typeof n === "string" ? CONCEPT_BY_NORMAL.get(normalName(n)) : undefined;
    if (name) known.includes(name) || known.push(name);
    else unknown.push(`${JSON.stringify(n)}${typeof n === "string" ? didYouMean(normalName(n), CONCEPT_BY_NORMAL.keys()) : ""}`);
  }
  const what = `unknown concept${unknown.length === 1 ? "" : "s"} ${unknown.join(", ")} (not among COCO 2017's 80 categories)`;
  if (known.length === 0) throw new Error(`${source}: no valid concept: ${what}`);
  if (unknown.length && !allowMissing) throw new Error(`${source}: ${what}; pass --allow-missing to sweep only ${known.join(", ")}`);
  if (unknown.length) warn(`${source}: skipping ${what}`);
  return known;
}

/** The sweep spec from `--config FILE` (JSON) plus flags; SpecError names every bad field. */
export async function specFromFlags(f: SpecFlags): Promise<SweepSpec> {
  let raw: Record<string, unknown> = {};
  if (f.config) {
    const text = await readFile(f.config, "utf8").catch((e) => {
      throw new Error(`--config ${f.config}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    });
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new Error(`--config ${f.config}: not JSON (${(e as Error).message})`);
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw new Error(`--config ${f.config}: expected a JSON object (a sweep spec, e.g. {"concepts": ["bear"]}), got ${jsonKind(parsed)}`);
    }
    raw = parsed as Record<string, unknown>;
  }
  if (f.dataset) {
    const ds = parseDatasetFlag(f.dataset);
    const prev = raw.dataset as Record<string, unknown> | undefined;
    raw.dataset = prev?.kind === ds.kind ? { ...prev, ...ds } : ds;
  }
  if (f.concepts !== undefined) {
    const list = f.concepts.split(",").map((c) => c.trim()).filter(Boolean);
    if (list.length === 0) throw new Error(`--concepts ${JSON.stringify(f.concepts)}: names no concept; give e.g. --concepts bear,clock, or leave the flag out to sweep every concept`);
    raw.concepts = resolveConcepts(list, "--concepts", f.allowMissing);
  } else if (Array.isArray(raw.concepts) && raw.concepts.length > 0) {
    raw.concepts = resolveConcepts(raw.concepts, `--config ${f.config}: concepts`, f.allowMissing);
  }
  if (f.samples !== undefined) raw.samplesPerConcept = f.samples;
  // Workers run in the project root: hand them absolute paths.
  if (f.bundle) raw.bundle = path.resolve(f.bundle);
  else if (typeof raw.bundle === "string") raw.bundle = path.resolve(f.config ? path.dirname(f.config) : ".", raw.bundle);
  else raw.bundle = path.join(PROJECT_ROOT, "models", "tiny");
  return parseSpec(raw);
}

/**
 * A sweep id exactly as given, or an error saying why not: it names the workflow and a store
 * folder, so it is never rewritten (a rewritten id would not find the sweep later).
 */
export function checkSweepId(id: string, flag = "sweep id"): string {
  try {
    if (safeSegment(id) === id) return id;
  } catch (e) {
    if (!(e instanceof InvalidKeyError)) throw e;
    throw new Error(`${flag} ${JSON.stringify(id)} is not valid: ${e.reason}; use letters, digits and . _ - = + @ , (not first: .)`);
  }
  throw new Error(`${flag} ${JSON.stringify(id)} is not valid: it contains whitespace; use letters, digits and . _ - = + @ , (e.g. ${JSON.stringify(id.trim().replace(/\s+/g, "-"))})`);
}

/** Memory this machine can give a run: the physical memory, or the container's limit when lower. */
async function availableMemory(): Promise<number> {
  const limit = await readFile("/sys/fs/cgroup/memory.max", "utf8").then((t) => Number(t.trim()), () => NaN);
  return Number.isFinite(limit) && limit > 0 ? Math.min(limit, os.totalmem()) : os.totalmem();
}

/**
 * Prints the run's estimated captions, time and peak memory. `local`: the model runs on this
 * machine (direct run, --workers), so a run that cannot fit is refused; else only warned about.
 */
async function printEstimate(spec: SweepSpec, local: boolean): Promise<void> {
  const est = estimateRun(spec, await readBundleShape(spec.bundle));
  const avail = await availableMemory();
  try {
    console.log(`estimate:  ${checkEstimate(est, avail)}`);
  } catch (e) {
    if (local || !(e instanceof RunTooLargeError)) throw e;
    console.log(`estimate:  ${checkEstimate(est, Infinity)}`);
    console.error(`kneuron: warning: a model worker needs about ${formatBytes(est.bytes)} for this sweep; this machine has ${formatBytes(avail)}`);
  }
}

export const newSweepId = () => `sweep-${new Date().toISOString().slice(0, 19).replace(/[-:]/g, "").replace("T", "-")}-${randomBytes(2).toString("hex")}`;

interface Target {
  config: Config;
  store: ArtifactStore;
  uiUrl?: string;
}

/** Config for this command: `--dev` starts (or finds) the dev services and targets them. */
async function target(o: { store?: "local" | "s3"; dev?: boolean }): Promise<Target> {
  const base = loadConfig();
  let overrides: Parameters<typeof loadConfig>[0] = o.store && o.store !== base.store.kind ? { store: { kind: o.store } } : {};
  let uiUrl: string | undefined;
  if (o.dev) {
    const { state, started } = await devUp(base);
    if (started) console.log(`dev services started (Temporal ${state.temporal.address}, S3 ${state.s3.endpoint})`);
    overrides = { ...overrides, temporal: { address: state.temporal.address, namespace: state.temporal.namespace } };
    uiUrl = state.temporal.uiUrl;
  }
  const config = loadConfig(overrides);
  if (!uiUrl) {
    const st = readDevState(config);
    if (st && st.temporal.address === config.temporal.address) uiUrl = st.temporal.uiUrl;
  }
  return { config, store: createStore(config.store), uiUrl };
}

const uiLink = (t: Target, id: string) =>
  t.uiUrl ? `${t.uiUrl}/namespaces/${encodeURIComponent(t.config.temporal.namespace)}/workflows/${encodeURIComponent(id)}` : `(namespace ${t.config.temporal.namespace} on ${t.config.temporal.address})`;

async function withClient<T>(t: Target, fn: (c: Client) => Promise<T>): Promise<T> {
  const client = await connectClient(t.config);
  try {
    return await fn(client);
  } finally {
    await client.connection.close();
  }
}

// ------------------------------------------------------------------------------------ workers

/** One cpu and one model worker for this command's sweep (leashed: they exit with this process). */
async function startWorkers(t: Target, sweepId: string, spec: SweepSpec): Promise<WorkerProcess[]> {
  const dir = path.join(PROJECT_ROOT, ".state", "workers");
  const workers = [
    spawnWorker("cpu", { config: t.config, logFile: path.join(dir, `${sweepId}-cpu.log`) }),
    spawnWorker("model", { config: t.config, args: ["--bundle", spec.bundle], logFile: path.join(dir, `${sweepId}-model.log`) }),
  ];
  try {
    await Promise.all(workers.map((w) => w.ready()));
  } catch (e) {
    await Promise.all(workers.map((w) => w.stop(5000)));
    throw e;
  }
  console.log(`workers:   cpu (pid ${workers[0].pid}) and model (pid ${workers[1].pid}), logs in ${path.relative(process.cwd(), dir) || dir}/`);
  return workers;
}

// ----------------------------------------------------------------------------- start + resume

interface StartOptions {
  id?: string;
  store?: "local" | "s3";
  dev?: boolean;
  wait?: boolean;
  watch?: boolean;
  workers?: boolean;
  push?: boolean;
}

/** Before anything starts: the store answers and takes a write, Temporal answers; else an error naming the address. */
async function preflight(t: Target): Promise<void> {
  await preflightStore(t.config.store);
  const client = await connectClient(t.config);
  await client.connection.close();
}

async function launch(t: Target, sweepId: string, spec: SweepSpec, o: StartOptions, resumed: boolean): Promise<void> {
  await preflight(t);
  await writeSweepSpec(t.store, sweepId, spec);
  // Workers on other hosts then need only the store (and KNEURON_WORKER_CACHE_DIR).
  const data = o.push ? await pushData(t.store, spec) : undefined;
  if (data) console.log(`data:      dataset ${data.dataset}, bundle ${data.bundle} in the store (${data.uploaded} files uploaded)`);
  const workers = o.workers ? await startWorkers(t, sweepId, spec) : [];
  try {
    await withClient(t, async (client) => {
      const summary = specSummary(spec);
      await client.workflow.start(sweepWorkflow, {
        workflowId: sweepId,
        taskQueue: t.config.taskQueues.cpu,
        args: [{ sweepId, spec, taskQueues: t.config.taskQueues, data }],
        typedSearchAttributes: [{ key: SweepIdKey, value: sweepId }, { key: PhaseKey, value: "plan" }],
        memo: { config: summary, store: t.store.describe() },
        staticSummary: `kneuron sweep ${sweepId}${resumed ? " (resumed)" : ""}: ${summary.concepts} × ${summary.samplesPerConcept} samples, ${summary.methods}`,
        staticDetails: Object.entries(summary).map(([k, v]) => `- **${k}**: ${v}`).join("\n"),
      });
      console.log(`sweep:     ${sweepId}${resumed ? " (resumed: finished steps are reused from the store)" : ""}`);
      console.log(`Temporal:  ${uiLink(t, sweepId)}`);
      console.log(`store:     ${t.store.describe()}`);
      if (o.watch) await watch(client, sweepId, t.store);
      else if (o.wait || o.workers) {
        const r = await client.workflow.getHandle(sweepId).result().catch((e) => {
          throw new Error(`sweep ${sweepId} failed: ${causeOf(e)}`);
        });
        printResult(r, t.store);
      }
      if (o.watch || o.wait || o.workers) await printResults(t, sweepId);
    });
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
}

const causeOf = (e: unknown): string => {
  let c = e as Error & { cause?: Error };
  while (c?.cause) c = c.cause as Error & { cause?: Error };
  return c?.message ?? String(e);
};

/** The spec a sweep started with: beside it in the store, else from its first run's history. */
async function specOf(t: Target, client: Client, sweepId: string): Promise<SweepSpec> {
  const stored = await readSweepSpec(t.store, sweepId);
  if (stored) return stored;
  const history = await client.workflow.getHandle(sweepId).fetchHistory();
  const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  if (!payload) throw new Error(`sweep ${sweepId}: no spec in the store and no start event in Temporal`);
  return parseSpec((defaultPayloadConverter.fromPayload(payload) as { spec: unknown }).spec);
}

// ---------------------------------------------------------------------------------- progress

/** A step's location a user can open: a directory for the local store, bucket + key for S3. */
const locate = (store: ArtifactStore, key: string) =>
  store.describe().startsWith("local:") ? path.join(store.describe().slice(6), key) : `${store.describe()} ${key}`;

function printResult(r: SweepWorkflowResult, store?: ArtifactStore): void {
  console.log(`done:      ${r.samples} samples (${r.rejected} rejected by the paper's constraints), ${r.failures.length} failure(s); steps computed ${r.steps.computed}, reused ${r.steps.reused}`);
  for (const f of r.failures) console.log(`  ✗ ${f.item}: ${f.reason}`);
  console.log(`report:    ${r.reportKey ? `${store ? locate(store, r.reportKey) : r.reportKey}/index.html` : "none (no report renderer is installed in the cpu worker)"}`);
}

function progressLine(p: SweepProgress): string {
  const phases = PHASES.filter((k) => p.phases[k].total > 0).map((k) => `${k} ${p.phases[k].done}/${p.phases[k].total}`).join(", ");
  return `[${p.phase}] ${phases} | rejected ${p.rejected}, failures ${p.failures.length}`;
}

/** Progress bars from the workflow's `progress` query until it closes (text lines when not a TTY). */
export async function watch(client: Client, sweepId: string, store?: ArtifactStore): Promise<SweepWorkflowResult> {
  const handle = client.workflow.getHandle(sweepId);
  const tty = Boolean(process.stderr.isTTY);
  const multi = tty ? new cliProgress.MultiBar({ format: " {phase} |{bar}| {value}/{total}", hideCursor: true, clearOnComplete: false, stopOnComplete: false, barsize: 30 }, cliProgress.Presets.shades_classic) : undefined;
  const bars = new Map<string, cliProgress.SingleBar>();
  let status: cliProgress.SingleBar | undefined;
  let lastLine = "";
  let lastPrint = 0;
  const result = handle.result();
  let finished = false;
  void result.then(() => (finished = true), () => (finished = true));
  try {
    for (let last = false; !last; ) {
      last = finished; // one more round after the end, so the bars show the final counts
      const p = await sweepProgress(client, sweepId).catch(() => undefined);
      if (p) {
        if (multi) {
          status ??= multi.create(1, 0, { phase: "status" }, { format: " {phase}" });
          status.update(0, { phase: `${sweepId}: ${p.phase} — rejected ${p.rejected}, failures ${p.failures.length}, steps computed ${p.steps.computed} / reused ${p.steps.reused}` });
          for (const k of PHASES) {
            const c = p.phases[k];
            if (c.total === 0) continue;
            let b = bars.get(k);
            if (!b) bars.set(k, (b = multi.create(c.total, 0, { phase: k.padEnd(9) })));
            b.setTotal(c.total);
            b.update(c.done, { phase: k.padEnd(9) });
          }
        } else {
          const line = progressLine(p);
          if (line !== lastLine && Date.now() - lastPrint > 5000) {
            console.log(line);
            lastLine = line;
            lastPrint = Date.now();
          }
        }
      }
      if (!last) await Promise.race([result.catch(() => undefined), new Promise((r) => setTimeout(r, 1000))]);
    }
  } finally {
    multi?.stop();
  }
  const r = await result.catch((e) => {
    throw new Error(`sweep ${sweepId} failed: ${causeOf(e)}`);
  });
  printResult(r, store);
  return r;
}

// ------------------------------------------------------------------------------------ results

async function resultsKeyOf(store: ArtifactStore, sweepId: string): Promise<string | undefined> {
  return (await readLatest(store, sweepId))?.resultsKey;
}

const fmt = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : "–");

/** Where the results are, the headline table (mean over knowledge, all noise levels), failures. */
export async function printResults(t: Pick<Target, "store">, sweepId: string, out?: string): Promise<void> {
  const key = await resultsKeyOf(t.store, sweepId);
  if (!key) throw new Error(`sweep ${sweepId}: no results in ${t.store.describe()} yet`);
  const step = await readStep(t.store, key);
  const results = await step.readJson<SweepResults>("results.json");
  console.log(`results:   ${locate(t.store, key)}/ (${Object.keys(step.manifest.files).join(", ")})`);
  console.log("\n method       | suppression | retention | score  (mean over knowledge, all levels)");
  for (const r of results.table2.filter((r) => r.concept === "average" && r.sigma === "all")) {
    console.log(` ${r.method.padEnd(12)} | ${fmt(r.suppression).padStart(11)} | ${fmt(r.retention).padStart(9)} | ${fmt(r.score)}`);
  }
  const accepted = results.samples.filter((s) => s.status === "accepted").length;
  console.log(`\n samples: ${accepted} accepted of ${results.samples.length}; failures: ${results.failures.length}`);
  for (const f of results.failures) console.log(`  ✗ ${f.item}: ${f.reason}`);
  if (out) {
    await mkdir(out, { recursive: true });
    for (const name of Object.keys(step.manifest.files)) await writeFile(path.join(out, name), await step.read(name));
    console.log(`copied to ${out}/`);
  }
}

// ------------------------------------------------------------------------------------ commands

const positiveInt = (what: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${what} must be a positive integer`);
  return n;
};

function specOptions(cmd: Command): Command {
  return cmd
    .option("--config <file>", "sweep spec (JSON, see core/spec.ts); flags override it")
    .option("--dataset <ds>", "synthetic[:SEED] or coco:DIR[:SPLIT]")
    .option("--bundle <dir>", "model bundle (default models/tiny)")
    .option("--concepts <a,b>", "knowledge to sweep, COCO category names, case ignored (default: every concept of the dataset)")
    .option("--allow-missing", "sweep the known concepts of a --concepts list that also names unknown ones (else an error)")
    .option("--samples <n>", "samples per concept", positiveInt("--samples"))
    .addOption(new Option("--store <kind>", "artifact store (default from config: KNEURON_STORE)").choices(["local", "s3"]))
    .option("--id <sweepId>", "sweep id (default sweep-<time>-<random>)");
}

export function registerSweep(program: Command): void {
  const sweep = program.command("sweep").description("durable sweeps on Temporal: start, watch, resume, cancel, report");

  specOptions(sweep.command("start"))
    .description("validate the spec and start a sweep workflow; prints the sweep id and its Temporal UI page")
    .option("--wait", "wait for the sweep to finish and print its results")
    .option("--watch", "draw progress bars until the sweep finishes")
    .option("--workers", "run one cpu and one model worker for this sweep (stopped at the end; implies --wait)")
    .option("--dev", "start the local dev services if needed and use them")
    .option("--push", "upload the dataset and bundle to the store first; workers with KNEURON_WORKER_CACHE_DIR read them from there (other hosts)")
    .action(async (o: SpecFlags & StartOptions) => {
      const spec = await specFromFlags(o);
      const sweepId = o.id === undefined ? newSweepId() : checkSweepId(o.id, "--id");
      await printEstimate(spec, Boolean(o.workers));
      await launch(await target(o), sweepId, spec, o, false);
    });

  sweep.command("resume <id>")
    .description("start a stopped sweep again with the same id and spec; finished steps are reused from the store")
    .addOption(new Option("--store <kind>", "artifact store").choices(["local", "s3"]))
    .option("--wait", "wait for the sweep to finish")
    .option("--watch", "draw progress bars until the sweep finishes")
    .option("--workers", "run one cpu and one model worker for this sweep")
    .option("--dev", "start the local dev services if needed and use them")
    .option("--push", "upload the dataset and bundle to the store first (as `start --push`)")
    .action(async (id: string, o: StartOptions) => {
      checkSweepId(id);
      const t = await target(o);
      const spec = await withClient(t, async (client) => {
        const d = await client.workflow.getHandle(id).describe().catch((e) => {
          if (e instanceof WorkflowNotFoundError) throw new Error(`no sweep ${id} in namespace ${t.config.temporal.namespace}`);
          throw e;
        });
        if (d.status.name === "RUNNING") throw new Error(`sweep ${id} is still running (watch it: kneuron sweep watch ${id})`);
        return specOf(t, client, id);
      });
      await launch(t, id, spec, o, true);
    });

  sweep.command("status <id>")
    .description("phase, progress, failures of a sweep")
    .option("--json", "machine-readable")
    .action(async (id: string, o: { json?: boolean }) => {
      checkSweepId(id);
      const t = await target({});
      await withClient(t, async (client) => {
        const h = client.workflow.getHandle(id);
        const d = await h.describe();
        const phase = d.typedSearchAttributes.get(PhaseKey);
        const progress = await sweepProgress(client, id).catch(() => undefined);
        if (o.json) return console.log(JSON.stringify({ sweepId: id, status: d.status.name, phase, memo: d.memo, progress }, null, 2));
        console.log(`sweep ${id}: ${d.status.name}, phase ${phase ?? "?"} (started ${d.startTime.toISOString()}${d.closeTime ? `, closed ${d.closeTime.toISOString()}` : ""})`);
        console.log(`Temporal:  ${uiLink(t, id)}`);
        if (d.status.name === "COMPLETED") printResult(await h.result(), t.store);
        if (progress) {
          console.log(progressLine(progress));
          for (const [c, s] of Object.entries(progress.concepts)) console.log(`  ${c.padEnd(16)} ${s.phase.padEnd(10)} samples ${s.samples.done}/${s.samples.total}, rejected ${s.rejected}, failures ${s.failures}`);
          for (const f of progress.failures) console.log(`  ✗ ${f.item}: ${f.reason}`);
        } else if (d.status.name === "RUNNING") console.log("(no progress yet: no worker answered the query)");
        if (d.status.name === "FAILED") console.log(`failure: ${causeOf(await h.result().catch((e) => e))}`);
      });
    });

  sweep.command("watch <id>")
    .description("progress bars of a running sweep until it finishes")
    .action(async (id: string) => {
      checkSweepId(id);
      const t = await target({});
      await withClient(t, (client) => watch(client, id, t.store));
      await printResults(t, id);
    });

  sweep.command("cancel <id>")
    .description("cancel a sweep: running steps stop at their next progress point; finished steps stay in the store")
    .action(async (id: string) => {
      checkSweepId(id);
      const t = await target({});
      await withClient(t, async (client) => {
        const h = client.workflow.getHandle(id);
        await h.cancel();
        const deadline = Date.now() + 60_000;
        let status = (await h.describe()).status.name;
        while (status === "RUNNING" && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 500));
          status = (await h.describe()).status.name;
        }
        console.log(`sweep ${id}: ${status}${status === "RUNNING" ? " (cancellation requested; still stopping)" : ""}; resume it with: kneuron sweep resume ${id}`);
      });
    });

  sweep.command("list")
    .description("sweeps known to Temporal, newest first")
    .option("--limit <n>", "at most this many", positiveInt("--limit"), 20)
    .action(async (o: { limit: number }) => {
      const t = await target({});
      await withClient(t, async (client) => {
        let n = 0;
        for await (const wf of client.workflow.list({ query: "WorkflowType = 'sweepWorkflow'" })) {
          const phase = wf.typedSearchAttributes.get(PhaseKey) ?? "";
          console.log(`${wf.workflowId.padEnd(32)} ${wf.status.name.padEnd(11)} ${String(phase).padEnd(10)} ${wf.startTime.toISOString()}`);
          if (++n >= o.limit) break;
        }
        if (n === 0) console.log("no sweeps yet: kneuron sweep start");
      });
    });

  sweep.command("report <id>")
    .description("where a sweep's results are, its headline table and failures")
    .addOption(new Option("--store <kind>", "artifact store").choices(["local", "s3"]))
    .option("--out <dir>", "copy the result files (JSON, CSV) here")
    .action(async (id: string, o: { store?: "local" | "s3"; out?: string }) => {
      checkSweepId(id);
      await printResults(await target(o), id, o.out);
    });

  specOptions(program.command("run"))
    .description("run a sweep in this process without Temporal (same steps, same artifacts)")
    .requiredOption("--direct", "the direct runner (the Temporal path is `kneuron sweep start`)")
    .action(async (o: SpecFlags & { store?: "local" | "s3"; id?: string }) => {
      const spec = await specFromFlags(o);
      const sweepId = o.id === undefined ? newSweepId() : checkSweepId(o.id, "--id");
      await printEstimate(spec, true);
      const t = await target(o);
      await preflightStore(t.config.store);
      const config = t.config;
      let model: ReturnType<typeof loadModel> | undefined;
      let steps = { computed: 0, reused: 0 };
      let last = 0;
      const t0 = Date.now();
      console.log(`run:       ${sweepId} (direct), store ${t.store.describe()}`);
      const r = await runDirect({
        store: t.store,
        model: () => (model ??= loadModel(spec.bundle, modelLoadOptions(config))),
        bertScorer: sharedBertScorer,
        progress: (d) => {
          if (Date.now() - last > 5000) {
            console.log(`  ${d.step}: ${d.done}/${d.total}`);
            last = Date.now();
          }
        },
        onStep: (e) => void (steps = { ...steps, [e.reused ? "reused" : "computed"]: steps[e.reused ? "reused" : "computed"] + 1 }),
      }, sweepId, spec, (m) => console.log(`  ${m}`));
      console.log(`done in ${((Date.now() - t0) / 1000).toFixed(1)}s; steps computed ${steps.computed}, reused ${steps.reused}; ${r.failures.length} failure(s)`);
      await (await model)?.close();
      await printResults(t, sweepId);
    });
}

