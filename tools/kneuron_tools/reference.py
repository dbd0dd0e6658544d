"""Torch reference computations on the unmodified Hugging Face model (hooks, autograd).

These are what the ONNX graphs are tested against and what testvectors/ stores.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from transformers import DynamicCache

from .checkpoint import Checkpoint


class SiteHooks:
    """Forward hooks at the FFN activation site of every layer: record A, optionally add a delta.

    down_proj_input: pre-hook on mlp.down_proj (its input is silu(gate(x)) * up(x));
    act_fn: hook on mlp.act_fn's output (silu(gate(x))).
    """

    def __init__(self, model, site: str):
        self.layers = model.model.language_model.layers
        self.site = site
        self.acts: list[torch.Tensor | None] = [None] * len(self.layers)
        self.delta: torch.Tensor | None = None       # [B,L,D]
        self.delta_mask: torch.Tensor | None = None  # [B,T] (applied only when T matches)
        self.handles = []

    def _apply(self, layer: int, a: torch.Tensor) -> torch.Tensor:
        if self.delta is not None and self.delta_mask is not None and a.shape[1] == self.delta_mask.shape[1]:
            a = a + self.delta_mask[:, :, None] * self.delta[:, layer, None, :]
        self.acts[layer] = a
        return a

    def __enter__(self):
        for i, layer in enumerate(self.layers):
            if self.site == "down_proj_input":
                self.handles.append(layer.mlp.down_proj.register_forward_pre_hook(
                    lambda mod, args, i=i: (self._apply(i, args[0]),)))
            else:
                self.handles.append(layer.mlp.act_fn.register_forward_hook(
                    lambda mod, args, out, i=i: self._apply(i, out)))
        return self

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()
        self.handles.clear()


def image_embeds(ck: Checkpoint, pixel_values: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        if hasattr(ck.model, "encode_img"):  # minigpt4: the source's own encode_img (minigpt4.py)
            return ck.model.encode_img(pixel_values)
        out = ck.model.model.get_image_features(pixel_values=pixel_values, return_dict=True)
    return torch.stack(list(out.pooler_output))


def prompt_batch(ck: Checkpoint, batch: int) -> torch.Tensor:
    return torch.tensor([ck.input_ids()] * batch, dtype=torch.long)


def prefill(ck: Checkpoint, site: str, pixel_values, delta=None, delta_mask=None):
    """logits [B,T,V] and A [B,L,T,D] for the prompt + image, optionally with a delta."""
    ids = prompt_batch(ck, pixel_values.shape[0])
    with torch.no_grad(), SiteHooks(ck.model, site) as hooks:
        hooks.delta, hooks.delta_mask = delta, delta_mask
        out = ck.model(input_ids=ids, pixel_values=pixel_values, attention_mask=torch.ones_like(ids))
    return out.logits, torch.stack(hooks.acts, dim=1)


def image_mask(ck: Checkpoint, batch: int) -> torch.Tensor:
    """delta_mask flagging the image positions of the prompt: [B,T] float 0/1."""
    ids = prompt_batch(ck, batch)
    return (ids == ck.image_token_id).float()


def greedy(ck: Checkpoint, site: str, pixel_values, max_new_tokens: int, delta=None) -> list[list[int]]:
    """Greedy captions with HF's own KV cache; the delta is applied at image positions in prefill."""
    b = pixel_values.shape[0]
    ids = prompt_batch(ck, b)
    mask = torch.ones_like(ids)
    cache = DynamicCache(config=ck.model.config.text_config)
    out_ids = [[] for _ in range(b)]
    done = [False] * b
    with torch.no_grad(), SiteHooks(ck.model, site) as hooks:
        hooks.delta, hooks.delta_mask = delta, (image_mask(ck, b) if delta is not None else None)
        out = ck.model(input_ids=ids, pixel_values=pixel_values, attention_mask=mask,
                       past_key_values=cache, use_cache=True)
        for _ in range(max_new_tokens):
            nxt = out.logits[:, -1].argmax(-1)
            for r in range(b):
                if not done[r]:
                    if int(nxt[r]) == ck.eos_id:
                        done[r] = True
                    else:
                        out_ids[r].append(int(nxt[r]))
            if all(done):
                break
            mask = torch.cat([mask, torch.ones(b, 1, dtype=mask.dtype)], dim=1)
            out = ck.model(input_ids=nxt[:, None], attention_mask=mask, past_key_values=out.past_key_values,
                           use_cache=True)
    return out_ids


def gradient(ck: Checkpoint, site: str, pixel_values, caption_prefix: list[int], target_id: int):
    """z = logit of target_id at the last position of prompt + image + caption_prefix, A and dz/dA
    at the image positions ([L,P,D] each), by torch.autograd through the HF model."""
    ids = torch.tensor([ck.input_ids() + list(caption_prefix)], dtype=torch.long)
    start = len(ck.prefix_ids)
    with torch.enable_grad(), SiteHooks(ck.model, site) as hooks:
        embeds = ck.model.get_input_embeddings()(ids).detach()
        embeds[0, start:start + ck.n_image] = image_embeds(ck, pixel_values[:1])[0]
        embeds.requires_grad_(True)
        out = ck.model(inputs_embeds=embeds, attention_mask=torch.ones_like(ids))
        z = out.logits[0, -1, target_id]
        grads = torch.autograd.grad(z, hooks.acts)
    sl = slice(start, start + ck.n_image)
    act = torch.stack([a[0, sl] for a in hooks.acts]).detach()
    grad = torch.stack([g[0, sl] for g in grads])
    return z.detach().reshape(1), act, grad, ids[0]


@contextmanager
def no_grad_model(ck: Checkpoint):
    with torch.no_grad():
        yield ck.model
