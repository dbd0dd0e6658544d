"""testvectors/: inputs and torch outputs of the unmodified HF model, for runtime parity tests.

vectors.safetensors holds the tensors, vectors.json says what they are (docs/BUNDLE.md §5).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from . import reference as R
from .checkpoint import Checkpoint

N_IMAGES = 2
MAX_NEW_TOKENS = 12
DELTA_SEED = 1234


def synthetic_images(size: int, n: int = N_IMAGES) -> np.ndarray:
    """Deterministic S×S RGB test images (uint8 [n,S,S,3]): gradients with a bright square."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / max(size - 1, 1)
    imgs = []
    for i in range(n):
        r, g, b = xx * 255, yy * 255, (1 - xx) * (0.3 + 0.7 * i / max(n - 1, 1)) * 255
        img = np.stack([r, g, b], -1)
        a = size // 4 + i * size // 8
        img[a:a + size // 3, a:a + size // 3] = [250, 40 + 150 * i, 30]
        imgs.append(img.round().clip(0, 255).astype(np.uint8))
    return np.stack(imgs)


def normalise(images: np.ndarray, mean, std) -> torch.Tensor:
    """uint8 [n,S,S,3] -> float32 [n,3,S,S]: (x/255 - mean)/std, each step in float32."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    m = torch.tensor(mean, dtype=torch.float32)[None, :, None, None]
    s = torch.tensor(std, dtype=torch.float32)[None, :, None, None]
    return ((x - m) / s).contiguous()


DELTA_SCALES = (3.0, 10.0, 30.0, 100.0)


def delta_for(ck: Checkpoint, acts: torch.Tensor, scale: float) -> torch.Tensor:
    """A seeded ffn_delta [n,L,D]: N(0,1) × scale × the activation std of each layer."""
    g = torch.Generator().manual_seed(DELTA_SEED)
    n, L = acts.shape[0], acts.shape[1]
    std = acts.float().std(dim=(0, 2, 3))  # [L]
    return torch.randn(n, L, acts.shape[-1], generator=g) * scale * std[None, :, None]


def write_testvectors(ck: Checkpoint, site: str, out: Path) -> list[str]:
    tv = out / "testvectors"
    tv.mkdir(exist_ok=True)
    s = ck.image["size"]
    images = synthetic_images(s)
    pixels = normalise(images, ck.image["mean"], ck.image["std"])
    n = pixels.shape[0]
    start, P = len(ck.prefix_ids), ck.n_image
    embeds = R.image_embeds(ck, pixels)
    logits, acts = R.prefill(ck, site, pixels)
    caps = R.greedy(ck, site, pixels, MAX_NEW_TOKENS)
    # The smallest delta scale that changes a caption, so the vectors exercise the noise path
    # on trained models too (a trained model shrugs off small deltas).
    for scale in DELTA_SCALES:
        delta = delta_for(ck, acts[:, :, start:start + P], scale)
        caps_d = R.greedy(ck, site, pixels, MAX_NEW_TOKENS, delta)
        if caps_d != caps:
            break
    dmask = R.image_mask(ck, n)
    logits_d, acts_d = R.prefill(ck, site, pixels, delta, dmask)

    # Gradient target: the caption token at position j of image 0's caption, teacher-forced on [:j].
    cap0 = caps[0]
    j = min(2, max(len(cap0) - 1, 0))
    target = cap0[j] if cap0 else ck.eos_id
    z, gact, grad, gids = R.gradient(ck, site, pixels, cap0[:j], target)

    tensors = {
        "images": torch.from_numpy(images),                       # uint8 [n,S,S,3]
        "pixel_values": pixels,                                   # [n,3,S,S]
        "image_embeds": embeds,                                   # [n,P,H]
        "input_ids": R.prompt_batch(ck, n),                       # [n,T0] (image slots hold imageTokenId)
        "prefill_logits": logits,                                 # [n,T0,V]
        "prefill_ffn_act": acts[:, :, start:start + P],           # [n,L,P,D]
        "ffn_delta": delta,                                       # [n,L,D]
        "delta_mask": dmask,                                      # [n,T0]
        "prefill_logits_delta": logits_d,
        "prefill_ffn_act_delta": acts_d[:, :, start:start + P],
        "gradient_input_ids": gids,                               # [Tg]
        "gradient_z": z,                                          # [1]
        "gradient_act": gact,                                     # [L,P,D]
        "gradient_grad": grad,                                    # [L,P,D]
    }
    tensors = {k: v.detach().contiguous() for k, v in tensors.items()}
    save_file(tensors, str(tv / "vectors.safetensors"))
    decode = lambda ids: ck.tokenizer.decode(ids, skip_special_tokens=True)  # noqa: E731
    meta = {
        "tensors": {k: {"dtype": str(v.dtype).replace("torch.", ""), "shape": list(v.shape)} for k, v in tensors.items()},
        "imageStart": start,
        "maxNewTokens": MAX_NEW_TOKENS,
        "deltaScale": scale,
        "captions": [{"ids": c, "text": decode(c)} for c in caps],
        "captionsDelta": [{"ids": c, "text": decode(c)} for c in caps_d],
        "gradient": {"image": 0, "captionPrefix": cap0[:j], "targetId": int(target),
                     "targetPos": int(gids.shape[0] - 1), "imageStart": start},
        "tolerances": {"logits": 1e-4, "ffn_act": 1e-4, "gradRelative": 1e-4,
                       "note": "absolute, float32; captions must match exactly"},
    }
    (tv / "vectors.json").write_text(json.dumps(meta, indent=2) + "\n")
    return ["testvectors/vectors.safetensors", "testvectors/vectors.json"]
