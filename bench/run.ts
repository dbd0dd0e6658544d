// `npm run bench [-- name...]`: runs every bench/*.bench.ts (or those whose name contains one of
// the arguments) one after another in this process and prints one table. A bench module's
// default export returns rows; ratios are measured side by side inside one bench run, so they
// compare like with like on whatever machine runs them.
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export interface BenchRow {
  /** e.g. "(a) batched noise captions vs torch generate+hooks" */
  name: string;
  /** The measured figure, already formatted ("14.2x", "310 captions/s"). */
  value: string;
  /** The goal, if any ("≥ 10x"), and whether it was met. */
  goal?: string;
  met?: boolean;
  /** Raw numbers behind the figure. */
  detail?: string;
  /** A line printed verbatim after the table (a bench's one-line verdict). */
  summary?: string;
}

export type Bench = () => Promise<BenchRow[]>;

function table(rows: (BenchRow & { bench: string })[]): string {
  const head = ["bench", "measure", "value", "goal", "met", "detail"];
  const body = rows.map((r) => [r.bench, r.name, r.value, r.goal ?? "", r.met === undefined ? "" : r.met ? "yes" : "NO", r.detail ?? ""]);
  const w = head.map((h, k) => Math.max(h.length, ...body.map((b) => b[k].length)));
  const line = (cells: string[]) => `| ${cells.map((c, k) => c.padEnd(w[k])).join(" | ")} |`;
  return [line(head), `|${w.map((n) => "-".repeat(n + 2)).join("|")}|`, ...body.map(line)].join("\n");
}

async function main(): Promise<void> {
  const dir = dirname(fileURLToPath(import.meta.url));
  const filters = process.argv.slice(2);
  const files = readdirSync(dir).filter((f) => f.endsWith(".bench.ts")).sort()
    .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
  if (files.length === 0) throw new Error(`no bench/*.bench.ts matches ${filters.join(", ") || "(all)"}`);
  const rows: (BenchRow & { bench: string })[] = [];
  let failed = false;
  for (const f of files) {
    const bench = f.replace(/\.bench\.ts$/, "");
    process.stderr.write(`[bench] ${bench} ...\n`);
    try {
      const mod = (await import(pathToFileURL(join(dir, f)).href)) as { default: Bench };
      for (const r of await mod.default()) rows.push({ bench, ...r });
    } catch (e) {
      failed = true;
      rows.push({ bench, name: "FAILED", value: "", detail: (e as Error).message.split("\n")[0] });
      process.stderr.write(`${(e as Error).stack}\n`);
    }
  }
  console.log(table(rows));
  for (const r of rows) if (r.summary) console.log(r.summary);
  if (failed) process.exitCode = 1;
}

await main();
