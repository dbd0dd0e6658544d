// What every pipeline step needs. Steps are plain async functions over this context, so the
// direct runner and the Temporal activities call the very same code.
import { type ArtifactStore, isComplete, readStep, stepKey, writeStep } from "../store/index.js";
import type { ModelRuntime } from "../model/runtime.js";

export interface BertScorerLike {
  score(cands: string[], refs: string[]): Promise<number[]>;
  identity: Record<string, unknown>;
}

export interface PipelineContext {
  store: ArtifactStore;
  /** The model, loaded on first use (only model steps call it). */
  model(): Promise<ModelRuntime>;
  /** The BERTScore encoder, loaded on first use (only scoring calls it). */
  bertScorer(): Promise<BertScorerLike>;
  /** Progress from inside long steps (activities forward it as heartbeat details). */
  progress?(detail: { step: string; done: number; total: number }): void;
  /** Told about every step: computed now, or found finished in the store, with the inputs its key hashes. */
  onStep?(event: { step: string; key: string; reused: boolean; inputs?: unknown }): void;
}

/** Steps computed now vs found finished in the store (resume accounting of an activity or sweep). */
export interface StepStats {
  computed: number;
  reused: number;
}

export type Files = Record<string, Uint8Array | string>;

/**
 * The idempotent step: the key is a hash of the step's inputs; a finished step (manifest present
 * and verified) is reused, anything else is (re)computed and written payload-first, manifest-last.
 */
export async function cachedStep(ctx: PipelineContext, step: string, inputs: unknown, compute: () => Promise<Files>, meta: Record<string, unknown> = {}): Promise<string> {
  const key = stepKey(step, inputs);
  if (await isComplete(ctx.store, key)) {
    ctx.onStep?.({ step, key, reused: true, inputs });
    return key;
  }
  const files = await compute();
  await writeStep(ctx.store, key, files, { step, ...meta });
  ctx.onStep?.({ step, key, reused: false, inputs });
  return key;
}

export async function readJson<T>(ctx: PipelineContext, key: string, file: string): Promise<T> {
  const step = await readStep(ctx.store, key);
  return JSON.parse(await step.readText(file)) as T;
}

export async function readBytes(ctx: PipelineContext, key: string, file: string): Promise<Uint8Array> {
  return (await readStep(ctx.store, key)).read(file);
}

export const json = (v: unknown): string => JSON.stringify(v, null, 1);
