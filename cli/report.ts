/**
 * `kneuron report <id>`: (re)builds a sweep's HTML report from stored artifacts alone and says
 * where it is; `--out DIR` exports it, `--open` opens it in the desktop's browser.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { type Command, Option } from "commander";
import { createStore } from "../core/store/index.js";
import { loadConfig } from "../temporal.config.js";
import { buildReport, exportReport } from "../report/build.js";
import { checkSweepId } from "./sweep.js";

/** Opens a file with the desktop's handler; prints instead where there is none (headless hosts). */
function openFile(file: string): void {
  const cmd = process.platform === "darwin" ? "open" : process.platform === "win32" ? "explorer" : "xdg-open";
  const child = spawn(cmd, [file], { detached: true, stdio: "ignore" });
  child.on("error", () => console.log(`(could not run ${cmd}; open ${file} in a browser)`));
  child.unref();
}

export function registerReport(program: Command): void {
  program.command("report <sweepId>")
    .description("build a sweep's HTML report (Tables II–IV, Figs. 2–3, captions, rejected samples) from its stored results")
    .addOption(new Option("--store <kind>", "artifact store (default: the configured one)").choices(["local", "s3"]))
    .option("--results <key>", "a results step key instead of the sweep's latest results")
    .option("--out <dir>", "also copy the report (index.html + images + CSV) into this directory")
    .option("--open", "open the report in a browser")
    .action(async (sweepId: string, o: { store?: "local" | "s3"; results?: string; out?: string; open?: boolean }) => {
      checkSweepId(sweepId);
      const base = loadConfig();
      const config = o.store && o.store !== base.store.kind ? loadConfig({ store: { kind: o.store } }) : base;
      const store = createStore(config.store);
      const t0 = Date.now();
      const r = await buildReport({ store, sweepId, resultsKey: o.results });
      console.log(`report:  ${r.key} (${r.files.length} files, ${r.reused ? "unchanged, reused" : "written"} in ${((Date.now() - t0) / 1000).toFixed(1)}s)`);
      // A local store's step directory is itself openable; anything else is exported first.
      let page: string | undefined;
      if (o.out) page = await exportReport(store, r.key, o.out);
      else if (config.store.kind === "local") page = join(config.store.dir, r.key, "index.html");
      else if (o.open) page = await exportReport(store, r.key, join(tmpdir(), `kneuron-report-${sweepId}`));
      if (page) console.log(`page:    ${page}`);
      else console.log(`page:    in the store at ${store.describe()} ${r.key}/index.html (export with --out DIR)`);
      if (o.open && page) openFile(page);
    });
}
