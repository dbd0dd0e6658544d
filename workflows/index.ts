/** Every workflow the workers serve (the bundle's entry point: workers/*.ts pass this as workflowsPath). */
export { sweepWorkflow } from "./sweep.js";
export { conceptWorkflow } from "./concept.js";
