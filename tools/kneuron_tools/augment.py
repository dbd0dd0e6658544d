"""Training-time augmentation for tools/train_tiny.py: label-preserving variety per drawing."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def augment(x: torch.Tensor, objects: torch.Tensor, g: torch.Generator,
            style_share: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Label-preserving variety per drawing (each object has only two drawings in training, so
    the model must not learn them pixel for pixel). x: float [B,3,S,S] in [0,1]; objects: [B,S,S]
    category map, moved with the pixels. Geometry: per-axis scale 0.75-1.25, rotation ±20°,
    shift up to 10% (partial crops at the border); no flips (captions name objects left to
    right). Then blur, a grey cut-out (occlusion), hue rotation, greyscale, saturation, contrast,
    brightness and per-channel gain. With style_share > 0 that share of the images also gets its
    colours and strokes randomised (randomise_style); at 0 the generator stream is unchanged."""
    B, _, S, _ = x.shape
    r = lambda lo, hi, *shape: lo + (hi - lo) * torch.rand(B, *shape, generator=g)
    sx, sy, rot = r(0.75, 1.25), r(0.75, 1.25), r(-0.35, 0.35)
    theta = torch.zeros(B, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = torch.cos(rot) / sx, -torch.sin(rot) / sx
    theta[:, 1, 0], theta[:, 1, 1] = torch.sin(rot) / sy, torch.cos(rot) / sy
    theta[:, :, 2] = r(-0.2, 0.2, 2)   # affine_grid units: 2 = full side
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # border (not reflection) padding: a reflection could mirror a second copy of an object in
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    objects = F.grid_sample(objects[:, None].float(), grid, mode="nearest", padding_mode="border",
                            align_corners=False)[:, 0].long()
    sigma = r(0.0, 1.5) * (torch.rand(B, generator=g) < 0.5)              # blur half the batch
    k = torch.arange(-2, 3).float()
    kern = torch.exp(-k ** 2 / (2 * sigma[:, None].clamp(min=1e-3) ** 2))
    kern = (kern / kern.sum(1, keepdim=True)).repeat_interleave(3, 0)     # [B*3, 5]
    flat = x.reshape(1, B * 3, S, S)
    flat = F.conv2d(F.pad(flat, (2, 2, 0, 0), mode="replicate"), kern[:, None, None, :], groups=B * 3)
    flat = F.conv2d(F.pad(flat, (0, 0, 2, 2), mode="replicate"), kern[:, None, :, None], groups=B * 3)
    x = flat.reshape(x.shape)
    # occlusion: a grey square over at most a third of an object's extent, on a third of the batch
    side, pos = (r(0.1, 0.22) * S).long(), (r(0, 1, 2) * S).long()
    yy, xx = torch.arange(S)[None, :, None], torch.arange(S)[None, None, :]
    box = ((yy - pos[:, 0, None, None]).abs() < side[:, None, None]) & ((xx - pos[:, 1, None, None]).abs() < side[:, None, None])
    box &= (torch.rand(B, generator=g) < 0.33)[:, None, None]
    x = torch.where(box[:, None], r(0.3, 0.7, 1, 1, 1), x)
    angle = r(-0.5, 0.5, 1, 1)                                          # hue rotation (radians), about grey
    if style_share > 0:
        x, angle = randomise_style(x, angle, style_share, g)
    c, s3 = torch.cos(angle), torch.sin(angle) / math.sqrt(3)
    grey = x.mean(dim=1, keepdim=True)
    d = x - grey
    x = grey + c[:, None] * d + s3[:, None] * (d.roll(1, dims=1) - d.roll(-1, dims=1))
    grey = x.mean(dim=1, keepdim=True)
    sat = r(0.6, 1.4, 1, 1, 1) * (torch.rand(B, 1, 1, 1, generator=g) > 0.1)  # 10% greyscale
    x = grey + (x - grey) * sat
    m = x.mean(dim=(1, 2, 3), keepdim=True)
    x = m + (x - m) * r(0.75, 1.25, 1, 1, 1)                           # contrast
    x = x * r(0.8, 1.2, 1, 1, 1) * r(0.92, 1.08, 3, 1, 1)              # brightness, channel gain
    return x.clamp(0, 1), objects


def randomise_style(x: torch.Tensor, angle: torch.Tensor, share: float, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Colour and stroke are what an unseen icon style changes most (twemoji's bus is grey where
    the training styles' are yellow; openmoji outlines in black, twemoji never), so for `share` of
    the images: hue rotation over the whole circle instead of ±29°, and a random 3x3 convolution
    (RandConv, Xu et al. 2021) mixed in at a random weight, which recolours and re-strokes the
    drawing but keeps its shape. x: [B,3,S,S] in [0,1]; angle: [B,1,1] hue angles to replace."""
    B, _, S, _ = x.shape
    pick = torch.rand(B, generator=g) < share
    full = (torch.rand(B, 1, 1, generator=g) * 2 - 1) * math.pi
    kern = torch.randn(B * 3, 3, 3, 3, generator=g) / math.sqrt(27)
    mix = torch.rand(B, 1, 1, 1, generator=g)
    conv = F.conv2d(F.pad(x.reshape(1, B * 3, S, S), (1, 1, 1, 1), mode="replicate"), kern, groups=B).reshape(x.shape)
    lo = conv.amin(dim=(1, 2, 3), keepdim=True)
    hi = conv.amax(dim=(1, 2, 3), keepdim=True)
    conv = (conv - lo) / (hi - lo).clamp(min=1e-6)                     # back into [0, 1]
    styled = mix * x + (1 - mix) * conv
    return torch.where(pick[:, None, None, None], styled, x), torch.where(pick[:, None, None], full, angle)
