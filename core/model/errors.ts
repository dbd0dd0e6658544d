// Typed errors of the model runtime. `code` tells callers (the Temporal activities) what went
// wrong without parsing messages: every code here is bad input or a bad bundle, i.e. not worth a
// retry (a BadInputError); anything else thrown from the runtime (ORT internals, I/O) may be transient.
import { BadInputError } from "../errors.js";

export type ModelErrorCode =
  | "bad-bundle" // bundle.json invalid, a file missing or its sha256 wrong, graph I/O unexpected
  | "bad-image" // wrong size, channel count, unreadable file
  | "empty-batch"
  | "bad-delta" // ffn_delta of the wrong length or with non-finite values
  | "bad-token" // token id outside the vocabulary
  | "bad-prompt" // prompt without (or with several) image slots
  | "bad-item" // a caption item with neither pixels nor image embeddings, or wrong embed size
  | "batch-too-large" // the estimated memory of a batch exceeds the budget
  | "closed" // the runtime was closed
  | "no-ablation-input"; // ffn_scale asked of a bundle exported without it (re-export it)

export class ModelError extends BadInputError {
  override readonly name = "ModelError";
  constructor(
    readonly code: ModelErrorCode,
    /** What the problem is about: a file, `item 3`, `delta of item 0`, ... */
    readonly item: string,
    readonly problem: string,
  ) {
    super(`${item}: ${problem}`);
  }
}
