/** OpenCV.js (WASM) loaded once, lazily, on first use. */
import { createRequire } from "node:module";
import { OpenCvError } from "./errors.js";

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

/**
 * Runs OpenCV.js work for one image. Its C++ exceptions reach JS as bare numbers (pointers into
 * the WASM heap, no message in this build): they become an OpenCvError naming the operation and item.
 */
export function cvRun<T>(op: string, item: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (typeof e === "number") throw new OpenCvError(`${item}: OpenCV.js ${op} failed (internal exception ${e}; most often the image is too large for its WASM memory)`);
    if (e instanceof WebAssembly.RuntimeError) throw new OpenCvError(`${item}: OpenCV.js ${op} failed (${e.message})`, { cause: e });
    throw e;
  }
}
