// Prompt ids from a template with one `<image>` slot, the way the exporter does it
// (tools/kneuron_tools/checkpoint.py encode_prompt, docs/BUNDLE.md §1): bos + ids before the slot,
// and the ids after it. The bundle stores the ids of its own template; this builds others.
import { ModelError } from "./errors.js";
import { type BundleTokenizer } from "./tokenizer.js";

export const IMAGE_SLOT = "<image>";

export interface PromptIds {
  prefixIds: number[];
  suffixIds: number[];
}

export function buildPrompt(tok: BundleTokenizer, template: string, bosId: number | null): PromptIds {
  if (typeof template !== "string") throw new ModelError("bad-prompt", "prompt", "must be a string");
  const slots = template.split(IMAGE_SLOT).length - 1;
  if (slots !== 1) {
    throw new ModelError("bad-prompt", `prompt ${JSON.stringify(template)}`, `must contain exactly one ${IMAGE_SLOT} slot, found ${slots}`);
  }
  const [before, after] = template.split(IMAGE_SLOT);
  const slot = tok.tokenToId(IMAGE_SLOT);
  let prefix: number[], suffix: number[];
  const whole = slot !== undefined ? tok.encode(template) : [];
  if (slot !== undefined && whole.filter((id) => id === slot).length === 1) {
    // The tokenizer knows <image> as one token: encode the whole template and split there.
    const k = whole.indexOf(slot);
    prefix = whole.slice(0, k);
    suffix = whole.slice(k + 1);
  } else {
    prefix = before ? tok.encode(before) : [];
    suffix = after ? tok.encode(after) : [];
  }
  return { prefixIds: bosId === null ? prefix : [bosId, ...prefix], suffixIds: suffix };
}
