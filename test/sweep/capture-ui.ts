/**
 * Screenshot of a running sweep in the real Temporal Web UI (docs/img/temporal-ui-sweep.png):
 * dev services on free ports, one cpu and one model worker, a small sweep; once its noise runs
 * are under way, headless Debian Chromium (playwright-core) opens the sweep's workflow page.
 *   npx tsx test/sweep/capture-ui.ts [--bundle DIR] [--out FILE]
 * Prints the sweep's progress at the moment of the screenshot.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";
import { parseSpec } from "../../core/spec.js";
import { connectClient } from "../../infra/connect.js";
import { startDevServices } from "../../infra/services.js";
import { loadConfig, PROJECT_ROOT } from "../../temporal.config.js";
import { installRuntime } from "../../workers/runtime.js";
import { spawnWorker } from "../../workers/spawn.js";
import { specSummary, sweepWorkflow } from "../../workflows/sweep.js";
import { sweepProgress } from "../../workflows/watch.js";
import { PhaseKey, SweepIdKey } from "../../workflows/search-attributes.js";

const { values } = parseArgs({ options: { bundle: { type: "string" }, out: { type: "string" } } });
const bundle = path.resolve(values.bundle ?? path.join(PROJECT_ROOT, "models", "tiny"));
const out = path.resolve(values.out ?? path.join(PROJECT_ROOT, "docs", "img", "temporal-ui-sweep.png"));

installRuntime("WARN");
const dir = mkdtempSync(path.join(tmpdir(), "kneuron-ui-"));
const services = await startDevServices({ stateDir: path.join(dir, "dev") });
const config = loadConfig({ temporal: { address: services.temporal.address, namespace: services.temporal.namespace }, store: { kind: "local", dir: path.join(dir, "store") } }, {});
const workers = [
  spawnWorker("cpu", { config, logFile: path.join(dir, "cpu.log") }),
  spawnWorker("model", { config, args: ["--bundle", bundle], logFile: path.join(dir, "model.log") }),
];
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
});
try {
  await Promise.all(workers.map((w) => w.ready()));
  const client = await connectClient(config);
  const sweepId = "sweep-ui-demo";
  const spec = parseSpec({ bundle, concepts: ["clock", "bear", "cake", "kite"], samplesPerConcept: 1, noise: { levels: [1, 2, 4], draws: 6 }, eval: { otherImages: 24 } });
  const summary = specSummary(spec);
  await client.workflow.start(sweepWorkflow, {
    workflowId: sweepId, taskQueue: config.taskQueues.cpu,
    args: [{ sweepId, spec, taskQueues: config.taskQueues }],
    typedSearchAttributes: [{ key: SweepIdKey, value: sweepId }, { key: PhaseKey, value: "plan" }],
    memo: { config: summary, store: "local" },
    staticSummary: `kneuron sweep ${sweepId}: ${summary.concepts} × ${summary.samplesPerConcept} samples, ${summary.methods}`,
    staticDetails: Object.entries(summary).map(([k, v]) => `- **${k}**: ${v}`).join("\n"),
  });
  // Wait until the noise runs are under way: the interesting moment to look at.
  const handle = client.workflow.getHandle(sweepId);
  for (let i = 0; i < 600; i++) {
    const p = await sweepProgress(client, sweepId).catch(() => undefined);
    if (p && p.phases.perturb.done >= 1 && p.phases.perturb.done < p.phases.perturb.total) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const p = await sweepProgress(client, sweepId);
  console.log(`sweep ${sweepId}: phase ${p.phase}, perturb ${p.phases.perturb.done}/${p.phases.perturb.total}, check ${p.phases.check.done}/${p.phases.check.total}`);
  const page = await browser.newPage({ viewport: { width: 1440, height: 820 } });
  const url = `${services.temporal.uiUrl}/namespaces/${services.temporal.namespace}/workflows/${sweepId}`;
  await page.goto(url, { waitUntil: "load", timeout: 60_000 });
  await page.waitForTimeout(6000); // the UI fetches and renders the history after load
  // The sweep's summary, its spec and its live progress (the workflow's current details).
  await page.getByText("User Metadata", { exact: true }).click();
  await page.waitForTimeout(3000);
  const text = await page.innerText("body"); // (the markdown panels render in iframes: look at the image)
  console.log(`page shows: RUNNING=${/running/i.test(text)}, User Metadata=${text.includes("Current Details")}`);
  await page.screenshot({ path: out, fullPage: false });
  console.log(`screenshot: ${out} (${url})`);
  await handle.cancel();
  await client.connection.close();
} finally {
  await browser.close();
  await Promise.all(workers.map((w) => w.stop(10_000)));
  await services.stop();
  rmSync(dir, { recursive: true, force: true });
}
