/**
 * The custom search attributes kneuron sets on its workflows (registered on the dev server by
 * infra/services.ts; on a real cluster with `temporal operator search-attribute create`).
 * Workflow-safe: imports only @temporalio/common.
 */
import { defineSearchAttributeKey, SearchAttributeType } from "@temporalio/common";

export const SweepIdKey = defineSearchAttributeKey("KneuronSweepId", SearchAttributeType.KEYWORD);
export const ConceptKey = defineSearchAttributeKey("KneuronConcept", SearchAttributeType.KEYWORD);
export const PhaseKey = defineSearchAttributeKey("KneuronPhase", SearchAttributeType.KEYWORD);

/** Name → the type name `temporal server start-dev --search-attribute` expects. */
export const KNEURON_SEARCH_ATTRIBUTES: Record<string, "Keyword"> = {
  KneuronSweepId: "Keyword",
  KneuronConcept: "Keyword",
  KneuronPhase: "Keyword",
};
