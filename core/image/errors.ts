/** Typed errors of image decoding; each names the file (or bytes) it is about. */
import { BadInputError } from "../errors.js";

/** A file that is not a decodable image (truncated, wrong format, empty) or a pixel buffer of the wrong size. */
export class ImageDecodeError extends BadInputError {
  /** The file or buffer the problem is about. */
  readonly item: string;
  readonly problem: string;
  constructor(item: string, problem: string, options?: { cause?: unknown }) {
    super(`${item}: ${problem}`, options);
    this.item = item;
    this.problem = problem;
  }
}

/** OpenCV.js (WASM) failed: it throws a bare number (a C++ exception pointer); this names the operation and the image. */
export class OpenCvError extends BadInputError {}
