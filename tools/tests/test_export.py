"""onnxruntime vs torch for every graph of exported tiny LLaVA bundles (docs/BUNDLE.md §6)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from kneuron_tools import reference as R
from kneuron_tools.export import onnx_io
from kneuron_tools.testvectors import normalise, synthetic_images

TOL = 1e-4  # absolute, float32


def pixels(b, n=2, seed=0):
    imgs = synthetic_images(b.m["image"]["size"], n) if seed == 0 else \
        np.random.default_rng(seed).integers(0, 256, (n, b.m["image"]["size"], b.m["image"]["size"], 3), dtype=np.uint8)
    return normalise(imgs, b.m["image"]["mean"], b.m["image"]["std"])


def maxdiff(a, b) -> float:
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max())


def test_graph_io_contract(bundle):
    """The names, dtypes and shapes docs/BUNDLE.md §4 promises the runtime."""
    m = bundle.m
    S, P, H, L, D, V = m["image"]["size"], m["imageTokens"], m["hidden"], m["layers"], m["ffnDim"], m["vocab"]
    kv, hd = m["kvHeads"], m["headDim"]
    io = {g: onnx_io(bundle.dir / f"{g}.onnx") for g in ("vision", "embed", "decoder", "gradient")}
    assert io["vision"] == {"inputs": {"pixel_values": ("float32", ["batch", 3, S, S])},
                            "outputs": {"image_embeds": ("float32", ["batch", P, H])}}
    assert io["embed"] == {"inputs": {"input_ids": ("int64", ["batch", "sequence"])},
                           "outputs": {"inputs_embeds": ("float32", ["batch", "sequence", H])}}
    dec_in = {"inputs_embeds": ("float32", ["batch", "sequence", H]),
              "attention_mask": ("int64", ["batch", "past + sequence"]),
              "position_ids": ("int64", ["batch", "sequence"]),
              "delta_mask": ("float32", ["batch", "sequence"]),
              "ffn_delta": ("float32", ["batch", L, D]),
              "ffn_scale": ("float32", ["batch", L, D]),
              "tap_positions": ("int64", ["taps"]),
              "logits_positions": ("int64", ["logit_positions"])}
    dec_out = {"logits": ("float32", ["batch", "logit_positions", V]), "ffn_act": ("float32", ["batch", L, "taps", D])}
    for l in range(L):
        for k in ("key", "value"):
            dec_in[f"past_key_values.{l}.{k}"] = ("float32", ["batch", kv, "past", hd])
            dec_out[f"present.{l}.{k}"] = ("float32", ["batch", kv, "sequence + past", hd])
    assert io["decoder"] == {"inputs": dec_in, "outputs": dec_out}
    assert io["gradient"] == {
        "inputs": {"inputs_embeds": ("float32", [1, "sequence", H]), "attention_mask": ("int64", [1, "sequence"]),
                   "position_ids": ("int64", [1, "sequence"]), "image_start": ("int64", []),
                   "target_pos": ("int64", []), "target_id": ("int64", [])},
        "outputs": {"z": ("float32", [1]), "act": ("float32", [L, P, D]), "grad": ("float32", [L, P, D])}}


def test_vision_and_embed_match_torch(bundle, runner_for):
    r = runner_for(bundle)
    px = pixels(bundle, 3, seed=7)
    assert maxdiff(r.image_embeds(px.numpy()), R.image_embeds(bundle.ck, px)) < TOL
    ids = np.array([[1, 5, 9, 2], [3, 3, 0, 7]], np.int64)
    ref = bundle.ck.model.get_input_embeddings()(torch.from_numpy(ids)).detach().numpy()
    assert np.array_equal(r.embed(ids), ref)


def test_prefill_logits_and_taps_match_torch(bundle, runner_for):
    r = runner_for(bundle)
    px = pixels(bundle)
    logits, act, _ = r.prefill(px.numpy())
    ref_logits, ref_act = R.prefill(bundle.ck, bundle.site, px)
    s, P = r.image_start, bundle.m["imageTokens"]
    assert logits.shape == tuple(ref_logits.shape)
    assert act.shape == (2, bundle.m["layers"], P, bundle.m["ffnDim"])
    assert maxdiff(logits, ref_logits) < TOL
    assert maxdiff(act, ref_act[:, :, s:s + P]) < TOL


def test_delta_moves_exactly_the_flagged_positions(bundle, runner_for):
    """A delta on an arbitrary subset of positions equals the torch hook; unflagged earlier positions
    and a zero-delta row of the same batch stay exactly as without delta."""
    r = runner_for(bundle)
    m = bundle.m
    px = pixels(bundle)
    emb = r.prompt_embeds(r.image_embeds(px.numpy()))
    b, t, _ = emb.shape
    flagged = [r.image_start + 1, r.image_start + 4, t - 1]
    dmask = np.zeros((b, t), np.float32)
    dmask[:, flagged] = 1
    delta = np.random.default_rng(3).normal(0, 2.0, (b, m["layers"], m["ffnDim"])).astype(np.float32)
    delta[0] = 0.0  # row 0 gets no noise: it must equal the clean run
    mask, pos = np.ones((b, t)), np.tile(np.arange(t), (b, 1))
    base_logits, base_act, _ = r.decode_step(emb, mask, pos, r.empty_past(b), taps=np.arange(t))
    logits, act, _ = r.decode_step(emb, mask, pos, r.empty_past(b), dmask, delta, taps=np.arange(t))

    np.testing.assert_array_equal(logits[0], base_logits[0])
    np.testing.assert_array_equal(act[0], base_act[0])
    first = flagged[0]
    np.testing.assert_array_equal(act[1, :, :first], base_act[1, :, :first])        # causal: untouched
    np.testing.assert_array_equal(logits[1, :first], base_logits[1, :first])
    # Layer 0 sees no upstream change at the flagged positions: the shift is exactly the delta.
    shift = act[1, 0, flagged] - base_act[1, 0, flagged]
    assert maxdiff(shift, np.broadcast_to(delta[1, 0], shift.shape)) < 1e-5
    unflagged = [p for p in range(first, t) if p not in flagged]
    np.testing.assert_allclose(act[1, 0, unflagged], base_act[1, 0, unflagged], atol=1e-6)
    # Against torch with the same flags through HF hooks.
    ref_logits, ref_act = R.prefill(bundle.ck, bundle.site, px, torch.from_numpy(delta), torch.from_numpy(dmask))
    assert maxdiff(logits, ref_logits) < TOL
    assert maxdiff(act, ref_act) < TOL


def test_taps_at_chosen_positions(bundle, runner_for):
    """tap_positions picks rows of A (any order, repeats allowed); none requested gives an empty tap."""
    r = runner_for(bundle)
    emb = r.prompt_embeds(r.image_embeds(pixels(bundle).numpy()))
    b, t, _ = emb.shape
    args = (emb, np.ones((b, t)), np.tile(np.arange(t), (b, 1)), r.empty_past(b))
    _, full, _ = r.decode_step(*args, taps=np.arange(t))
    _, some, _ = r.decode_step(*args, taps=np.array([t - 1, 2, 2]))
    np.testing.assert_array_equal(some, full[:, :, [t - 1, 2, 2]])
    _, none, _ = r.decode_step(*args, taps=np.array([], np.int64))
    assert none.shape == (b, bundle.m["layers"], 0, bundle.m["ffnDim"])


def test_logits_at_chosen_positions(bundle, runner_for):
    """logits_positions picks rows of the logits (any order, repeats allowed), bit for bit: the head
    runs per position, so computing fewer positions changes nothing."""
    r = runner_for(bundle)
    emb = r.prompt_embeds(r.image_embeds(pixels(bundle).numpy()))
    b, t, _ = emb.shape
    args = (emb, np.ones((b, t)), np.tile(np.arange(t), (b, 1)), r.empty_past(b))
    full, _, _ = r.decode_step(*args)
    assert full.shape == (b, t, bundle.m["vocab"])
    some, _, _ = r.decode_step(*args, logits_at=np.array([t - 1, 0, 0]))
    np.testing.assert_array_equal(some, full[:, [t - 1, 0, 0]])


def test_kv_cache_steps_equal_full_prefill(bundle, runner_for):
    r = runner_for(bundle)
    px = pixels(bundle)
    emb = r.prompt_embeds(r.image_embeds(px.numpy()), caption_prefix=[5, 8, 13])
    b, t, _ = emb.shape
    full, _, _ = r.decode_step(emb, np.ones((b, t)), np.tile(np.arange(t), (b, 1)), r.empty_past(b))
    split = t - 3
    logits, _, past = r.decode_step(emb[:, :split], np.ones((b, split)), np.tile(np.arange(split), (b, 1)), r.empty_past(b))
    steps = [logits]
    for p in range(split, t):
        logits, _, past = r.decode_step(emb[:, p:p + 1], np.ones((b, p + 1)), np.full((b, 1), p), past)
        steps.append(logits)
    assert maxdiff(np.concatenate(steps, axis=1), full) < TOL


def test_left_padding_is_masked(bundle, runner_for):
    """A left-padded row (attention_mask 0, shifted positions) gives the unpadded row's logits."""
    r = runner_for(bundle)
    emb = r.prompt_embeds(r.image_embeds(pixels(bundle, 1).numpy()))
    t = emb.shape[1]
    ref, _, _ = r.decode_step(emb, np.ones((1, t)), np.arange(t)[None], r.empty_past(1))
    pad = 3
    emb_p = np.concatenate([np.zeros((1, pad, emb.shape[2]), np.float32), emb], axis=1)
    mask = np.concatenate([np.zeros((1, pad)), np.ones((1, t))], axis=1)
    pos = np.concatenate([np.zeros((1, pad)), np.arange(t)[None]], axis=1)
    out, _, _ = r.decode_step(emb_p, mask, pos, r.empty_past(1))
    assert np.isfinite(out).all()
    assert maxdiff(out[:, pad:], ref) < TOL


