"""models/tiny/hf holds the HF weights of the committed bundle, so an exporter change re-exports
without retraining. Re-export them and compare with the committed bundle: the torch test
vectors (computed from the weights) must be the committed ones, and the committed and fresh
ONNX graphs must agree on them."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "models" / "tiny"
# tools/train_tiny.py --export writes hf/; the v1 bundle's was recovered from its graphs
# (tools/bundle_to_hf.py). A bundle without hf/ cannot be checked.
pytestmark = pytest.mark.skipif(not (BUNDLE / "hf" / "model.safetensors").exists(),
                                reason="models/tiny has no hf/ weights")


@pytest.fixture(scope="module")
def fresh(tmp_path_factory, torch_threads) -> Path:
    from kneuron_tools.checkpoint import load_checkpoint
    from kneuron_tools.export import export_bundle

    out = tmp_path_factory.mktemp("reexport") / "tiny"
    export_bundle(load_checkpoint(BUNDLE / "hf", "tiny"), out, json.loads((BUNDLE / "bundle.json").read_text())
                  ["activationSite"], testvectors=True)
    return out


def test_weights_are_the_committed_models(fresh: Path):
    committed = load_file(str(BUNDLE / "testvectors" / "vectors.safetensors"))
    again = load_file(str(fresh / "testvectors" / "vectors.safetensors"))
    assert committed.keys() == again.keys()
    for k in committed:
        np.testing.assert_allclose(again[k], committed[k], atol=1e-5, rtol=1e-5, err_msg=k)
    meta = lambda d: json.loads((d / "testvectors" / "vectors.json").read_text())
    assert meta(fresh)["captions"] == meta(BUNDLE)["captions"]
    assert (fresh / "tokenizer.json").read_bytes() == (BUNDLE / "tokenizer.json").read_bytes()
    assert (fresh / "readout.safetensors").read_bytes() == (BUNDLE / "readout.safetensors").read_bytes()
    fields = ("layers", "ffnDim", "imageTokens", "vocab", "activationSite", "prompt", "image")
    m0, m1 = (json.loads((d / "bundle.json").read_text()) for d in (BUNDLE, fresh))
    assert {k: m0[k] for k in fields} == {k: m1[k] for k in fields}


def test_committed_and_fresh_graphs_agree(fresh: Path):
    from kneuron_tools.ortrun import BundleRunner

    tv = load_file(str(BUNDLE / "testvectors" / "vectors.safetensors"))
    px = tv["pixel_values"]
    old, new = BundleRunner(BUNDLE), BundleRunner(fresh)
    np.testing.assert_allclose(new.image_embeds(px), old.image_embeds(px), atol=1e-4)
    (l0, a0, _), (l1, a1, _) = old.prefill(px), new.prefill(px)
    np.testing.assert_allclose(l1, l0, atol=1e-4)
    np.testing.assert_allclose(a1, a0, atol=1e-4)
    assert new.greedy(px, 12) == old.greedy(px, 12)
    g = json.loads((BUNDLE / "testvectors" / "vectors.json").read_text())["gradient"]
    z0, _, grad0 = old.gradient(px, g["captionPrefix"], g["targetId"])
    z1, _, grad1 = new.gradient(px, g["captionPrefix"], g["targetId"])
    np.testing.assert_allclose(z1, z0, atol=1e-4)
    np.testing.assert_allclose(grad1, grad0, atol=1e-4 * max(1.0, float(np.abs(grad0).max())))
