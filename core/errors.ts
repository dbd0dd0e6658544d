/**
 * The one marker of bad input. Every domain error that means "this item cannot be done, a retry
 * will not help" (a broken file or annotation, an unknown concept, a bad bundle, an invalid spec
 * or store key, a broken BERTScore model, a report over bad results) extends BadInputError; the
 * sweep records the item with its reason and goes on. Anything else (an S3 outage, a lost worker,
 * a missing or corrupt artifact, a bug) is retried. Imports nothing, so every core module can use it.
 */
export class BadInputError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export function isBadInput(e: unknown): e is BadInputError {
  return e instanceof BadInputError;
}

/** A sample, concept or plan item that failed, with the reason (what a sweep records of it). */
export interface ItemFailure {
  item: string;
  reason: string;
}