@pytest.mark.parametrize("with_delta", [False, True])
def test_greedy_captions_identical(bundle, runner_for, with_delta):
    r = runner_for(bundle)
    px = pixels(bundle, 3, seed=11)
    delta = None
    if with_delta:
        _, act = R.prefill(bundle.ck, bundle.site, px)
        delta = torch.randn(3, bundle.m["layers"], bundle.m["ffnDim"], generator=torch.Generator().manual_seed(5)) \
            * 3 * act.std()
    ref = R.greedy(bundle.ck, bundle.site, px, 12, delta)
    got = r.greedy(px.numpy(), 12, None if delta is None else delta.numpy())
    assert got == ref
    if with_delta:
        assert got != R.greedy(bundle.ck, bundle.site, px, 12), "the delta should change some caption"


def _grad_case(bundle, prefix_len):
    cap = R.greedy(bundle.ck, bundle.site, pixels(bundle), 8)[0] + [7, 9, 11, 13]
    return cap[:prefix_len], cap[prefix_len]


@pytest.mark.parametrize("prefix_len", [0, 4])
def test_gradient_matches_autograd(bundle, runner_for, prefix_len):
    r = runner_for(bundle)
    px = pixels(bundle)
    prefix, target = _grad_case(bundle, prefix_len)
    z, act, grad = r.gradient(px.numpy(), prefix, target)
    zr, ar, gr, _ = R.gradient(bundle.ck, bundle.site, px, prefix, target)
    assert abs(float(z[0]) - float(zr[0])) < TOL
    assert maxdiff(act, ar) < TOL
    rel = maxdiff(grad, gr) / float(gr.abs().max())
    print(f"[{bundle.name} prefix {prefix_len}] z err {abs(float(z[0]) - float(zr[0])):.2e}, "
          f"act err {maxdiff(act, ar):.2e}, grad max rel err {rel:.2e}")
    assert float(gr.abs().max()) > 0
    assert rel < 1e-4


