/**
 * Client side (not workflow code: never import it from a workflow): the whole sweep's progress.
 * The sweep workflow answers `progress` with its own steps and its finished concepts; the running
 * concepts answer `conceptProgress` themselves (the latest run of each, across continue-as-new).
 * One query per running concept: nothing is signalled, so no history grows with the steps.
 */
import type { Client } from "@temporalio/client";
import { type ConceptProgress, conceptProgressQuery, conceptWorkflowId, progressQuery, type SweepProgress, withLive } from "./progress.js";

export async function sweepProgress(client: Client, sweepId: string): Promise<SweepProgress> {
  const p = await client.workflow.getHandle(sweepId).query(progressQuery);
  const live = await Promise.all((p.live ?? []).map((c) =>
    // A concept that just finished (or has not started) answers nothing: its placeholder stays.
    client.workflow.getHandle(conceptWorkflowId(sweepId, c)).query(conceptProgressQuery).catch((): ConceptProgress | undefined => undefined)));
  return withLive(p, live.filter((c): c is ConceptProgress => c !== undefined));
}
