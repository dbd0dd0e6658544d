/** OpenCV.js (WASM) loaded once, lazily, on first use. */
import cvModule from "@techstark/opencv-js";

// The package's typings (mirada) omit the photo module (inpaint), so the module is used untyped
// here and wrapped by typed functions in this folder.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type CV = any;

let ready: Promise<CV> | undefined;

export function loadCv(): Promise<CV> {
  ready ??= new Promise<CV>((resolve) => {
    const m: CV = cvModule;
    // The Emscripten module is a thenable resolving to itself; a promise resolved with it would
    // adopt it forever. Dropping `then` once it is initialised makes it a plain object.
    const done = () => {
      delete m.then;
      resolve(m);
    };
    if (typeof m.Mat === "function") done();
    else m.onRuntimeInitialized = done;
  });
  return ready;
}
