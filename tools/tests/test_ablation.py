"""Deterministic interventions through the decoder's ffn_scale input (docs/BUNDLE.md §4.3):
A = A·scale + delta at flagged positions, per row. Checked against the unmodified Hugging Face
model with hooks that *set* the chosen neurons by indexing (an independent implementation)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kneuron_tools import reference as R

from test_export import TOL, maxdiff, pixels


@pytest.fixture(scope="module", params=["tiny", "llava", "committed"])
def bundle(request):
    """Both random test bundles and the committed models/tiny (its weights are in hf/)."""
    return request.getfixturevalue(f"{request.param}_bundle")


class SetNeurons(R.SiteHooks):
    """HF hooks at the activation site (registered like the reference's) that set
    A[b, positions, i] = value for each row's (layer, i, value)."""

    def __init__(self, model, site, sets, positions, prompt_len):
        super().__init__(model, site)
        self.sets, self.positions, self.T = sets, positions, prompt_len

    def _apply(self, layer, a):
        if a.shape[1] != self.T:  # prefill only; decode steps are not intervened on
            return a
        a = a.clone()
        for b, row in enumerate(self.sets):
            for (l, i, v) in row:
                if l == layer:
                    a[b, self.positions, i] = v
        return a


def ablation_rows(m, sets):
    """ffn_scale / ffn_delta [B,L,D] for each row's (layer, neuron, value): scale 0, delta value."""
    b = len(sets)
    scale = np.ones((b, m["layers"], m["ffnDim"]), np.float32)
    delta = np.zeros_like(scale)
    for r, row in enumerate(sets):
        for (l, i, v) in row:
            scale[r, l, i], delta[r, l, i] = 0.0, v
    return scale, delta


def torch_logits(bundle, px, sets, positions):
    ids = R.prompt_batch(bundle.ck, px.shape[0])
    with torch.no_grad(), SetNeurons(bundle.ck.model, bundle.site, sets, positions, ids.shape[1]):
        return bundle.ck.model(input_ids=ids, pixel_values=px, attention_mask=torch.ones_like(ids)).logits


def groups(m, seed):
    rng = np.random.default_rng(seed)
    L, D = m["layers"], m["ffnDim"]
    pick = rng.choice(L * D, 12, replace=False)
    return [[(int(k // D), int(k % D), v) for k in pick] for v in (0.0, 0.37)]


def test_scale_one_delta_zero_is_bit_identical(bundle, runner_for):
    """Ablating nothing changes nothing: flagged positions with scale 1 and delta 0 equal the plain run."""
    r = runner_for(bundle)
    assert r.has_scale
    emb = r.prompt_embeds(r.image_embeds(pixels(bundle).numpy()))
    b, t, _ = emb.shape
    args = (emb, np.ones((b, t)), np.tile(np.arange(t), (b, 1)), r.empty_past(b))
    base, base_act, _ = r.decode_step(*args, taps=np.arange(t))
    ones = np.ones((b, bundle.m["layers"], bundle.m["ffnDim"]), np.float32)
    got, act, _ = r.decode_step(*args, np.ones((b, t), np.float32), np.zeros_like(ones), np.arange(t), ones)
    np.testing.assert_array_equal(got, base)
    np.testing.assert_array_equal(act, base_act)


@pytest.mark.parametrize("scope", ["image", "prompt"])
def test_per_row_ablation_matches_torch_hooks(bundle, runner_for, scope):
    """Row 0 untouched, row 1 zero-ablates 12 neurons, row 2 sets them to 0.37 (mean-ablation's form)."""
    r = runner_for(bundle)
    m = bundle.m
    px = pixels(bundle, 3, seed=5)
    emb = r.prompt_embeds(r.image_embeds(px.numpy()))
    b, t, _ = emb.shape
    s, P = r.image_start, m["imageTokens"]
    positions = list(range(s, s + P)) if scope == "image" else list(range(t))
    sets = [[]] + groups(m, 1)
    scale, delta = ablation_rows(m, sets)
    dmask = np.zeros((b, t), np.float32)
    dmask[:, positions] = 1
    args = (emb, np.ones((b, t)), np.tile(np.arange(t), (b, 1)), r.empty_past(b))
    logits, act, _ = r.decode_step(*args, dmask, delta, np.arange(t), scale)
    base, _, _ = r.decode_step(*args)
    np.testing.assert_array_equal(logits[0], base[0])
    for row in (1, 2):
        for (l, i, v) in sets[row]:
            assert np.all(act[row, l, positions, i] == np.float32(v))  # set exactly, at every flagged position
    ref = torch_logits(bundle, px, sets, positions)
    assert maxdiff(logits, ref) < TOL
    assert maxdiff(logits[1:], base[1:]) > 1e-3, "the ablation should move the logits"


def test_greedy_captions_under_ablation_identical(bundle, runner_for):
    r = runner_for(bundle)
    m = bundle.m
    px = pixels(bundle, 2, seed=11)
    # Ablate a quarter of every layer (the random model shrugs off a dozen neurons).
    rng = np.random.default_rng(2)
    big = [(l, int(i), 0.0) for l in range(m["layers"]) for i in rng.choice(m["ffnDim"], m["ffnDim"] // 4, replace=False)]
    sets = [big, [(l, i, 0.5) for (l, i, _) in big]]
    scale, delta = ablation_rows(m, sets)
    got = r.greedy(px.numpy(), 12, delta, scale)
    s, P = r.image_start, m["imageTokens"]
    ids = R.prompt_batch(bundle.ck, 2)
    with SetNeurons(bundle.ck.model, bundle.site, sets, list(range(s, s + P)), ids.shape[1]):
        ref = R.greedy(bundle.ck, bundle.site, px, 12)
    assert got == ref
