/**
 * The `kneuron` command. Each command group lives in its own module and registers itself here
 * with one line (cli/dev.ts → `kneuron dev ...`; later cli/data.ts, cli/model.ts, cli/sweep.ts).
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Command, CommanderError } from "commander";
import { registerCalibrate } from "./calibrate.js";
import { registerData } from "./data.js";
import { registerDev } from "./dev.js";
import { registerModel } from "./model.js";
import { registerReport } from "./report.js";
import { registerSweep } from "./sweep.js";

export function buildProgram(): Command {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string; description: string };
  // exitOverride before the commands are added, so every subcommand inherits it: a usage error
  // throws (run sets the exit code) instead of exiting the process from inside commander.
  const program = new Command("kneuron").description(pkg.description).version(pkg.version).showHelpAfterError().exitOverride();
  registerDev(program);
  registerData(program);
  registerModel(program);
  registerSweep(program);
  registerReport(program);
  registerCalibrate(program);
  return program;
}

/** Runs the CLI; errors print as one `kneuron: <message>` line (stack with KNEURON_DEBUG=1). */
export async function run(argv: string[] = process.argv): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (e) {
    // Commander has printed its usage error (or the help) already.
    if (e instanceof CommanderError) return void (process.exitCode = e.exitCode);
    const err = e as Error;
    console.error(process.env.KNEURON_DEBUG ? err.stack : `kneuron: ${err.message ?? err}`);
    process.exitCode = 1;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await run();
