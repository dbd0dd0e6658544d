"""The `minigpt4` family: MiniGPT-4 with Llama-2 and no Q-Former (the paper's model).

EVA ViT-g as BLIP-2 ships it (its weight names: `blocks.{i}.attn.qkv.weight`, `q_bias`, `v_bias`,
...) → `ln_vision` over all 257 tokens → CLS dropped → every 4 consecutive patch tokens in raster
order concatenated (a [B,256,1408] → [B,64,5632] view, so one token = 1 patch row × 4 patch
columns; the token grid is 16 rows × 4 cols) → `llama_proj` (one linear layer) → Llama-2.

Written from reading Vision-CAIR/MiniGPT-4 (minigpt4/models/eva_vit.py, minigpt4.py,
minigpt_base.py, processors/blip_processors.py, its Llama-2 configs); docs/BUNDLE.md §9.

`MiniGPT4` keeps the source's attribute names (`visual_encoder`, `ln_vision`, `llama_proj`,
`llama_model`), so its state dict has the source's key names and the source's checkpoints load
into it as they load into the source's model. It also exposes what the shared exporter reads
from a LLaVA model (`config.text_config`, `model.language_model`, `lm_head`,
`get_input_embeddings`, a forward over input_ids/inputs_embeds with the image at its slot).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from torch import nn
from transformers import LlamaForCausalLM

from .checkpoint import Checkpoint, CheckpointError, _read_json, encode_prompt

log = logging.getLogger("kneuron.minigpt4")

# The source's Llama-2 template ('[INST] {} [/INST] ', eval and stage-2 configs) around its first
# alignment instruction; `<Img><ImageHere></Img>` becomes `<Img><image></Img>`.
DEFAULT_PROMPT = "[INST] <Img><image></Img> Describe this image in detail. [/INST] "
MERGE = 4  # patch tokens concatenated per image token (source: view(bs, pn / 4, hs * 4))
# Blip2ImageEvalProcessor: Resize((224, 224), BICUBIC) on the PIL image, ToTensor, Normalize.
IMAGE = {"mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711],
         "resample": "bicubic", "resize": "squash"}
EVA_HEAD_DIM = 88  # ViT-g: num_heads = 1408 // 88 (the source's rule); the weights do not say it


@dataclass(frozen=True)
class EvaConfig:
    image_size: int = 224
    patch_size: int = 14
    dim: int = 1408
    depth: int = 39
    heads: int = 16
    mlp: int = 6144          # int(1408 * 4.3637)
    eps: float = 1e-6        # the blocks' LayerNorm; ln_vision uses torch's default 1e-5

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size


class EvaAttention(nn.Module):
    """Multi-head self-attention with BLIP-2's EVA biases: q and v have a bias, k has none."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        inner = self.heads * self.head_dim
        self.qkv = nn.Linear(dim, 3 * inner, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(inner))
        self.v_bias = nn.Parameter(torch.zeros(inner))
        self.proj = nn.Linear(inner, dim)

    def forward(self, x):
        b, n, _ = x.shape
        bias = torch.cat((self.q_bias, torch.zeros_like(self.q_bias), self.v_bias))
        q, k, v = F.linear(x, self.qkv.weight, bias).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        attn = torch.softmax((q * self.head_dim ** -0.5) @ k.transpose(-2, -1), dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, -1))


class EvaMlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()  # exact (erf) GELU
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class EvaBlock(nn.Module):
    """Pre-norm block without layer scale (ViT-g has init_values None) and no drop path at eval."""

    def __init__(self, c: EvaConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(c.dim, eps=c.eps)
        self.attn = EvaAttention(c.dim, c.heads)
        self.norm2 = nn.LayerNorm(c.dim, eps=c.eps)
        self.mlp = EvaMlp(c.dim, c.mlp)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, c: EvaConfig):
        super().__init__()
        self.proj = nn.Conv2d(3, c.dim, kernel_size=c.patch_size, stride=c.patch_size)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)  # raster order: patch r * cols + c


class EvaViT(nn.Module):
    """pixel_values [B,3,S,S] -> the last block's hidden states [B,1+N,dim] (no final norm)."""

    def __init__(self, c: EvaConfig):
        super().__init__()
        self.cfg = c
        self.patch_embed = PatchEmbed(c)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c.dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, c.grid * c.grid + 1, c.dim))
        self.blocks = nn.ModuleList(EvaBlock(c) for _ in range(c.depth))

    def forward(self, x):
        x = self.patch_embed(x)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1) + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        return x


def _err(where, problem: str) -> CheckpointError:
    return CheckpointError(f"{where}: {problem}")


