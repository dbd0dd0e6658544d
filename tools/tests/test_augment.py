"""Training-time augmentation (tools/kneuron_tools/augment.py): label-preserving, deterministic,
and the style randomisation off by default without touching the generator stream."""
from __future__ import annotations

import torch

from kneuron_tools.augment import augment, randomise_style


def scene(B: int = 6, S: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.full((B, 3, S, S), 0.5)
    objects = torch.zeros(B, S, S, dtype=torch.long)
    x[:, 0, 8:24, 8:24], x[:, 1:, 8:24, 8:24] = 0.9, 0.1     # a red square, category 7
    objects[:, 8:24, 8:24] = 7
    return x, objects


def test_style_share_zero_keeps_the_generator_stream():
    x, obj = scene()
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    a, oa = augment(x.clone(), obj, g1)
    b, ob = augment(x.clone(), obj, g2, style_share=0.0)
    assert torch.equal(a, b) and torch.equal(oa, ob)
    assert torch.equal(g1.get_state(), g2.get_state())


def test_style_randomisation_recolours_but_keeps_labels_and_range():
    x, obj = scene()
    plain, o1 = augment(x.clone(), obj, torch.Generator().manual_seed(5))
    styled, o2 = augment(x.clone(), obj, torch.Generator().manual_seed(5), style_share=1.0)
    assert torch.equal(o1, o2)                       # geometry is drawn first: same object maps
    assert styled.min() >= 0 and styled.max() <= 1
    assert (styled - plain).abs().mean() > 0.02      # colours changed
    # the square stays distinguishable from the background (shape kept) in every image
    inside = styled[:, :, 12:20, 12:20].mean(dim=(2, 3))
    outside = styled[:, :, :4, :4].mean(dim=(2, 3))
    assert ((inside - outside).abs().sum(1) > 0.01).all()


def test_randomise_style_picks_about_the_share():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(400, 3, 8, 8)
    angle = torch.zeros(400, 1, 1)
    out, new_angle = randomise_style(x, angle, 0.5, g)
    picked = (out - x).flatten(1).abs().sum(1) > 0
    assert 150 < int(picked.sum()) < 250
    assert torch.equal(picked, new_angle.flatten() != 0)
