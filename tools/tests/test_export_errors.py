"""Bad bundles and bad checkpoints are refused with one clear message; export is deterministic."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kneuron_tools.bundle import BundleError, load_manifest, sha256_file
from kneuron_tools.checkpoint import CheckpointError, load_checkpoint

EXPORTER = Path(__file__).resolve().parents[1] / "export_bundle.py"


def edit_manifest(d: Path, fn) -> None:
    m = json.loads((d / "bundle.json").read_text())
    fn(m)
    (d / "bundle.json").write_text(json.dumps(m))


def flip_byte(p: Path) -> None:
    b = bytearray(p.read_bytes())
    b[len(b) // 2] ^= 0x01
    p.write_bytes(bytes(b))


CASES = {
    "missing file": (lambda d: (d / "gradient.onnx").unlink(), r"gradient\.onnx: missing \(listed in bundle\.json\)"),
    "no manifest": (lambda d: (d / "bundle.json").unlink(), r"bundle\.json: missing"),
    "sha256 mismatch": (lambda d: flip_byte(d / "tokenizer.json"), r"tokenizer\.json: sha256 [0-9a-f]{64} does not match"),
    "size mismatch": (lambda d: (d / "vision.onnx").open("ab").write(b"\0"), r"vision\.onnx: size \d+ bytes, bundle\.json says"),
    "format version": (lambda d: edit_manifest(d, lambda m: m.update(formatVersion=2)),
                       r"format version 2 is not supported \(this runtime reads 1\)"),
    "schema": (lambda d: edit_manifest(d, lambda m: m.update(family="gpt2")), r"invalid manifest at family"),
    "image tokens": (lambda d: edit_manifest(d, lambda m: m.update(imageTokens=17)),
                     r"inconsistent dimensions: imageTokens 17 does not match tokenGrid"),
    "ffn width": (lambda d: edit_manifest(d, lambda m: m.update(ffnDim=100)),
                  r"inconsistent dimensions: tensor w_out\.0 has shape \[64, 128\], bundle\.json implies \[64, 100\]"),
    "prompt id": (lambda d: edit_manifest(d, lambda m: m["prompt"]["suffixIds"].append(m["vocab"])),
                  r"prompt\.suffixIds\[\d+\] \d+ is not < vocab"),
    "unlisted required": (lambda d: edit_manifest(d, lambda m: m["files"].pop("embed.onnx")),
                          r"files does not list required embed\.onnx"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_bundle_is_refused(tiny_bundle, tmp_path, case):
    d = tmp_path / "b"
    shutil.copytree(tiny_bundle.dir, d)
    load_manifest(d)  # the copy is valid before the damage
    damage, message = CASES[case]
    damage(d)
    with pytest.raises(BundleError, match=message):
        load_manifest(d)


def test_checkpoint_problems_are_named(tiny_bundle, llava_bundle, tmp_path):
    with pytest.raises(CheckpointError, match=r"kneuron\.json: missing \(required for family 'tiny'\)"):
        load_checkpoint(llava_bundle.ckpt_dir, "tiny")
    with pytest.raises(CheckpointError, match=r"must contain exactly one <image>"):
        load_checkpoint(tiny_bundle.ckpt_dir, "tiny", prompt="<image> and <image>")
    bad = tmp_path / "gelu"
    shutil.copytree(tiny_bundle.ckpt_dir, bad)
    cfg = json.loads((bad / "config.json").read_text())
    cfg["text_config"]["hidden_act"] = "gelu"
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=r"unsupported model: text_config\.hidden_act is 'gelu'"):
        load_checkpoint(bad, "tiny")


def test_cli_export_is_deterministic(tiny_bundle, tmp_path):
    """A second export of the same checkpoint, from the command line, is byte-identical."""
    out = tmp_path / "again"
    proc = subprocess.run([sys.executable, str(EXPORTER), "--family", "tiny", "--model", str(tiny_bundle.ckpt_dir),
                           "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "bundle.json").read_bytes() == (tiny_bundle.dir / "bundle.json").read_bytes()
    for name in tiny_bundle.m["files"]:
        assert sha256_file(out / name) == sha256_file(tiny_bundle.dir / name), name


def test_cli_reports_a_bad_checkpoint(llava_bundle, tmp_path):
    proc = subprocess.run([sys.executable, str(EXPORTER), "--family", "tiny", "--model", str(llava_bundle.ckpt_dir),
                           "--out", str(tmp_path / "x")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "kneuron.json: missing" in proc.stderr
    assert not (tmp_path / "x").exists()