def test_gradient_finite_difference(bundle, runner_for):
    """Central differences in float64 at the largest-|grad| entries. HF's eager attention and
    RMSNorm compute in float32 even in a double model, so the differences run through the
    exporter's functional decoder in float64 (its forward is checked against HF above)."""
    from kneuron_tools.graphs import LlamaCore

    r = runner_for(bundle)
    px = pixels(bundle)
    prefix, target = _grad_case(bundle, 2)
    _, _, grad = r.gradient(px.numpy(), prefix, target)
    core = LlamaCore(copy.deepcopy(bundle.ck.model).double(), bundle.site)
    emb = torch.from_numpy(r.prompt_embeds(r.image_embeds(px[:1].numpy()), prefix)).double()
    t = emb.shape[1]
    mask, pos = torch.ones(1, t, dtype=torch.long), torch.arange(t)[None]
    w = core.lm_head.weight[target]

    def z_at(l, p, i, eps):
        adds = [torch.zeros(1, t, bundle.m["ffnDim"], dtype=torch.float64) for _ in range(bundle.m["layers"])]
        adds[l][0, r.image_start + p, i] = eps
        with torch.no_grad():
            h, _, _ = core.run(emb, mask, pos, None, adds)
        return float(h[0, -1] @ w)

    eps, worst = 1e-3, 0.0
    for f in np.argsort(-np.abs(grad).ravel())[:4]:
        l, p, i = np.unravel_index(f, grad.shape)
        fd = (z_at(l, p, i, eps) - z_at(l, p, i, -eps)) / (2 * eps)
        worst = max(worst, abs(fd - grad[l, p, i]) / abs(fd))
    print(f"[{bundle.name}] finite-difference max rel err {worst:.2e}")
    assert worst < 1e-3


