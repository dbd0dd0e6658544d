"""Read a Hugging Face LLaVA checkpoint directory the way docs/BUNDLE.md §1 describes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from tokenizers import Tokenizer
from transformers import LlavaConfig, LlavaForConditionalGeneration

FAMILIES = ("tiny", "llava")
DEFAULT_LLAVA_PROMPT = "USER: <image>\nDescribe the image. ASSISTANT:"
IMAGE_SLOT = "<image>"
PIL_RESAMPLE = {0: "nearest", 2: "bilinear", 3: "bicubic"}


class CheckpointError(ValueError):
    """A checkpoint directory the exporter cannot use; the message names the file and the problem."""


@dataclass
class Checkpoint:
    family: str
    model_dir: Path
    model: LlavaForConditionalGeneration
    tokenizer: Tokenizer
    image: dict          # size, mean, std, resample, resize
    prompt: str
    bos_id: int | None
    eos_id: int
    prefix_ids: list[int]
    suffix_ids: list[int]
    patch_size: int
    patch_grid: int
    cls_tokens: int      # 1 when the CLS embedding is kept as the first image token
    n_image: int         # P

    @property
    def text(self):
        return self.model.config.text_config

    @property
    def head_dim(self) -> int:
        tc = self.text
        return getattr(tc, "head_dim", None) or tc.hidden_size // tc.num_attention_heads

    @property
    def image_token_id(self) -> int:
        return int(self.model.config.image_token_id)

    def input_ids(self) -> list[int]:
        return self.prefix_ids + [self.image_token_id] * self.n_image + self.suffix_ids


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing") from None
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: not valid JSON ({e})") from None


def _check_architecture(cfg: LlavaConfig, where: Path) -> None:
    tc, vc = cfg.text_config, cfg.vision_config
    problems = []
    if tc.model_type != "llama":
        problems.append(f"text_config.model_type is {tc.model_type!r}, expected 'llama'")
    if vc.model_type != "clip_vision_model":
        problems.append(f"vision_config.model_type is {vc.model_type!r}, expected 'clip_vision_model'")
    if tc.hidden_act != "silu":
        problems.append(f"text_config.hidden_act is {tc.hidden_act!r}, expected 'silu' (SwiGLU)")
    if getattr(tc, "attention_bias", False) or getattr(tc, "mlp_bias", False):
        problems.append("attention_bias/mlp_bias must be false")
    rope = (getattr(tc, "rope_parameters", None) or {}).get("rope_type", "default")
    if rope != "default":
        problems.append(f"rope_type {rope!r} is not supported (only 'default')")
    if not isinstance(cfg.vision_feature_layer, int):
        problems.append("vision_feature_layer must be a single int")
    if cfg.vision_feature_select_strategy not in ("default", "full"):
        problems.append(f"vision_feature_select_strategy {cfg.vision_feature_select_strategy!r} unknown")
    if not 0 <= int(cfg.image_token_id) < tc.vocab_size:
        problems.append(f"image_token_id {cfg.image_token_id} is not < vocab_size {tc.vocab_size}")
    if problems:
        raise CheckpointError(f"{where / 'config.json'}: unsupported model: " + "; ".join(problems))


def _image_settings(model_dir: Path, meta: dict | None) -> dict:
    if meta is not None:
        img = meta.get("image")
        if not isinstance(img, dict):
            raise CheckpointError(f"{model_dir / 'kneuron.json'}: missing object 'image'")
        return {"size": int(img["size"]), "mean": [float(x) for x in img["mean"]],
                "std": [float(x) for x in img["std"]], "resample": img.get("resample", "bilinear"),
                "resize": img.get("resize", "squash")}
    pp = _read_json(model_dir / "preprocessor_config.json")
    crop = pp.get("crop_size", {})
    size = crop.get("height") if isinstance(crop, dict) else crop
    resample = PIL_RESAMPLE.get(pp.get("resample", 3))
    if resample is None:
        raise CheckpointError(f"{model_dir / 'preprocessor_config.json'}: resample {pp.get('resample')} unsupported")
    return {"size": int(size), "mean": [float(x) for x in pp["image_mean"]],
            "std": [float(x) for x in pp["image_std"]], "resample": resample,
            "resize": "shortest_edge_center_crop" if pp.get("do_center_crop", True) else "squash"}


def encode_prompt(tok: Tokenizer, prompt: str, bos_id: int | None, where: Path) -> tuple[list[int], list[int]]:
    """prefix ids (bos first) and suffix ids around the `<image>` slot (docs/BUNDLE.md §1)."""
    if prompt.count(IMAGE_SLOT) != 1:
        raise CheckpointError(f"{where}: prompt {prompt!r} must contain exactly one {IMAGE_SLOT}")
    before, after = prompt.split(IMAGE_SLOT)
    slot = tok.token_to_id(IMAGE_SLOT)
    ids = tok.encode(prompt, add_special_tokens=False).ids if slot is not None else []
    if slot is not None and ids.count(slot) == 1:
        # The tokenizer knows <image> as one token: encode the whole template and split there,
        # which is what Hugging Face's LLaVA processor does.
        k = ids.index(slot)
        prefix, suffix = ids[:k], ids[k + 1:]
    else:
        prefix = tok.encode(before, add_special_tokens=False).ids if before else []
        suffix = tok.encode(after, add_special_tokens=False).ids if after else []
    return ([bos_id] if bos_id is not None else []) + prefix, suffix


def load_checkpoint(model_dir: str | Path, family: str, prompt: str | None = None) -> Checkpoint:
    model_dir = Path(model_dir)
    if family not in FAMILIES:
        raise CheckpointError(f"family {family!r} is not one of {FAMILIES}")
    if not model_dir.is_dir():
        raise CheckpointError(f"{model_dir}: not a directory")
    cfg_raw = _read_json(model_dir / "config.json")
    if cfg_raw.get("model_type") != "llava":
        raise CheckpointError(f"{model_dir / 'config.json'}: model_type is {cfg_raw.get('model_type')!r}, expected 'llava'")
    meta_path = model_dir / "kneuron.json"
    meta = _read_json(meta_path) if meta_path.exists() else None
    if family == "tiny" and meta is None:
        raise CheckpointError(f"{meta_path}: missing (required for family 'tiny')")
    tok_path = model_dir / "tokenizer.json"
    if not tok_path.exists():
        raise CheckpointError(f"{tok_path}: missing")
    tokenizer = Tokenizer.from_file(str(tok_path))

    model = LlavaForConditionalGeneration.from_pretrained(
        model_dir, dtype=torch.float32, attn_implementation="eager").eval()
    cfg = model.config
    _check_architecture(cfg, model_dir)
    for p in model.parameters():
        p.requires_grad_(False)

    image = _image_settings(model_dir, meta)
    vc = cfg.vision_config
    if image["size"] != vc.image_size:
        raise CheckpointError(f"{model_dir}: image size {image['size']} != vision_config.image_size {vc.image_size}")
    gen = _read_json(model_dir / "generation_config.json") if (model_dir / "generation_config.json").exists() else {}

    def pick(key: str, *sources):
        for s in sources:
            v = s.get(key) if isinstance(s, dict) else getattr(s, key, None)
            if isinstance(v, list):
                v = v[0] if v else None
            if v is not None:
                return int(v)
        return None

    meta_ids = {"bos_token_id": (meta or {}).get("bosId"), "eos_token_id": (meta or {}).get("eosId")}
    if meta is not None and "bosId" in meta and meta["bosId"] is None:
        bos = None
    else:
        bos = pick("bos_token_id", meta_ids, gen, cfg.text_config)
    eos = pick("eos_token_id", meta_ids, gen, cfg.text_config)
    if eos is None:
        raise CheckpointError(f"{model_dir}: no eos id (kneuron.json eosId, generation_config or config)")
    prompt = prompt or (meta or {}).get("prompt") or DEFAULT_LLAVA_PROMPT
    prefix, suffix = encode_prompt(tokenizer, prompt, bos, meta_path if meta else model_dir)

    grid = vc.image_size // vc.patch_size
    cls = 0 if cfg.vision_feature_select_strategy == "default" else 1
    return Checkpoint(family=family, model_dir=model_dir, model=model, tokenizer=tokenizer, image=image,
                      prompt=prompt, bos_id=bos, eos_id=eos, prefix_ids=prefix, suffix_ids=suffix,
                      patch_size=vc.patch_size, patch_grid=grid, cls_tokens=cls, n_image=grid * grid + cls)
