"""Shared pytest setup for tools/: import path, a small thread budget, exported tiny bundles.

Bundles are exported once per session (they are what most tests inspect).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[1]
if str(TOOLS) not in sys.path:
    sys.path.insert(0, str(TOOLS))


@pytest.fixture(scope="session")
def torch_threads():
    import torch

    torch.set_num_threads(2)  # the test machine has 2 shared cores


# Two variants cover both families, both activation sites, GQA and plain MHA, CLS dropped and kept.
VARIANTS = {
    "tiny": dict(family="tiny", kv_heads=2, select_strategy="default", site="down_proj_input"),
    "llava": dict(family="llava", kv_heads=4, select_strategy="full", site="act_fn"),
}


class Exported:
    def __init__(self, name, ckpt_dir, bundle_dir, ck, manifest):
        self.name, self.ckpt_dir, self.dir, self.ck, self.m = name, ckpt_dir, bundle_dir, ck, manifest
        self.site = manifest["activationSite"]


def _export(name: str, root: Path) -> Exported:
    from kneuron_tools.checkpoint import load_checkpoint
    from kneuron_tools.export import export_bundle
    from kneuron_tools.testmodel import write_tiny_checkpoint

    v = VARIANTS[name]
    ckpt = write_tiny_checkpoint(root / f"ckpt-{name}", family=v["family"], kv_heads=v["kv_heads"],
                                 select_strategy=v["select_strategy"])
    ck = load_checkpoint(ckpt, v["family"])
    m = export_bundle(ck, root / f"bundle-{name}", v["site"])
    return Exported(name, ckpt, root / f"bundle-{name}", ck, m)


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory, torch_threads) -> Exported:
    return _export("tiny", tmp_path_factory.mktemp("export"))


@pytest.fixture(scope="session")
def llava_bundle(tmp_path_factory, torch_threads) -> Exported:
    return _export("llava", tmp_path_factory.mktemp("export"))


@pytest.fixture(scope="session", params=["tiny", "llava"])
def bundle(request) -> Exported:
    return request.getfixturevalue(f"{request.param}_bundle")


@pytest.fixture(scope="session")
def runner_for():
    from kneuron_tools.ortrun import BundleRunner

    cache = {}

    def get(b: Exported) -> BundleRunner:
        if b.name not in cache:
            cache[b.name] = BundleRunner(b.dir, threads=2)
        return cache[b.name]

    return get


@pytest.fixture(scope="session")
def committed_bundle(torch_threads) -> Exported:
    """The committed models/tiny with its HF weights (hf/): parity on the default model itself."""
    import json

    from kneuron_tools.checkpoint import load_checkpoint

    d = TOOLS.parent / "models" / "tiny"
    if not (d / "hf" / "model.safetensors").exists():
        pytest.skip("models/tiny has no hf/ weights")
    return Exported("committed", d / "hf", d, load_checkpoint(d / "hf", "tiny"), json.loads((d / "bundle.json").read_text()))
