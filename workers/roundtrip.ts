/**
 * The round-trip smoke test's worker (`kneuron dev roundtrip`, test/infra/roundtrip.test.ts): its
 * own queue, its own workflow bundle and activities, so the sweep workers carry none of it.
 */
import { fileURLToPath } from "node:url";
import { Worker, type NativeConnection } from "@temporalio/worker";
import { createRoundTripActivities } from "../activities/roundtrip.js";
import type { ArtifactStore } from "../core/store/index.js";
import type { Config } from "../temporal.config.js";

const WORKFLOWS_PATH = fileURLToPath(new URL("../workflows/roundtrip.ts", import.meta.url));

/** `<cpu queue>-roundtrip`: a round trip never lands on a sweep worker. */
export const roundTripQueue = (config: Config): string => `${config.taskQueues.cpu}-roundtrip`;

export async function createRoundTripWorker({ config, connection, store }: { config: Config; connection: NativeConnection; store: ArtifactStore }): Promise<Worker> {
  return Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: roundTripQueue(config),
    workflowsPath: WORKFLOWS_PATH,
    activities: createRoundTripActivities(store),
  });
}