def test_testvectors_reproduced_by_the_onnx_runtime(bundle, runner_for):
    r = runner_for(bundle)
    tv = load_file(str(bundle.dir / "testvectors" / "vectors.safetensors"))
    meta = json.loads((bundle.dir / "testvectors" / "vectors.json").read_text())
    px = tv["pixel_values"]
    assert np.array_equal(px, normalise(tv["images"], bundle.m["image"]["mean"], bundle.m["image"]["std"]).numpy())
    assert (tv["input_ids"][0] == np.array(bundle.ck.input_ids())).all()
    logits, act, _ = r.prefill(px)
    assert maxdiff(logits, tv["prefill_logits"]) < TOL and maxdiff(act, tv["prefill_ffn_act"]) < TOL
    logits, act, _ = r.prefill(px, tv["ffn_delta"])
    assert maxdiff(logits, tv["prefill_logits_delta"]) < TOL and maxdiff(act, tv["prefill_ffn_act_delta"]) < TOL
    assert r.greedy(px, meta["maxNewTokens"]) == [c["ids"] for c in meta["captions"]]
    assert r.greedy(px, meta["maxNewTokens"], tv["ffn_delta"]) == [c["ids"] for c in meta["captionsDelta"]]
    assert meta["captions"] != meta["captionsDelta"]
    g = meta["gradient"]
    z, a, gr = r.gradient(px, g["captionPrefix"], g["targetId"])
    assert abs(z[0] - tv["gradient_z"][0]) < TOL
    assert maxdiff(gr, tv["gradient_grad"]) / np.abs(tv["gradient_grad"]).max() < 1e-4


def test_readout_is_the_models_weights(bundle):
    ro = load_file(str(bundle.dir / "readout.safetensors"))
    model = bundle.ck.model
    assert np.array_equal(ro["w_u"], model.lm_head.weight.numpy())
    for l, layer in enumerate(model.model.language_model.layers):
        assert np.array_equal(ro[f"w_out.{l}"], layer.mlp.down_proj.weight.numpy())
    assert set(ro) == {"w_u"} | {f"w_out.{l}" for l in range(bundle.m["layers"])}


def test_manifest_describes_the_model(bundle):
    m, tc = bundle.m, bundle.ck.text
    assert (m["layers"], m["hidden"], m["ffnDim"], m["heads"], m["kvHeads"], m["vocab"]) == (
        tc.num_hidden_layers, tc.hidden_size, tc.intermediate_size, tc.num_attention_heads,
        tc.num_key_value_heads, tc.vocab_size)
    cls = 1 if bundle.name == "llava" else 0
    assert m["image"]["clsTokens"] == cls and m["imageTokens"] == 16 + cls
    assert m["prompt"]["prefixIds"][0] == m["bosId"]
