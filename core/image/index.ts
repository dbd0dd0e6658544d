export * from "./io.js";
export * from "./errors.js";
export * from "./inpaint.js";
export * from "./heatmap.js";
export { loadCv } from "./cv.js";
