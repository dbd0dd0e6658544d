/**
 * Typed errors for bad input. Every error names the item (file, image id, annotation id,
 * concept) and the problem, so a sweep can record it and move on. (An undecodable image is
 * core/image's ImageDecodeError.)
 */
import { BadInputError } from "../errors.js";

export class DataError extends BadInputError {
  /** The file, id or key the problem is about. */
  readonly item: string;
  constructor(item: string, problem: string, options?: { cause?: unknown }) {
    super(`${item}: ${problem}`, options);
    this.item = item;
  }
}

/** JSON that does not parse or does not match the COCO schema. */
export class MalformedJsonError extends DataError {}

/** An image id that is referenced but absent from the annotations file. */
export class MissingImageError extends DataError {}

/** An annotation whose bbox leaves the image. */
export class BBoxOutOfBoundsError extends DataError {}

/** An annotation whose mask has no pixels. */
export class EmptyMaskError extends DataError {}

/** A segmentation that cannot be decoded (bad RLE string, size mismatch, odd polygon). */
export class SegmentationError extends DataError {}

/** A concept name that is neither in the experiment table nor among COCO's 80 categories. */
export class UnknownConceptError extends DataError {}
