// Per-knowledge thresholds (DESIGN.md §2 step 6). `auto` lives in calibrate.ts: it needs evaluation.
import { z } from "zod";
import { type NeuronScores, type ScoredNeuron, aboveThreshold, quantile, topK } from "./tensor.js";

export const ThresholdRuleSchema = z.discriminatedUnion("mode", [
  z.object({ mode: z.literal("manual"), value: z.number().finite() }),
  z.object({ mode: z.literal("quantile"), q: z.number().min(0).max(1) }),
  // Bounded like maxNeurons: a count beyond any model's L·D is a typo, not a request.
  z.object({ mode: z.literal("count"), n: z.number().int().nonnegative().max(100_000_000) }),
]);
export type ThresholdRule = z.infer<typeof ThresholdRuleSchema>;

export interface RuleSelection {
  /** The threshold actually applied (for `count`, the score of the last neuron kept). */
  tau: number;
  neurons: ScoredNeuron[];
}

/** Apply a rule to scores, optionally restricted to a set of flat indices (stage 2 sees only candidates). */
export function applyRule(s: NeuronScores, rule: ThresholdRule, among?: number[]): RuleSelection {
  const pool = among ?? Array.from(s.scores.keys());
  switch (rule.mode) {
    case "manual":
      return { tau: rule.value, neurons: aboveThreshold(s, rule.value, pool) };
    case "quantile": {
      if (pool.length === 0) return { tau: Infinity, neurons: [] };
      const tau = quantile(pool.map((k) => s.scores[k]), rule.q);
      return { tau, neurons: aboveThreshold(s, tau, pool) };
    }
    case "count": {
      const neurons = topK(s, rule.n, pool);
      return { tau: neurons.length ? neurons[neurons.length - 1].score : Infinity, neurons };
    }
  }
}
