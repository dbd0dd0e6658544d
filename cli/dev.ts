/** `kneuron dev up|down|status|roundtrip|config`: the local Temporal + SeaweedFS dev services. */
import { Command } from "commander";
import { createStore } from "../core/store/index.js";
import { connectClient, connectWorker } from "../infra/connect.js";
import { type DevState, devDown, devStatus, devUp } from "../infra/dev.js";
import { createRoundTripWorker, roundTripQueue } from "../workers/roundtrip.js";
import { installRuntime } from "../workers/runtime.js";
import { roundTripWorkflow } from "../workflows/roundtrip.js";
import { SweepIdKey } from "../workflows/search-attributes.js";
import { loadConfig, redactConfig } from "../temporal.config.js";

function describeState(s: DevState): string {
  return [
    `Temporal:    ${s.temporal.address} (namespace ${s.temporal.namespace})`,
    `Temporal UI: ${s.temporal.uiUrl}`,
    `S3:          ${s.s3.endpoint} (bucket ${s.s3.bucket}, path-style)`,
    `state:       db ${s.temporal.dbFile}, objects ${s.s3.dataDir}`,
    `logs:        ${s.temporal.logFile}, ${s.s3.logFile}`,
  ].join("\n");
}

/** The UI page of one workflow. */
export const workflowUiUrl = (s: DevState, workflowId: string) =>
  `${s.temporal.uiUrl}/namespaces/${encodeURIComponent(s.temporal.namespace)}/workflows/${encodeURIComponent(workflowId)}`;

export function registerDev(program: Command): void {
  const dev = program.command("dev").description("local dev services: Temporal dev server (with Web UI) and SeaweedFS S3");

  dev
    .command("up")
    .description("start the dev services in the background (no-op if they already run)")
    .action(async () => {
      const { state, started } = await devUp(loadConfig());
      console.log(started ? "dev services started" : "dev services already running");
      console.log(describeState(state));
    });

  dev
    .command("down")
    .description("stop the dev services (workflow history and objects are kept)")
    .action(async () => {
      const { stopped } = await devDown(loadConfig());
      console.log(stopped.length ? `stopped: ${stopped.join(", ")}` : "dev services were not running");
    });

  dev
    .command("status")
    .description("show whether the dev services run and where")
    .option("--json", "machine-readable output")
    .action(async (opts: { json?: boolean }) => {
      const st = await devStatus(loadConfig());
      if (opts.json) return console.log(JSON.stringify(st, null, 2));
      console.log(`temporal: ${st.temporal}\ns3:       ${st.s3}`);
      if (st.state) console.log(describeState(st.state));
      if (st.temporal !== "up" || st.s3 !== "up") process.exitCode = 3;
    });

  dev
    .command("roundtrip")
    .description("start the dev services if needed, then run the end-to-end round-trip workflow (its worker in this process, artifact in S3)")
    .option("--message <text>", "text stored in and read back from the artifact", "hello from kneuron")
    .option("--size <n>", "elements of the test tensor", "65536")
    .action(async (opts: { message: string; size: string }) => {
      const { state } = await devUp(loadConfig());
      // The round trip targets the dev services: their Temporal, and S3 unless another S3 store is configured.
      const base = loadConfig();
      const config = loadConfig({
        temporal: { address: state.temporal.address, namespace: state.temporal.namespace },
        ...(base.store.kind === "s3" ? {} : { store: { kind: "s3" as const } }),
      });
      const store = createStore(config.store);
      const workflowId = `roundtrip-${new Date().toISOString().replace(/[:.]/g, "-")}`;
      console.log(describeState(state));
      console.log(`workflow:    ${workflowUiUrl(state, workflowId)}`);
      installRuntime("WARN");
      const connection = await connectWorker(config);
      const client = await connectClient(config);
      try {
        const worker = await createRoundTripWorker({ config, connection, store });
        const queue = roundTripQueue(config);
        const t0 = Date.now();
        const result = await worker.runUntil(
          client.workflow.execute(roundTripWorkflow, {
            taskQueue: queue,
            workflowId,
            args: [{ runId: workflowId, message: opts.message, size: Number(opts.size), cpuTaskQueue: queue }],
            typedSearchAttributes: [{ key: SweepIdKey, value: workflowId }],
            staticSummary: "kneuron round trip: write an artifact to S3, read it back verified",
          }),
        );
        console.log(`round trip ok in ${((Date.now() - t0) / 1000).toFixed(1)}s: ${result.elements} float32 values and "${result.message}" verified at ${store.describe()} key ${result.key}`);
      } finally {
        await client.connection.close();
        await connection.close();
      }
    });

  dev
    .command("config")
    .description("print the effective configuration (secrets redacted)")
    .action(() => console.log(JSON.stringify(redactConfig(loadConfig()), null, 2)));
}
