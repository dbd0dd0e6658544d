"""A randomly initialised tiny MiniGPT-4, written in the three pieces the real one comes in:

  llama/          Llama (LlamaForCausalLM.save_pretrained) + a word-level tokenizer.json with
                  Llama-2's special ids (<unk> 0, <s> 1, </s> 2) and no <image> token
  eva_vit_g.pth   EVA ViT state dict with BLIP-2's key names (torch.save, as eva_vit_g.pth)
  minigpt4.pth    {'model': {'llama_proj.weight', 'llama_proj.bias'}} (what MiniGPT-4 saves)

EVA: 64 px, patch 8 → an 8×8 patch grid → 16 image tokens on a [8, 2] token grid.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM

from .minigpt4 import MERGE, EvaConfig, EvaViT

SPECIALS = ["<unk>", "<s>", "</s>"]
WORDS = ("[ ] [/ < > </ INST Img Describe this image in detail . , a an the of on with and is photo "
         "picture bear bus dog cat car tree grass beach snow road table sky red blue green big small "
         "two one person bird horse boat plane train kite ball cup pizza cake chair clock standing "
         "sitting near under over left right").split()
TINY_EVA = EvaConfig(image_size=64, patch_size=8, dim=32, depth=2, heads=2, mlp=139, eps=1e-6)


def build_tokenizer() -> Tokenizer:
    vocab = {t: i for i, t in enumerate(dict.fromkeys(SPECIALS + WORDS))}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.add_special_tokens(SPECIALS)
    return tok


def write_tiny_minigpt4(out: Path, seed: int = 0, eva: EvaConfig = TINY_EVA) -> dict[str, Path]:
    """Write the three pieces under `out`; returns their paths (llama, minigpt4, vit)."""
    out = Path(out)
    llama_dir = out / "llama"
    llama_dir.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer()
    tok.save(str(llama_dir / "tokenizer.json"))
    torch.manual_seed(seed)
    cfg = LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=4, vocab_size=tok.get_vocab_size(), max_position_embeddings=256,
                      hidden_act="silu", rms_norm_eps=1e-5, bos_token_id=1, eos_token_id=2, pad_token_id=0,
                      tie_word_embeddings=False)
    llama = LlamaForCausalLM(cfg).eval()
    vit = EvaViT(eva).eval()
    proj = torch.nn.Linear(eva.dim * MERGE, cfg.hidden_size)
    with torch.no_grad():
        # Wide random weights so greedy captions vary; every bias (q_bias, v_bias included) nonzero
        # so a dropped or misplaced bias shows in the parity tests.
        for p in llama.parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 0.15)
        for name, p in [*vit.named_parameters(), *proj.named_parameters()]:
            if name.endswith("norm1.weight") or name.endswith("norm2.weight"):
                p.uniform_(0.8, 1.2)
            else:
                p.normal_(0.0, 0.1 if p.dim() >= 2 else 0.05)
    llama.save_pretrained(llama_dir)
    paths = {"llama": llama_dir, "vit": out / "eva_vit_g.pth", "minigpt4": out / "minigpt4.pth"}
    torch.save(vit.state_dict(), paths["vit"])
    torch.save({"model": {"llama_proj.weight": proj.weight.detach().clone(),
                          "llama_proj.bias": proj.bias.detach().clone()}}, paths["minigpt4"])
    return paths
