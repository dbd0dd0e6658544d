"""The torch modules that become the bundle's ONNX graphs.

The decoder is re-written functionally (explicit KV tensors in and out, the FFN activation site
exposed) over the weights of the Hugging Face model; the parity tests compare every graph with
the unmodified Hugging Face model, so this file cannot silently drift from it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

SITES = ("down_proj_input", "act_fn")


class VisionGraph(nn.Module):
    """pixel_values [B,3,S,S] -> image_embeds [B,P,H]: CLIP tower, feature layer, CLS policy, projector."""

    def __init__(self, llava):
        super().__init__()
        cfg = llava.config
        self.tower = llava.model.vision_tower
        self.projector = llava.model.multi_modal_projector
        self.layer = cfg.vision_feature_layer
        self.drop_cls = cfg.vision_feature_select_strategy == "default"

    def forward(self, pixel_values):
        out = self.tower(pixel_values, output_hidden_states=True, return_dict=True)
        feats = out.hidden_states[self.layer]
        if self.drop_cls:
            feats = feats[:, 1:]
        return self.projector(feats)


class EmbedGraph(nn.Module):
    """input_ids [B,T] int64 -> inputs_embeds [B,T,H]."""

    def __init__(self, llava):
        super().__init__()
        self.embed = llava.model.language_model.embed_tokens

    def forward(self, input_ids):
        return self.embed(input_ids)


class LlamaCore(nn.Module):
    """Functional Llama decoder over the HF weights, with the FFN activation site exposed."""

    def __init__(self, llava, site: str):
        super().__init__()
        if site not in SITES:
            raise ValueError(f"activation site {site!r} is not one of {SITES}")
        tc = llava.config.text_config
        lm = llava.model.language_model
        self.layers = lm.layers
        self.norm = lm.norm
        self.lm_head = llava.lm_head
        self.site = site
        self.n_heads = tc.num_attention_heads
        self.n_kv = tc.num_key_value_heads
        self.head_dim = getattr(tc, "head_dim", None) or tc.hidden_size // tc.num_attention_heads
        self.register_buffer("inv_freq", lm.rotary_emb.inv_freq.detach().clone(), persistent=False)
        self.rope_scale = float(lm.rotary_emb.attention_scaling)

    @staticmethod
    def rms(norm, x):
        var = x.pow(2).mean(-1, keepdim=True)
        return norm.weight * (x * torch.rsqrt(var + norm.variance_epsilon))

    def rope(self, position_ids):
        freqs = position_ids[..., None].float() * self.inv_freq
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos() * self.rope_scale, emb.sin() * self.rope_scale

    @staticmethod
    def rotate(x, cos, sin):
        half = x.shape[-1] // 2
        rot = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
        return x * cos + rot * sin

    def attention(self, layer, h, cos, sin, allowed, past_k, past_v):
        attn = layer.self_attn
        b, t, _ = h.shape
        q = attn.q_proj(h).view(b, t, self.n_heads, self.head_dim).transpose(1, 2)
        k = attn.k_proj(h).view(b, t, self.n_kv, self.head_dim).transpose(1, 2)
        v = attn.v_proj(h).view(b, t, self.n_kv, self.head_dim).transpose(1, 2)
        q, k = self.rotate(q, cos, sin), self.rotate(k, cos, sin)
        if past_k is not None:
            k = torch.cat((past_k, k), dim=2)
            v = torch.cat((past_v, v), dim=2)
        rep = self.n_heads // self.n_kv
        kk = k.repeat_interleave(rep, dim=1) if rep > 1 else k
        vv = v.repeat_interleave(rep, dim=1) if rep > 1 else v
        scores = torch.matmul(q, kk.transpose(2, 3)) * (self.head_dim ** -0.5)
        # masked_fill (not an additive mask) so a fully padded row stays finite.
        scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
        out = torch.matmul(torch.softmax(scores, dim=-1), vv)
        out = out.transpose(1, 2).reshape(b, t, self.n_heads * self.head_dim)
        return attn.o_proj(out), k, v

    @staticmethod
    def edit(a, e):
        """A after an intervention e = (mul, add), a bare tensor (add only) or None: A·mul + add
        (mul = 1, add = 0 leave A bit-identical)."""
        if e is None:
            return a
        if isinstance(e, torch.Tensor):
            return a + e
        mul, add = e
        return (a if mul is None else a * mul) + add

    def ffn(self, mlp, x, e):
        """SwiGLU FFN; returns (output, A) where A is the activation at the site, after the edit `e`."""
        gate = F.silu(mlp.gate_proj(x))
        up = mlp.up_proj(x)
        if self.site == "act_fn":
            gate = self.edit(gate, e)
            act = gate
            inner = gate * up
        else:
            inner = self.edit(gate * up, e)
            act = inner
        return mlp.down_proj(inner), act

    def run(self, h, attention_mask, position_ids, past, adds, taps=None):
        """h [B,T,H]; attention_mask [B,past+T]; past: list of (k,v) or None; adds: per-layer edits
        (mul or None, add) or an additive tensor, each broadcastable to [B,T,D], or None; taps: positions [N] to return A at (None: all).
        Returns the final hidden states, presents and activations [B,T or N,D] per layer."""
        b, t, _ = h.shape
        total = attention_mask.shape[1]
        q_abs = torch.arange(t, device=h.device) + (total - t)
        causal = torch.arange(total, device=h.device)[None, :] <= q_abs[:, None]  # [T, total]
        allowed = causal[None, None] & attention_mask.bool()[:, None, None, :]    # [B,1,T,total]
        cos, sin = self.rope(position_ids)
        cos, sin = cos[:, None], sin[:, None]
        presents, acts = [], []
        for i, layer in enumerate(self.layers):
            pk, pv = past[i] if past is not None else (None, None)
            a, k, v = self.attention(layer, self.rms(layer.input_layernorm, h), cos, sin, allowed, pk, pv)
            h = h + a
            f, act = self.ffn(layer.mlp, self.rms(layer.post_attention_layernorm, h), adds[i] if adds else None)
            h = h + f
            presents.append((k, v))
            acts.append(act if taps is None else act.index_select(1, taps))
        return self.rms(self.norm, h), presents, acts


class DecoderGraph(nn.Module):
    """One prefill or decode step with KV cache, per-row FFN interventions and FFN taps.

    inputs:  inputs_embeds [B,T,H], attention_mask [B,past+T] int64, position_ids [B,T] int64,
             delta_mask [B,T] float32 (1 = intervene here), ffn_delta [B,L,D] float32,
             ffn_scale [B,L,D] float32 (A = A·scale + delta at flagged positions: scale 1 = noise,
             scale 0 = set A to delta, i.e. zero- or mean-ablation; rows differ freely),
             tap_positions [N] int64 (positions of this call to tap; N = 0 for none),
             logits_positions [K] int64 (positions of this call to return logits at: the last for a
             decode step, the draft positions for a verification pass, all for parity checks),
             past_key_values.{l}.key/value [B,kvHeads,past,headDim]
    outputs: logits [B,K,V], ffn_act [B,L,N,D], present.{l}.key/value [B,kvHeads,past+T,headDim]

    onnxruntime computes every output whether it is fetched or not, so taps are selected by an
    input: with N = 0 they cost nothing, and the per-layer [B,T,D] activations are not kept alive.
    Logits likewise: [B,T,V] over a whole prefill is 4.9 GB for a 7B model at batch 64, and a
    caption needs one position of it.
    """

    def __init__(self, llava, site: str):
        super().__init__()
        self.core = LlamaCore(llava, site)
        self.n_layers = len(self.core.layers)

    def forward(self, inputs_embeds, attention_mask, position_ids, delta_mask, ffn_delta, ffn_scale, tap_positions,
                logits_positions, *past_flat):
        past = [(past_flat[2 * i], past_flat[2 * i + 1]) for i in range(self.n_layers)]
        m = delta_mask[:, :, None]
        # mul = 1 where unflagged (exactly 1.0: 1 + 0·(s-1)), so a pure-delta row is A + m·delta as before.
        adds = [(1.0 + m * (ffn_scale[:, i, None, :] - 1.0), m * ffn_delta[:, i, None, :]) for i in range(self.n_layers)]
        h, presents, acts = self.core.run(inputs_embeds, attention_mask, position_ids, past, adds, tap_positions)
        logits = self.core.lm_head(h.index_select(1, logits_positions))
        flat = [x for kv in presents for x in kv]
        return (logits, torch.stack(acts, dim=1), *flat)


def gradient_fn(core: LlamaCore, n_image: int):
    """The function whose joint forward+backward becomes gradient.onnx.

    (inputs_embeds [1,T,H], attention_mask [1,T], position_ids [1,T], image_start [], target_pos [],
    target_id []) -> z [1], act [L,P,D], grad [L,P,D] with grad = dz/dA at image positions.
    """

    def fn(inputs_embeds, attention_mask, position_ids, image_start, target_pos, target_id):
        with torch.enable_grad():
            x = inputs_embeds.detach().requires_grad_(True)
            h, _, acts = core.run(x, attention_mask, position_ids, None, None)
            last = h[0].index_select(0, target_pos.reshape(1))               # [1,H]
            w = core.lm_head.weight.index_select(0, target_id.reshape(1))     # [1,H]
            z = (last * w).sum(-1)                                            # [1]
            grads = torch.autograd.grad(z.sum(), acts)
        idx = image_start.reshape(1) + torch.arange(n_image, device=inputs_embeds.device)
        act = torch.stack([a[0].index_select(0, idx) for a in acts])
        grad = torch.stack([g[0].index_select(0, idx) for g in grads])
        return z.detach(), act.detach(), grad.detach()

    return fn
