export * from "./errors.js";
export * from "./concepts.js";
export * from "./mask.js";
export * from "./coco.js";
export * from "./select.js";
export { generateSynthetic, planSplit, renderImage, captionFor, captionWord, SYNTH_VERSION, SPLITS, DEFAULT_SIZES, SynthOptionsSchema } from "./synth/generate.js";
export type { SynthOptions, SynthResult, SynthSplitResult, SplitName } from "./synth/generate.js";
export { BACKGROUNDS, type Background } from "./synth/backgrounds.js";
