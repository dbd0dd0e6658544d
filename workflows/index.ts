/** Every workflow the workers serve (the bundle's entry point: workers/*.ts pass this as workflowsPath). */
export { roundTripWorkflow } from "./roundtrip.js";
export { sweepWorkflow } from "./sweep.js";
export { conceptWorkflow } from "./concept.js";
