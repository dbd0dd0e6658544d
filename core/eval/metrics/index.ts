/**
 * Caption-quality metrics of the paper's Table III, each with a parity test against the
 * Python reference library (test/eval/metrics.parity.test.ts, fixture from tools/ref/metrics_ref.py).
 */
export { bleu, tokenize13a } from "./bleu.js";
export { rouge1F, rougeLF, rougeTokenize } from "./rouge.js";
export {
  createBertScorer,
  BertScoreInputError,
  BertScoreModelError,
  BertScorerOptions,
  EncoderIdentity,
  type BertScorer,
} from "./bertscore.js";

/** Where infra/setup.sh builds the BERTScore encoder, relative to the repository root. */
export const DEFAULT_MINILM_DIR = ".cache/minilm";
