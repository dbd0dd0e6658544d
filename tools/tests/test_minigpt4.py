"""The minigpt4 family (docs/BUNDLE.md §9) on a random tiny MiniGPT-4 with the real module
structure and weight names, exported once through the CLI with --weights fp16.

The LLaVA parity tests of test_export.py run here unchanged against this bundle (the `bundle`
fixture below replaces conftest's): logits, taps, deltas, KV cache, padding, greedy captions,
gradients (autograd and finite differences), test vectors, readout. The export rounds the torch
model to float16 in place, so they compare the graphs with the fp16-rounded torch model at the
float32 tolerances; test_fp16_against_the_fp32_model states the tolerance against the original.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from kneuron_tools import reference as R
from kneuron_tools.fp16 import round_model_fp16
from kneuron_tools.minigpt4 import MERGE, load_minigpt4
from kneuron_tools.minigpt4_testmodel import TINY_EVA, write_tiny_minigpt4
from kneuron_tools.testvectors import normalise
from test_export import (  # noqa: F401 - collected here with this module's `bundle`
    maxdiff, pixels, test_delta_moves_exactly_the_flagged_positions, test_gradient_finite_difference,
    test_gradient_matches_autograd, test_graph_io_contract, test_greedy_captions_identical,
    test_kv_cache_steps_equal_full_prefill, test_left_padding_is_masked, test_prefill_logits_and_taps_match_torch,
    test_readout_is_the_models_weights, test_taps_at_chosen_positions, test_testvectors_reproduced_by_the_onnx_runtime,
    test_vision_and_embed_match_torch)
from test_ablation import (  # noqa: F401 - the ffn_scale parity, collected here with this module's `bundle`
    test_greedy_captions_under_ablation_identical, test_per_row_ablation_matches_torch_hooks,
    test_scale_one_delta_zero_is_bit_identical)

# The names BLIP-2's eva_vit_g.pth uses (minigpt4/models/eva_vit.py), block 0 and top level.
EVA_KEYS = {"cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias"} | {
    f"blocks.0.{k}" for k in ("norm1.weight", "norm1.bias", "attn.q_bias", "attn.v_bias", "attn.qkv.weight",
                              "attn.proj.weight", "attn.proj.bias", "norm2.weight", "norm2.bias", "mlp.fc1.weight",
                              "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias")}


class Exported:
    def __init__(self, name, paths, bundle_dir, ck, m):
        self.name, self.paths, self.dir, self.ck, self.m = name, paths, bundle_dir, ck, m
        self.site = m["activationSite"]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, torch_threads) -> Exported:
    from kneuron_tools.bundle import load_manifest
    import export_bundle

    root = tmp_path_factory.mktemp("minigpt4")
    paths = write_tiny_minigpt4(root / "ckpt")
    args = ["--family", "minigpt4", "--model", str(paths["llama"]), "--minigpt4", str(paths["minigpt4"]),
            "--vit", str(paths["vit"]), "--vit-heads", "2", "--weights", "fp16", "--out", str(root / "bundle")]
    assert export_bundle.main(args) == 0
    # The torch side of the parity tests: the same checkpoint, rounded to fp16 as the export does.
    ck = load_minigpt4(paths["llama"], paths["minigpt4"], paths["vit"], vit_heads=2)
    round_model_fp16(ck.model)
    return Exported("minigpt4", paths, root / "bundle", ck, load_manifest(root / "bundle"))


def test_weight_names_are_blip2s(bundle):
    sd = torch.load(bundle.paths["vit"], weights_only=True)
    assert EVA_KEYS <= set(sd) and not any(k.startswith("blocks.0.") and k not in EVA_KEYS for k in sd)
    assert set(torch.load(bundle.paths["minigpt4"], weights_only=True)["model"]) == {"llama_proj.weight", "llama_proj.bias"}
    own = bundle.ck.model.state_dict()
    assert {f"visual_encoder.{k}" for k in EVA_KEYS} | {"ln_vision.weight", "llama_proj.weight",
                                                        "llama_model.lm_head.weight"} <= set(own)


def test_manifest_token_grid(bundle):
    m, g = bundle.m, TINY_EVA.grid
    im = m["image"]
    assert (im["size"], im["patchSize"], im["patchGrid"]) == (64, 8, [g, g])
    assert im["mergeFactor"] == [1, MERGE] and im["tokenGrid"] == [g, g // MERGE] and im["clsTokens"] == 0
    assert m["imageTokens"] == g * g // MERGE == 16
    assert (im["resample"], im["resize"]) == ("bicubic", "squash")
    assert im["mean"] == [0.48145466, 0.4578275, 0.40821073] and im["std"] == [0.26862954, 0.26130258, 0.27577711]
    assert m["prompt"]["template"] == "[INST] <Img><image></Img> Describe this image in detail. [/INST] "
    tok = bundle.ck.tokenizer
    assert m["prompt"]["prefixIds"] == [1] + tok.encode("[INST] <Img>", add_special_tokens=False).ids
    assert m["prompt"]["suffixIds"] == tok.encode("</Img> Describe this image in detail. [/INST] ",
                                                  add_special_tokens=False).ids
    assert (m["bosId"], m["eosId"], m["family"]) == (1, 2, "minigpt4")


def test_merge_is_four_raster_consecutive_patches(bundle):
    """Token (r, c) of the [g, g/4] grid is patches (r, 4c) .. (r, 4c+3) concatenated in that order."""
    model = bundle.ck.model
    px = pixels(bundle, 2, seed=3)
    with torch.no_grad():
        h = model.ln_vision(model.visual_encoder(px))[:, 1:]
        g = TINY_EVA.grid
        grid = h.reshape(2, g, g, -1)                                   # [B, row, col, dim]
        tokens = [torch.cat([grid[:, r, MERGE * c + i] for i in range(MERGE)], dim=-1)
                  for r in range(g) for c in range(g // MERGE)]
        expected = model.llama_proj(torch.stack(tokens, dim=1))
        assert torch.equal(model.encode_img(px), expected)
        # A 2×2-block merge would be a different model: make sure the test can tell.
        blocks = [torch.cat([grid[:, 2 * r + i, 2 * c + j] for i in range(2) for j in range(2)], dim=-1)
                  for r in range(g // 2) for c in range(g // 2)]
        assert maxdiff(model.llama_proj(torch.stack(blocks, dim=1)), expected) > 1e-2


def test_pattern_lights_its_heatmap_cells(bundle, runner_for):
    """A pattern confined to one region of the image changes the FFN activations most at the image
    tokens the manifest's token grid places over that region (rows 2-3, token column 1 of [8, 2])."""
    r = runner_for(bundle)
    im = bundle.m["image"]
    S, ps = im["size"], im["patchSize"]
    (rows, cols), (mr, mc) = im["tokenGrid"], im["mergeFactor"]
    base = np.full((1, S, S, 3), 128, np.uint8)
    pat = base.copy()
    y0, y1, x0, x1 = 2 * ps, 4 * ps, 4 * ps, 8 * ps                    # patch rows 2-3, patch cols 4-7
    yy, xx = np.mgrid[y0:y1, x0:x1]
    pat[0, y0:y1, x0:x1] = (((yy // 2 + xx // 2) % 2) * 255)[..., None]  # a checkerboard
    imgs = np.concatenate([base, pat])
    _, act, _ = r.prefill(normalise(imgs, im["mean"], im["std"]).numpy())
    change = np.linalg.norm(act[1] - act[0], axis=(0, 2))              # [P]: over layers and neurons
    hot = sorted(np.argsort(-change)[:2].tolist())
    cells = [(p // cols, p % cols) for p in hot]
    rects = [(rr * mr * ps, (rr + 1) * mr * ps, cc * mc * ps, (cc + 1) * mc * ps) for rr, cc in cells]
    print(f"[minigpt4] hottest tokens {hot} cells {cells}, change {np.round(np.sort(change)[::-1][:4], 3)}")
    assert rects == [(y0, y0 + ps, x0, x1), (y0 + ps, y1, x0, x1)]
    assert change[hot].min() > 2 * np.delete(change, hot).max()


def test_fp16_against_the_fp32_model(bundle, runner_for):
    """The fp16-weight bundle against the original float32 model (fresh from the same files)."""
    r = runner_for(bundle)
    p = bundle.paths
    ck32 = load_minigpt4(p["llama"], p["minigpt4"], p["vit"], vit_heads=2)
    px = pixels(bundle, 3, seed=5)
    logits, act, _ = r.prefill(px.numpy())
    ref_logits, ref_act = R.prefill(ck32, bundle.site, px)
    s, P = r.image_start, bundle.m["imageTokens"]
    el, ea = maxdiff(logits, ref_logits), maxdiff(act, ref_act[:, :, s:s + P])
    rl, ra = el / float(ref_logits.abs().max()), ea / float(ref_act.abs().max())
    print(f"[minigpt4 fp16 vs fp32] logits {el:.2e} ({rl:.2e} of max), taps {ea:.2e} ({ra:.2e} of max)")
    assert 0 < rl < 2e-3 and 0 < ra < 2e-3
    # Every weight matrix of the decoder is stored as float16.
    g = onnx.load(str(bundle.dir / "decoder.onnx")).graph
    n16 = sum(int(np.prod(i.dims)) for i in g.initializer if i.data_type == onnx.TensorProto.FLOAT16)
    mats = [*ck32.model.llama_model.model.layers.parameters(), ck32.model.lm_head.weight]
    assert n16 >= sum(t.numel() for t in mats if t.numel() >= 1024) > 0


def test_fp16_graph_over_the_protobuf_limit_uses_external_data(bundle, tmp_path, monkeypatch):
    """Graphs whose weights pass 2 GB (every 7B graph) are saved with one external data file."""
    import shutil

    import onnxruntime as ort

    from kneuron_tools import fp16

    shutil.copy(bundle.dir / "vision.onnx", tmp_path / "vision.onnx")
    monkeypatch.setattr(fp16, "TWO_GB", 1 << 20)   # this tiny graph's weights count as "over the limit"
    assert fp16.store_weights_fp16(tmp_path / "vision.onnx") == ["vision.onnx", "vision.onnx.data"]
    x = pixels(bundle, 2, seed=9).numpy()
    run = lambda p: ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, {"pixel_values": x})[0]  # noqa: E731
    assert np.array_equal(run(tmp_path / "vision.onnx"), run(bundle.dir / "vision.onnx"))
    inits = onnx.load(str(bundle.dir / "vision.onnx")).graph.initializer
    n16 = sum(int(np.prod(i.dims)) for i in inits if i.data_type == onnx.TensorProto.FLOAT16)
    assert (tmp_path / "vision.onnx.data").stat().st_size >= 2 * n16 > 0


def test_refuses_incomplete_checkpoints(bundle, tmp_path):
    from kneuron_tools.checkpoint import CheckpointError

    p = bundle.paths
    sd = torch.load(p["vit"], weights_only=True)
    del sd["blocks.1.attn.q_bias"]
    torch.save(sd, tmp_path / "vit.pth")
    with pytest.raises(CheckpointError, match=r"vit\.pth: missing tensors: blocks\.1\.attn\.q_bias"):
        load_minigpt4(p["llama"], p["minigpt4"], tmp_path / "vit.pth", vit_heads=2)
    torch.save({"model": {"llama_proj.weight": torch.zeros(3, 3), "llama_proj.bias": torch.zeros(3)}}, tmp_path / "m.pth")
    with pytest.raises(CheckpointError, match=r"m\.pth: tensor llama_proj\.weight has shape \[3, 3\], the model needs \[64, 128\]"):
        load_minigpt4(p["llama"], tmp_path / "m.pth", p["vit"], vit_heads=2)
    with pytest.raises(CheckpointError, match="not divisible into 3 heads"):
        load_minigpt4(p["llama"], p["minigpt4"], p["vit"], vit_heads=3)
