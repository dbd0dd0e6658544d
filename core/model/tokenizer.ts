// The bundle's Hugging Face tokenizer.json, read with @huggingface/tokenizers and configured to
// behave like the Python `tokenizers` library the trainer and exporter use (unknown words map to
// the unk token; decode skips special tokens and does not "clean up" spaces).
import { Tokenizer } from "@huggingface/tokenizers";
import { ModelError } from "./errors.js";

export interface BundleTokenizer {
  encode(text: string): number[];
  decode(ids: number[]): string;
  idToToken(id: number): string | undefined;
  tokenToId(token: string): number | undefined;
  readonly vocabSize: number;
}

export function loadTokenizer(json: unknown, where = "tokenizer.json"): BundleTokenizer {
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(json as object, {});
  } catch (e) {
    throw new ModelError("bad-bundle", where, `not a usable Hugging Face tokenizer (${(e as Error).message})`);
  }
  const unkName = (json as { model?: { unk_token?: unknown } }).model?.unk_token;
  const unkId = typeof unkName === "string" ? tok.token_to_id(unkName) : undefined;
  const vocabSize = Math.max(...tok.get_vocab(true).values()) + 1;
  return {
    vocabSize,
    encode(text) {
      const { ids } = tok.encode(text, { add_special_tokens: false });
      return (ids as (number | undefined)[]).map((id, k): number => {
        if (id !== undefined) return id;
        if (unkId !== undefined) return unkId;
        throw new ModelError("bad-token", `text ${JSON.stringify(text)}`, `token ${k} is not in the vocabulary and the tokenizer has no unk token`);
      });
    },
    decode(ids) {
      if (ids.length === 0) return ""; // a caption that is EOS at once (the library rejects [])
      return tok.decode(ids, { skip_special_tokens: true, clean_up_tokenization_spaces: false });
    },
    idToToken(id) {
      return tok.id_to_token(id);
    },
    tokenToId(token) {
      return tok.token_to_id(token);
    },
  };
}
