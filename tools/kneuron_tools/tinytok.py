"""The tiny model's word-level tokenizer and prompt layout (docs/BUNDLE.md), for tools/train_tiny.py."""
from __future__ import annotations

import torch

SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>", "<image>"]
PAD, BOS, EOS, UNK, IMAGE = range(len(SPECIALS))
PROMPT = "<image> describe :"


def build_tokenizer(texts: list[str]):
    """Word-level Hugging Face tokenizer over the training texts and the prompt words."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    pre = pre_tokenizers.Whitespace()
    words: set[str] = set()
    for text in texts + [PROMPT.replace("<image>", "")]:
        words.update(w for w, _ in pre.pre_tokenize_str(text))
    vocab = {t: i for i, t in enumerate(SPECIALS + sorted(words - set(SPECIALS)))}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre
    tok.add_special_tokens(SPECIALS)
    return tok


def enc(tok, text: str) -> list[int]:
    return tok.encode(text, add_special_tokens=False).ids if text.strip() else []


def prompt_ids(tok, n_image: int) -> list[int]:
    """docs/BUNDLE.md: bos + enc(text before <image>) + [image]*P + enc(text after <image>)."""
    before, after = PROMPT.split("<image>")
    return [BOS] + enc(tok, before) + [IMAGE] * n_image + enc(tok, after)


def encode_batch(tok, prefixes: list[list[int]], texts: list[str]) -> tuple[torch.Tensor, ...]:
    """Right-padded ids, attention mask, and labels that score only the text tokens + eos."""
    seqs = [enc(tok, t) + [EOS] for t in texts]
    T = max(len(p) + len(s) for p, s in zip(prefixes, seqs))
    ids, labels = torch.full((len(seqs), T), PAD), torch.full((len(seqs), T), -100)
    mask = torch.zeros((len(seqs), T), dtype=torch.long)
    for i, (p, s) in enumerate(zip(prefixes, seqs)):
        ids[i, :len(p) + len(s)] = torch.tensor(p + s)
        labels[i, len(p):len(p) + len(s)] = torch.tensor(s)
        mask[i, :len(p) + len(s)] = 1
    return ids, mask, labels
