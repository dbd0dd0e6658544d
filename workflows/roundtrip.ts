/** The foundation's end-to-end workflow: write an artifact on the cpu queue, then read and verify it. */
import { proxyActivities, upsertSearchAttributes, workflowInfo } from "@temporalio/workflow";
import type { RoundTripActivities, RoundTripInput, RoundTripResult } from "../activities/roundtrip.js";
import { PhaseKey } from "./search-attributes.js";

export interface RoundTripWorkflowInput extends RoundTripInput {
  /** The cpu task queue (workflows cannot read config; the starter passes it). */
  cpuTaskQueue: string;
}

export async function roundTripWorkflow(input: RoundTripWorkflowInput): Promise<RoundTripResult & { workflowId: string }> {
  const { writeRoundTripArtifact, verifyRoundTripArtifact } = proxyActivities<RoundTripActivities>({
    taskQueue: input.cpuTaskQueue,
    startToCloseTimeout: "2 minutes",
    retry: { initialInterval: "1 second", backoffCoefficient: 2, maximumInterval: "30 seconds", maximumAttempts: 10 },
  });
  const { cpuTaskQueue: _queue, ...activityInput } = input;
  upsertSearchAttributes([{ key: PhaseKey, value: "write" }]);
  const ref = await writeRoundTripArtifact(activityInput);
  upsertSearchAttributes([{ key: PhaseKey, value: "verify" }]);
  const result = await verifyRoundTripArtifact({ ref, input: activityInput });
  upsertSearchAttributes([{ key: PhaseKey, value: "done" }]);
  return { ...result, workflowId: workflowInfo().workflowId };
}