class MiniGPT4(nn.Module):
    def __init__(self, vit: EvaConfig, llama: LlamaForCausalLM, image_start: int, image_token_id: int):
        super().__init__()
        if vit.grid % MERGE:
            raise _err("vision tower", f"patch grid {vit.grid}×{vit.grid} has {vit.grid} columns, "
                                  f"not a multiple of {MERGE}: merged tokens would straddle rows")
        self.visual_encoder = EvaViT(vit)
        self.ln_vision = nn.LayerNorm(vit.dim)
        self.llama_model = llama
        self.llama_proj = nn.Linear(vit.dim * MERGE, llama.config.hidden_size)
        self.image_start = image_start
        self.n_image = vit.grid * vit.grid // MERGE
        self.config = SimpleNamespace(text_config=llama.config, image_token_id=image_token_id)

    # -- what the shared exporter reads from a LLaVA model ---------------------------------------
    @property
    def model(self):
        return SimpleNamespace(language_model=self.llama_model.model)

    @property
    def lm_head(self):
        return self.llama_model.lm_head

    def get_input_embeddings(self):
        return self.llama_model.get_input_embeddings()

    # -- the model ---------------------------------------------------------------------------------
    def encode_img(self, pixel_values):
        """[B,3,S,S] -> [B,P,H], as the source's encode_img without a Q-Former."""
        h = self.ln_vision(self.visual_encoder(pixel_values))[:, 1:]
        b, n, d = h.shape
        return self.llama_proj(h.reshape(b, n // MERGE, d * MERGE))

    def forward(self, input_ids=None, pixel_values=None, attention_mask=None, inputs_embeds=None, **kw):
        """Llama-2 over the prompt embeddings with the image embeddings at their slot (what the
        source's prompt_wrap / get_context_emb build), returning the Llama output (logits, cache)."""
        if inputs_embeds is None:
            inputs_embeds = self.get_input_embeddings()(input_ids)
            if pixel_values is not None:
                s = self.image_start
                img = self.encode_img(pixel_values).to(inputs_embeds.dtype)
                inputs_embeds = torch.cat((inputs_embeds[:, :s], img, inputs_embeds[:, s + self.n_image:]), dim=1)
        return self.llama_model(inputs_embeds=inputs_embeds, attention_mask=attention_mask, **kw)

    def vision_graph(self) -> nn.Module:
        return _VisionGraph(self)


class _VisionGraph(nn.Module):
    def __init__(self, m: MiniGPT4):
        super().__init__()
        self.m = m

    def forward(self, pixel_values):
        return self.m.encode_img(pixel_values)


@dataclass
class MiniGPT4Checkpoint(Checkpoint):
    merge: tuple[int, int] = (1, MERGE)   # patches per token along [rows, cols]


def _load_weights(path: Path, what: str) -> dict[str, torch.Tensor]:
    """A .pth (torch.save; {'model': state_dict} or a bare state dict) or .safetensors file."""
    if not path.is_file():
        raise _err(path, f"missing ({what})")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file
        return load_file(str(path))
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - unpicklable, truncated, not a torch file: one message
        raise _err(path, f"cannot read {what} as torch weights ({type(e).__name__}: {e})") from None
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise _err(path, f"{what}: expected a state dict (or {{'model': state dict}})")
    return obj


def eva_config_from_weights(sd: dict[str, torch.Tensor], heads: int | None, where: Path) -> EvaConfig:
    try:
        pw, pos = sd["patch_embed.proj.weight"], sd["pos_embed"]
        depth = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("blocks."))
        mlp = sd["blocks.0.mlp.fc1.weight"].shape[0]
    except (KeyError, ValueError):
        raise _err(where, "not EVA ViT weights (needs patch_embed.proj.weight, pos_embed, "
                              "blocks.N.*)") from None
    dim, patch = pw.shape[0], pw.shape[-1]
    grid = math.isqrt(pos.shape[1] - 1)
    if grid * grid != pos.shape[1] - 1:
        raise _err(where, f"pos_embed has {pos.shape[1]} rows, not a square grid + CLS")
    heads = heads or dim // EVA_HEAD_DIM
    if heads < 1 or dim % heads:
        raise _err(where, f"width {dim} is not divisible into {heads} heads (give --vit-heads)")
    return EvaConfig(image_size=grid * patch, patch_size=patch, dim=dim, depth=depth, heads=heads, mlp=mlp)


def _assign(module: nn.Module, sd: dict[str, torch.Tensor], where: Path, required: bool) -> list[str]:
    """Copy matching keys into `module` (the source loads with strict=False); a shape mismatch is an
    error; with `required`, every parameter of `module` must be present. Returns the keys used."""
    own = module.state_dict()
    used = [k for k in sd if k in own]
    for k in used:
        if tuple(sd[k].shape) != tuple(own[k].shape):
            raise _err(where, f"tensor {k} has shape {list(sd[k].shape)}, the model needs {list(own[k].shape)}")
    if required:
        missing = [k for k in own if k not in sd]
        if missing:
            raise _err(where, f"missing tensors: {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    with torch.no_grad():
        for k in used:
            own[k].copy_(sd[k].float())
    return used


def load_minigpt4(llama_dir: str | Path, minigpt4_ckpt: str | Path, vit_ckpt: str | Path,
                  prompt: str | None = None, vit_heads: int | None = None) -> MiniGPT4Checkpoint:
    """Llama-2 directory (save_pretrained + tokenizer.json) + MiniGPT-4 checkpoint (llama_proj, and
    whatever else it holds) + EVA ViT-g weights (BLIP-2's eva_vit_g.pth) -> a Checkpoint."""
    llama_dir, minigpt4_ckpt, vit_ckpt = Path(llama_dir), Path(minigpt4_ckpt), Path(vit_ckpt)
    if not llama_dir.is_dir():
        raise _err(llama_dir, "not a directory (the Llama-2 checkpoint)")
    cfg = _read_json(llama_dir / "config.json")
    if cfg.get("model_type") != "llama":
        raise _err(llama_dir / "config.json", f"model_type is {cfg.get('model_type')!r}, expected 'llama'")
    tok_path = llama_dir / "tokenizer.json"
    if not tok_path.exists():
        raise _err(tok_path, "missing (the Hugging Face fast tokenizer of the Llama directory)")
    tokenizer = Tokenizer.from_file(str(tok_path))
    vit_sd = _load_weights(vit_ckpt, "EVA ViT weights")
    mg_sd = _load_weights(minigpt4_ckpt, "MiniGPT-4 checkpoint")
    vc = eva_config_from_weights(vit_sd, vit_heads, vit_ckpt)

    llama = LlamaForCausalLM.from_pretrained(llama_dir, dtype=torch.float32, attn_implementation="eager").eval()
    tc = llama.config
    problems = []
    if tc.hidden_act != "silu":
        problems.append(f"hidden_act is {tc.hidden_act!r}, expected 'silu'")
    if getattr(tc, "attention_bias", False) or getattr(tc, "mlp_bias", False):
        problems.append("attention_bias/mlp_bias must be false")
    if (getattr(tc, "rope_parameters", None) or {}).get("rope_type", "default") != "default":
        problems.append("only the default rope type is supported")
    if problems:
        raise _err(llama_dir / "config.json", "unsupported model: " + "; ".join(problems))

    bos, eos = tc.bos_token_id, tc.eos_token_id
    eos = eos[0] if isinstance(eos, list) else eos
    if eos is None:
        raise _err(llama_dir / "config.json", "no eos_token_id")
    prompt = prompt or DEFAULT_PROMPT
    prefix, suffix = encode_prompt(tokenizer, prompt, bos, llama_dir / "tokenizer.json")
    # Image slots are never embedded (their rows are replaced); any valid id marks them.
    unk = tokenizer.token_to_id("<unk>")
    image_token_id = unk if unk is not None else 0

    model = MiniGPT4(vc, llama, len(prefix), image_token_id).eval()
    _assign(model.visual_encoder, vit_sd, vit_ckpt, required=True)
    if "llama_proj.weight" not in mg_sd or "llama_proj.bias" not in mg_sd:
        raise _err(minigpt4_ckpt, "has no llama_proj.weight / llama_proj.bias (not a MiniGPT-4 checkpoint?)")
    used = _assign(model, mg_sd, minigpt4_ckpt, required=False)
    if "ln_vision.weight" not in used:
        # The source builds ln_vision fresh and (without a Q-Former) never loads it: identity affine.
        log.info("%s: no ln_vision weights; using LayerNorm's initial weight 1, bias 0 as the source does", minigpt4_ckpt)
    ignored = [k for k in mg_sd if k not in used]
    if ignored:
        log.info("%s: %d tensors not in the model, ignored as the source does (e.g. %s)", minigpt4_ckpt, len(ignored), ignored[0])
    for p in model.parameters():
        p.requires_grad_(False)

    P = model.n_image
    return MiniGPT4Checkpoint(
        family="minigpt4", model_dir=llama_dir, model=model, tokenizer=tokenizer,
        image={"size": vc.image_size, **IMAGE}, prompt=prompt, bos_id=bos, eos_id=int(eos),
        prefix_ids=prefix, suffix_ids=suffix, patch_size=vc.patch_size, patch_grid=vc.grid, cls_tokens=0,
        n_image=P)


__all__ = ["MiniGPT4", "EvaViT", "EvaConfig", "MiniGPT4Checkpoint", "load_minigpt4", "DEFAULT_PROMPT", "MERGE"]
