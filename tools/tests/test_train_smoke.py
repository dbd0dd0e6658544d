"""Smoke tests for tools/train_tiny.py: a few steps of a very small model on a handful of real
synthetic scenes (core/data's generator), loss goes down, evaluation and export work.

The full retrain (models/tiny/TRAINING.md) is too slow for CI; this checks the same code path.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import train_tiny as tt  # noqa: E402

# A model small enough to train in seconds; the real defaults live in train_tiny.Config.
SMALL = ["--v-hidden", "32", "--v-layers", "1", "--v-heads", "2", "--hidden", "32", "--layers", "2",
         "--ffn", "64", "--heads", "2", "--batch", "8", "--lr", "3e-3", "--warmup", "3", "--vision-steps", "10"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    subprocess.run(["npx", "tsx", "cli/main.ts", "data", "synth", "--out", str(out), "--seed", "7",
                    "--split", "train", "val", "experiment",
                    "--size", "train=24", "--size", "val=4", "--size", "experiment=4"],
                   cwd=ROOT, check=True, capture_output=True)
    return out


def test_train_eval_export(data: Path, tmp_path: Path):
    ck, bundle = tmp_path / "ck", tmp_path / "bundle"
    assert tt.main(["--data", str(data), "--steps", "40", "--out", str(ck), *SMALL]) == 0
    report = json.loads((ck / "training_report.json").read_text())
    losses = report["losses_every_10"]
    assert losses[-1] < 0.7 * losses[0], losses                       # caption loss, steps 0 and 30
    ev = report["evaluation"]
    assert ev["val_images"] == 4 and ev["experiment_samples_n"] == 4   # experiment: first 4 are samples
    for k in ("val_object_recall", "heldout_object_recall", "constraint_share"):
        assert 0.0 <= ev[k] <= 1.0
    assert (ck / "loss.png").stat().st_size > 1000
    assert "python tools/train_tiny.py" in (ck / "TRAINING.md").read_text()

    # The checkpoint is what docs/BUNDLE.md asks for, and the exporter accepts it.
    kn = json.loads((ck / "kneuron.json").read_text())
    assert kn["prompt"].count("<image>") == 1 and kn["image"]["size"] == 64
    res = subprocess.run([sys.executable, "tools/export_bundle.py", "--family", "tiny", "--model", str(ck),
                          "--out", str(bundle), "--no-testvectors"], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    manifest = json.loads((bundle / "bundle.json").read_text())
    vocab = json.loads((ck / "tokenizer.json").read_text())["model"]["vocab"]
    assert manifest["vocab"] == len(vocab)
    assert (manifest["imageTokens"], manifest["ffnDim"], manifest["layers"]) == (64, 64, 2)
    assert manifest["imageTokenId"] == vocab["<image>"] and manifest["eosId"] == vocab["<eos>"]


def test_same_seed_same_losses(data: Path):
    """Fixed seeds + one generator for order, captions and augmentation: a rerun is identical."""
    args = tt.Config(data=str(data), vision_steps=3, steps=3, batch=8, v_hidden=32, v_layers=1, v_heads=2,
                     hidden=32, layers=1, ffn=64, heads=2)
    split = tt.load_split(data, "train", args.image_size)
    tok = tt.build_tokenizer([c for cs in split.captions for c in cs])

    def run() -> list[float]:
        torch.manual_seed(0)
        return tt.train(args, tt.build_model(args, tok.get_vocab_size()), tok, split)

    assert run() == run()


def test_prompt_ids_follow_bundle_convention(data: Path):
    split = tt.load_split(data, "train", 64)
    tok = tt.build_tokenizer([c for cs in split.captions for c in cs])
    ids = tt.prompt_ids(tok, 64)
    assert ids[0] == tt.BOS and ids[1:65] == [tt.IMAGE] * 64
    assert tok.decode(ids[65:]) == "describe :"
    ids, mask, labels = tt.encode_batch(tok, tt.prompt_ids(tok, 64), ["the image shows a bear on the grass ."])
    assert (labels[0, :67] == -100).all() and labels[0, -1] == tt.EOS   # loss on caption + eos only
    assert tok.decode(labels[0, 67:-1].tolist()) == "the image shows a bear on the grass ."


def test_mentions_match_core_data_rules():
    m = tt.Mentions(tt.surface_forms())
    assert m.concepts("the image shows a teddy bear on the floor .") == {"teddy bear"}
    assert m.concepts("a ball next to two bears") == {"sports ball", "bear"}
    assert m.concepts("the image shows a hot dog .") == {"hot dog"}


def test_missing_split_is_a_clear_error(tmp_path: Path):
    with pytest.raises(tt.DataError, match="instances_val.json: missing"):
        tt.load_split(tmp_path, "val", 64)
