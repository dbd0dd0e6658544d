#!/usr/bin/env python3
"""Costs of the paper's MiniGPT-4 (EVA ViT-g + llama_proj + Llama-2-7B) as a kneuron bundle,
computed from the modules' real shapes (built on torch's meta device, no weights), not run.
Prints the tables of docs/BUNDLE.md §9.

  .venv/bin/python tools/minigpt4_costs.py [--prompt-tokens 85] [--new-tokens 32]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402

from kneuron_tools.minigpt4 import MERGE, EvaConfig, EvaViT  # noqa: E402

# meta-llama/Llama-2-7b-chat-hf's config.json (the dimensions that matter here)
LLAMA2_7B = dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                 num_key_value_heads=32, vocab_size=32000, max_position_embeddings=4096)
GB = 1e9


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompt-tokens", type=int, default=85,
                    help="T0 = bos + prompt + 64 image tokens (85 for the default prompt with Llama-2's tokenizer, approx.)")
    ap.add_argument("--new-tokens", type=int, default=32, help="caption length (eval.maxNewTokens)")
    a = ap.parse_args(argv)
    vc = EvaConfig()
    with torch.device("meta"):
        vit = EvaViT(vc)
        llama = LlamaForCausalLM(LlamaConfig(**LLAMA2_7B))
    c = llama.config
    H, D, L, V = c.hidden_size, c.intermediate_size, c.num_hidden_layers, c.vocab_size
    P = vc.grid * vc.grid // MERGE
    n_vit = count(vit)
    n_proj = vc.dim * MERGE * H + H
    n_embed = V * H
    n_dec = count(llama.model.layers) + H + count(llama.lm_head)   # layers + final norm + lm_head
    n_readout = L * H * D + V * H
    print(f"parameters: EVA ViT-g {n_vit / 1e9:.3f} B, ln_vision {2 * vc.dim}, llama_proj {n_proj / 1e6:.1f} M, "
          f"Llama-2-7B {count(llama) / 1e9:.3f} B (decoder graph {n_dec / 1e9:.3f} B)")

    # bundle files: the graphs hold their weights once (gradient.onnx its own copy of the decoder's)
    files = {"vision.onnx": n_vit + 2 * vc.dim + n_proj, "embed.onnx": n_embed,
             "decoder.onnx": n_dec, "gradient.onnx": n_dec}
    T0 = a.prompt_tokens
    tv = 4 * (2 * T0 * V * 2 + 2 * L * P * D * 2 + 2 * L * P * D + 2 * 3 * 224 * 224)  # testvectors, n = 2
    print("\n| file | fp32 | --weights fp16 |\n| --- | --- | --- |")
    tot32 = tot16 = 0.0
    for name, n in files.items():
        print(f"| {name} (+ .data) | {4 * n / GB:.2f} GB | {2 * n / GB:.2f} GB |")
        tot32, tot16 = tot32 + 4 * n, tot16 + 2 * n
    print(f"| readout.safetensors (always F32) | {4 * n_readout / GB:.2f} GB | {4 * n_readout / GB:.2f} GB |")
    print(f"| testvectors/ (optional) | {tv / GB:.2f} GB | {tv / GB:.2f} GB |")
    tot32 += 4 * n_readout + tv
    tot16 += 4 * n_readout + tv
    print(f"| **total** | **{tot32 / GB:.1f} GB** | **{tot16 / GB:.1f} GB** |")

    # FLOPs (a multiply-add = 2), per image / caption
    N, d, m = vc.grid * vc.grid + 1, vc.dim, vc.mlp
    vision = (2 * (N - 1) * 3 * vc.patch_size ** 2 * d
              + vc.depth * (2 * N * (4 * d * d + 2 * d * m) + 4 * N * N * d) + 2 * P * vc.dim * MERGE * H)
    per_layer = 4 * H * H + 3 * H * D
    prefill = L * (2 * T0 * per_layer + 4 * T0 * T0 * H) + 2 * T0 * H * V   # logits at every prompt position
    decode = sum(L * (2 * per_layer + 4 * (T0 + t) * H) + 2 * H * V for t in range(a.new_tokens))
    Tg = T0 + 10
    gradient = 3 * (L * (2 * Tg * per_layer + 4 * Tg * Tg * H))  # forward + backward to the activations
    print(f"\nFLOPs: vision {vision / 1e12:.2f} T per image; prefill {prefill / 1e12:.2f} T (T0 = {T0}); "
          f"decode {decode / 1e12:.2f} T ({a.new_tokens} tokens); caption {(vision + prefill + decode) / 1e12:.2f} T "
          f"({(prefill + decode) / 1e12:.2f} T with the image embeddings reused); one gradient call "
          f"(T = {Tg}) ≈ {gradient / 1e12:.1f} T")
    print(f"weights read per decode step: {4 * n_dec / GB:.1f} GB (fp32 in memory)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
