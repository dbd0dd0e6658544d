"""Randomly initialised tiny LLaVA checkpoints, built offline, for exporter tests.

They are real `LlavaForConditionalGeneration` checkpoints (CLIP vision tower + MLP projector +
Llama decoder) written with `save_pretrained`, plus a word-level `tokenizer.json` and, for the
`tiny` family, a `kneuron.json` — exactly the layout docs/BUNDLE.md §1 asks of a checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import CLIPImageProcessorPil, CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

SPECIALS = ["<pad>", "<s>", "</s>", "<unk>", "<image>"]
WORDS = (
    "the a an image shows of on in next to with and is are photo picture "
    "bear bus dog cat car tree grass beach snow road table floor sky red blue green "
    "describe user assistant USER ASSISTANT Describe . , : ? ! big small two one "
    "person bird horse sheep cow elephant zebra giraffe boat plane train truck bike "
    "kite ball cup bowl pizza cake chair couch bed clock vase book phone laptop "
    "standing sitting running flying near under over left right"
).split()


def build_tokenizer() -> Tokenizer:
    vocab = {tok: i for i, tok in enumerate(dict.fromkeys(SPECIALS + WORDS))}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    # Keep the specials atomic so "<image>" never splits into "<", "image", ">".
    tok.add_special_tokens(SPECIALS)
    return tok


def tiny_llava_config(vocab_size: int, *, kv_heads: int = 2, select_strategy: str = "default") -> LlavaConfig:
    vision = CLIPVisionConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        image_size=32, patch_size=8, projection_dim=32,
    )
    text = LlamaConfig(
        hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=kv_heads, vocab_size=vocab_size, max_position_embeddings=256,
        hidden_act="silu", rms_norm_eps=1e-5, bos_token_id=1, eos_token_id=2, pad_token_id=0,
        tie_word_embeddings=False,
    )
    return LlavaConfig(
        vision_config=vision, text_config=text, image_token_index=SPECIALS.index("<image>"),
        image_seq_length=16, vision_feature_layer=-2, vision_feature_select_strategy=select_strategy,
        projector_hidden_act="gelu",
    )


def write_tiny_checkpoint(out: Path, *, family: str = "tiny", seed: int = 0, kv_heads: int = 2,
                          select_strategy: str = "default") -> Path:
    """Write a random tiny LLaVA checkpoint directory for `family` ('tiny' or 'llava')."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer()
    tok.save(str(out / "tokenizer.json"))
    torch.manual_seed(seed)
    cfg = tiny_llava_config(tok.get_vocab_size(), kv_heads=kv_heads, select_strategy=select_strategy)
    model = LlavaForConditionalGeneration(cfg).eval()
    # HF's init makes a random tiny decoder nearly constant; widen it so greedy captions vary.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 0.15 if "language_model" in name or "lm_head" in name else 0.1)
    model.save_pretrained(out)
    if family == "tiny":
        (out / "kneuron.json").write_text(json.dumps({
            "image": {"size": 32, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
                      "resample": "bilinear", "resize": "squash"},
            "prompt": "<image> describe the image :",
            "bosId": 1,
            "eosId": 2,
        }, indent=2))
    else:
        CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(out)
    return out
