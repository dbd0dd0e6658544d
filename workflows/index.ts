/** Every workflow the workers serve (the bundle's entry point: workers/*.ts pass this as workflowsPath). */
export { roundTripWorkflow } from "./roundtrip.js";
