/** OpenCV.js (WASM) loaded once, lazily, on first use. */
import { createRequire } from "node:module";

// The package's typings (mirada) omit the photo module (inpaint), so the module is used untyped
// here and wrapped by typed functions in this folder.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type CV = any;

let ready: Promise<CV> | undefined;

/**
 * The initialised module. It is loaded with require, not import: the Emscripten module is a
 * thenable resolving to itself, so any `await` of it (ESM interop, a promise resolved with it)
 * recurses forever. `then` is dropped once the runtime is up.
 */
export function loadCv(): Promise<CV> {
  ready ??= new Promise<CV>((resolve, reject) => {
    let m: CV;
    try {
      m = createRequire(import.meta.url)("@techstark/opencv-js");
    } catch (e) {
      reject(e);
      return;
    }
    const done = () => {
      delete m.then;
      resolve(m);
    };
    if (typeof m.Mat === "function") done();
    else m.onRuntimeInitialized = done;
  });
  return ready;
}
