#!/usr/bin/env python3
"""Recover the Hugging Face checkpoint of a tiny-family bundle from its ONNX graphs.

The first committed models/tiny (v1) was exported before bundles kept their weights in hf/, so
an exporter change could not re-export it. Every weight is in the graphs as a float32
initializer, though: named ones (norms, biases, CLIP's embeddings) map by name; the unnamed
MatMul weights (stored transposed, [in, out]) map by the graph's structure — in the vision
tower by the named bias their MatMul feeds, in the decoder by the order the Llama layer calls
its projections (q, k, v, o, gate, up, down). The result is checked, not trusted:
tools/tests/test_reexport.py re-exports hf/ and requires the committed test vectors and
captions back (1e-5).

    python tools/bundle_to_hf.py models/tiny          # writes models/tiny/hf/
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kneuron_tools.tinytok import BOS, EOS, IMAGE, PAD  # noqa: E402

DECODER_ORDER = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                 "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")


def _graph(path: Path):
    g = onnx.load(str(path)).graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    consumers: dict[str, list] = {}
    for n in g.node:
        for x in n.input:
            consumers.setdefault(x, []).append(n)
    return g, inits, consumers


def _weight_matmuls(g, inits) -> list[tuple[str, str]]:
    """(weight initializer, MatMul output) of every MatMul by a 2-D constant, in graph order."""
    return [(n.input[1], n.output[0]) for n in g.node
            if n.op_type == "MatMul" and n.input[1] in inits and inits[n.input[1]].ndim == 2]


def vision_weights(path: Path) -> tuple[dict[str, np.ndarray], int]:
    """The vision tower's and projector's weights, and the attention head count."""
    g, inits, consumers = _graph(path)
    out = {}
    for name, arr in inits.items():
        if name.startswith(("tower.", "projector.")):
            out[name] = arr
    # position_embedding(position_ids) was constant-folded: [1, positions, hidden]
    out["tower.embeddings.position_embedding.weight"] = inits["embedding"][0]
    for w, y in _weight_matmuls(g, inits):
        bias = [x for n in consumers.get(y, []) if n.op_type == "Add" for x in n.input if x.endswith(".bias")]
        if len(bias) != 1:
            raise SystemExit(f"{path}: MatMul by {w} feeds no single named bias ({bias})")
        out[bias[0][: -len(".bias")] + ".weight"] = inits[w].T
    return out, _heads(g, inits, path)


def decoder_weights(path: Path, layers: int) -> dict[str, np.ndarray]:
    g, inits, _ = _graph(path)
    out = {k: v for k, v in inits.items() if k.startswith("core.") and k != "core.inv_freq"}
    mm = _weight_matmuls(g, inits)
    if len(mm) != 7 * layers + 1:
        raise SystemExit(f"{path}: {len(mm)} weight MatMuls, expected 7 per layer + lm_head = {7 * layers + 1}")
    for i, (w, _) in enumerate(mm[:-1]):
        out[f"core.layers.{i // 7}.{DECODER_ORDER[i % 7]}.weight"] = inits[w].T
    out["lm_head.weight"] = inits[mm[-1][0]].T
    return out


def build(bundle: Path) -> tuple[torch.nn.Module, dict]:
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    man = json.loads((bundle / "bundle.json").read_text())
    vis, v_heads = vision_weights(bundle / "vision.onnx")
    dec = decoder_weights(bundle / "decoder.onnx", man["layers"])
    emb = numpy_helper.to_array(onnx.load(str(bundle / "embed.onnx")).graph.initializer[0])
    v_hidden = vis["tower.pre_layrnorm.weight"].shape[0]
    v_layers = 1 + max(int(k.split(".")[3]) for k in vis if k.startswith("tower.encoder.layers."))
    im = man["image"]
    vision = CLIPVisionConfig(image_size=im["size"], patch_size=im["patchSize"], hidden_size=v_hidden,
                              intermediate_size=vis["tower.encoder.layers.0.mlp.fc1.bias"].shape[0],
                              num_hidden_layers=v_layers, num_attention_heads=v_heads, projection_dim=v_hidden)
    text = LlamaConfig(vocab_size=man["vocab"], hidden_size=man["hidden"], intermediate_size=man["ffnDim"],
                       num_hidden_layers=man["layers"], num_attention_heads=man["heads"],
                       num_key_value_heads=man["kvHeads"], max_position_embeddings=man["maxPositions"],
                       hidden_act="silu", rms_norm_eps=1e-6, tie_word_embeddings=False,
                       bos_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD)
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_id=man["imageTokenId"],
                         vision_feature_layer=-1, vision_feature_select_strategy="default",
                         projector_hidden_act="gelu", image_seq_length=man["imageTokens"])
    model = LlavaForConditionalGeneration(config).eval()
    model.generation_config.pad_token_id, model.generation_config.eos_token_id = PAD, EOS
    model.generation_config.bos_token_id = BOS

    state = {}
    for k, v in vis.items():
        state[k.replace("tower.", "model.vision_tower.", 1).replace("projector.", "model.multi_modal_projector.", 1)] = v
    for k, v in dec.items():
        state[k if k == "lm_head.weight" else k.replace("core.", "model.language_model.", 1)] = v
    state["model.language_model.embed_tokens.weight"] = emb
    own = model.state_dict()
    unknown = sorted(set(state) - set(own))
    if unknown:
        raise SystemExit(f"names not in the model: {unknown[:5]}")
    for k, v in state.items():
        if tuple(own[k].shape) != v.shape:
            raise SystemExit(f"{k}: graph shape {v.shape} != model shape {tuple(own[k].shape)}")
    # Left at their initial values: weights no graph reads (CLIP's post-layernorm: LLaVA takes the
    # last layer's hidden state before it). Anything else missing is an error.
    missing = sorted(k for k in set(own) - set(state) if "post_layernorm" not in k)
    if missing:
        raise SystemExit(f"no graph weight for {missing}")
    model.load_state_dict({k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in state.items()}, strict=False)
    meta = {"image": {k: im[k] for k in ("size", "mean", "std", "resample", "resize")},
            "prompt": man["prompt"]["template"], "bosId": man["bosId"], "eosId": man["eosId"]}
    return model, meta


def _heads(g, inits, path: Path) -> int:
    """Heads from the attention reshape's shape constant [batch, tokens, heads, head_dim]."""
    for n in g.node:
        if n.op_type == "Reshape" and n.input[1] in inits:
            s = inits[n.input[1]]
            if s.ndim == 1 and len(s) == 4 and s[-1] > 0 and s[-2] > 0:
                return int(s[-2])
    raise SystemExit(f"{path}: no attention reshape to read the head count from")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("bundle", type=Path)
    p.add_argument("--out", type=Path, help="default: BUNDLE/hf")
    a = p.parse_args(argv)
    out = a.out or a.bundle / "hf"
    model, meta = build(a.bundle)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    (out / "tokenizer.json").write_bytes((a.bundle / "tokenizer.json").read_bytes())
    (out / "kneuron.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
