"""The torch-free BERTScore encoder (tools/build_minilm_onnx.py, what setup builds into .cache/minilm)
against the torch export (tools/export_minilm.py) and torch itself: same identity, same outputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")

import build_minilm_onnx  # noqa: E402
import export_minilm  # noqa: E402

SENTENCES = [
    "a dog runs on the grass",
    "two cats",
    "a red bus parked next to a building .",
    "",
    "Σ ΣΑΣ café 東京 🐻 3.14",
    "a bear " * 80,  # longer than the others: padding on every other row
]


@pytest.fixture(scope="module")
def built(tmp_path_factory, torch_threads):
    root = tmp_path_factory.mktemp("minilm")
    light = build_minilm_onnx.build(root / "light")
    exported = export_minilm.export(root / "torch")
    return root, light, exported


def _run(path, ids, mask, level):
    so = ort.SessionOptions()
    so.graph_optimization_level = level
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return sess.run(None, {"input_ids": ids, "attention_mask": mask})[0]


def _batch():
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(build_minilm_onnx.pkg.get_model_path()))
    b = tok(SENTENCES, padding=True, return_tensors="np")
    return b["input_ids"].astype(np.int64), b["attention_mask"].astype(np.int64)


def test_same_identity_and_tokenizer_as_the_torch_export(built):
    root, light, exported = built
    assert light["encoder"] == exported["encoder"]
    assert light["files"]["tokenizer.json"] == exported["files"]["tokenizer.json"]
    assert light["exporter"]["builder"] == "tools/build_minilm_onnx.py"
    assert json.loads((root / "light" / "manifest.json").read_text()) == light


@pytest.mark.parametrize("level", ["ORT_DISABLE_ALL", "ORT_ENABLE_ALL"])
def test_matches_the_torch_export_to_1e5(built, level):
    root, _, _ = built
    ids, mask = _batch()
    lvl = getattr(ort.GraphOptimizationLevel, level)
    light = _run(root / "light" / "encoder.onnx", ids, mask, lvl)
    ref = _run(root / "torch" / "encoder.onnx", ids, mask, lvl)
    real = mask.astype(bool)
    assert light.shape == ref.shape == (len(SENTENCES), ids.shape[1], 384)
    err = float(np.abs(light - ref)[real].max())
    print(f"light vs torch export ({level}): max abs diff {err:.3g} on real tokens")
    assert err <= 1e-5


def test_matches_torch_bertmodel(built, torch_threads):
    from transformers import AutoModel

    root, _, _ = built
    ids, mask = _batch()
    model = AutoModel.from_pretrained(str(build_minilm_onnx.pkg.get_model_path()), attn_implementation="eager").eval()
    with torch.no_grad():
        ref = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))[0].numpy()
    got = _run(root / "light" / "encoder.onnx", ids, mask, ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
    err = float(np.abs(got - ref)[mask.astype(bool)].max())
    print(f"light vs torch BertModel: max abs diff {err:.3g} on real tokens")
    assert err <= 1e-5


def test_build_is_deterministic(built, tmp_path):
    root, light, _ = built
    again = build_minilm_onnx.build(tmp_path / "again")
    assert again["files"] == light["files"]


def test_rejects_an_unsupported_config():
    weights = {}
    with pytest.raises(SystemExit, match="hidden_act=relu"):
        build_minilm_onnx.build_model(weights, {"hidden_size": 384, "num_attention_heads": 12, "layer_norm_eps": 1e-12,
                                               "hidden_act": "relu", "num_hidden_layers": 6})
