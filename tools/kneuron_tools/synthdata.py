"""The project's synthetic COCO-format scenes (core/data/synth) as tensors for tools/train_tiny.py:
splits, per-pixel object maps, objects removed by Telea inpainting (empty and thinned scenes),
and the per-patch word grids the language model reads in pretraining."""
from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
CAPTION_WORD = {"sports ball": "ball"}       # core/data/synth/generate.ts captionWord
EMPTY_WORD = "nothing"                        # "the image shows nothing on the grass ."


class DataError(Exception):
    """A data split is missing or malformed (names the file and the problem)."""


def ensure_data(out: Path, seed: int, splits: list[str] | None = None, sizes: dict[str, int] | None = None,
                timeout: int = 900, refresh: bool = False) -> Path:
    """Reuse the synthetic set in `out` or generate it with core/data's generator (sizes: images
    per split, default the generator's). refresh: always ask the generator, which keeps a split
    only if it was made by the same generator version, seed and size (its stamp), so a managed
    cache never serves data of an older version; otherwise a directory that holds the splits is
    used as given."""
    want = splits or ["train", "val", "experiment", "calibration"]
    if not refresh and all((out / "annotations" / f"instances_{s}.json").exists() for s in want):
        return out
    print(f"synthetic data in {out} (seed {seed}, {', '.join(want)}): generating or checking ...", flush=True)
    code = ("import { generateSynthetic } from './core/data/synth/generate.ts'; "
            f"generateSynthetic({json.dumps({'outDir': str(out), 'seed': seed, 'splits': want, 'sizes': sizes or {}})})"
            ".catch((e) => { console.error(e); process.exit(1); });")
    subprocess.run(["npx", "tsx", "-e", code], cwd=ROOT, check=True, timeout=timeout)
    for s in want:
        if not (out / "annotations" / f"instances_{s}.json").exists():
            raise DataError(f"{out}: the generator finished but wrote no annotations/instances_{s}.json")
    return out


@dataclass
class Split:
    name: str
    ids: list[int]                 # COCO image ids, in file order (-id for a derived, inpainted scene)
    files: list[Path]
    captions: list[list[str]]      # all reference captions per image
    anns: list[list[dict]]         # instance annotations per image
    markers: list[dict]            # the generator's per-image "kneuron" marker (role, style, ...)
    categories: dict[int, str]     # category id -> name
    pixels: torch.Tensor           # uint8 [N, 3, S, S], resized the way the runtime resizes
    objects: torch.Tensor          # uint8 [N, S, S]: COCO category id per pixel, 0 = background


def load_json(path: Path) -> dict:
    if not path.exists():
        raise DataError(f"{path}: missing")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON ({e})") from e


def to_model_pixels(img: Image.Image, size: int) -> np.ndarray:
    """RGB uint8 HxWx3 -> the model's input size (kneuron.json: squash, bilinear)."""
    return np.asarray(img.convert("RGB").resize((size, size), Image.BILINEAR), dtype=np.uint8)


def annotation_mask(ann: dict, h: int, w: int) -> np.ndarray:
    """COCO segmentation (polygons or RLE) -> uint8 HxW mask, via pycocotools."""
    from pycocotools import mask as mask_utils

    seg = ann["segmentation"]
    if isinstance(seg, list):
        return mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(seg, h, w)))
    rle = mask_utils.frPyObjects(seg, h, w) if isinstance(seg.get("counts"), list) else seg
    return mask_utils.decode(rle)


def object_map(anns: list[dict], h: int, w: int, size: int) -> np.ndarray:
    """Per-pixel COCO category id at the model's input size (0 = background)."""
    m = np.zeros((h, w), np.uint8)
    for a in anns:
        m[annotation_mask(a, h, w) > 0] = a["category_id"]
    return np.asarray(Image.fromarray(m).resize((size, size), Image.NEAREST))


def inpaint(img: np.ndarray, anns: list[dict], dilate_px: int = 3, radius: int = 3) -> np.ndarray:
    """Remove objects: Telea inpainting (cv2) over their masks, dilated by dilate_px — the same
    removal the evaluation and the paper's constraint 2 use. img: RGB uint8 HxWx3."""
    import cv2

    m = np.zeros(img.shape[:2], np.uint8)
    for a in anns:
        m |= annotation_mask(a, *img.shape[:2]).astype(np.uint8)
    k = 2 * dilate_px + 1
    m = cv2.dilate(m, np.ones((k, k), np.uint8))
    return cv2.inpaint(np.ascontiguousarray(img[:, :, ::-1]), m, radius, cv2.INPAINT_TELEA)[:, :, ::-1]


def caption_word(name: str) -> str:
    return CAPTION_WORD.get(name, name)


def caption_for(names_left_to_right: list[str], phrase: str) -> str:
    """core/data/synth/generate.ts captionFor, for a scene with some objects removed."""
    if not names_left_to_right:
        return f"the image shows {EMPTY_WORD} {phrase} ."
    names = [f"{'an' if w[0] in 'aeiou' else 'a'} {w}" for w in map(caption_word, names_left_to_right)]
    lst = names[0] if len(names) == 1 else f"{names[0]} next to {names[1]}" if len(names) == 2 else \
        " , ".join(names[:-1]) + f" and {names[-1]}"
    return f"the image shows {lst} {phrase} ."


def left_to_right(anns: list[dict], cats: dict[int, str]) -> list[str]:
    return [cats[a["category_id"]] for a in sorted(anns, key=lambda a: a["bbox"][0] + a["bbox"][2] / 2)]


def background_phrase(caption: str, anns: list[dict], cats: dict[int, str]) -> str | None:
    """The background phrase ("on the grass") of a generated caption, or None if the caption
    is not the generator's template for these objects (then no derived scene is made)."""
    head = caption_for(left_to_right(anns, cats), "").removesuffix(" .").rstrip()
    if not (caption.startswith(head + " ") and caption.endswith(" .")):
        return None
    return caption[len(head) + 1:-2]


def load_split(root: Path, name: str, size: int, limit: int = 0, removed_share: float = 0.0,
               seed: int = 0) -> Split:
    """Load a split; with removed_share > 0, also add, for that share of its images, a copy with
    objects inpainted away — all of them when there is one (an empty scene, caption "the image
    shows nothing on the grass .") else one at random — captioned by the generator's template."""
    inst = load_json(root / "annotations" / f"instances_{name}.json")
    caps = load_json(root / "annotations" / f"captions_{name}.json")
    images = sorted(inst["images"], key=lambda im: im["id"])[:limit or None]
    cats = {c["id"]: c["name"] for c in inst["categories"]}
    by_caps: dict[int, list[str]] = {}
    for c in caps["annotations"]:
        by_caps.setdefault(c["image_id"], []).append(c["caption"].strip().lower())
    by_anns: dict[int, list[dict]] = {}
    for a in inst["annotations"]:
        by_anns.setdefault(a["image_id"], []).append(a)
    rng = np.random.default_rng(seed)
    rows: list[tuple] = []          # id, file, captions, anns, marker, pixels, object map
    for im in images:
        f = root / name / im["file_name"]
        if not f.exists():
            raise DataError(f"{f}: image listed in instances_{name}.json is missing")
        if im["id"] not in by_caps:
            raise DataError(f"captions_{name}.json: no caption for image {im['id']} ({im['file_name']})")
        anns, h, w = by_anns.get(im["id"], []), im["height"], im["width"]
        rgb = np.asarray(Image.open(f).convert("RGB"))
        marker = im.get("kneuron", {})
        rows.append((im["id"], f, by_caps[im["id"]], anns, marker, to_model_pixels(Image.fromarray(rgb), size),
                     object_map(anns, h, w, size)))
        if anns and rng.random() < removed_share:
            phrase = background_phrase(by_caps[im["id"]][0], anns, cats)
            if phrase is None:
                continue
            gone = anns if len(anns) == 1 else [anns[rng.integers(len(anns))]]
            kept = [a for a in anns if a not in gone]
            img = Image.fromarray(np.ascontiguousarray(inpaint(rgb, gone)))
            rows.append((-im["id"], f, [caption_for(left_to_right(kept, cats), phrase)], kept,
                         marker | {"removed": len(gone)}, to_model_pixels(img, size), object_map(kept, h, w, size)))
    ids, files, captions, anns, markers, pix, objs = (list(c) for c in zip(*rows))
    pixels = torch.from_numpy(np.stack(pix)).permute(0, 3, 1, 2).contiguous()
    return Split(name, ids, files, captions, anns, markers, cats, pixels, torch.from_numpy(np.stack(objs)))


def patch_shares(objects: torch.Tensor, patch: int, n_classes: int = 91) -> torch.Tensor:
    """[B,S,S] category map -> [B,P,n_classes]: the share of each class in each patch, patches
    row-major (the order CLIP flattens its grid and LLaVA lays out the image tokens)."""
    B, S, _ = objects.shape
    G = S // patch
    cell = torch.arange(S) // patch
    patch_of_pixel = (cell[:, None] * G + cell[None, :]).reshape(1, -1)      # [1, S*S]
    index = patch_of_pixel * n_classes + objects.reshape(B, -1).long()
    share = torch.full(index.shape, 1.0 / patch ** 2)
    out = torch.zeros(B, G * G * n_classes).scatter_add_(1, index, share)
    return out.view(B, G * G, n_classes)


def grid_word(name: str) -> str:
    """One token per object in a word grid: "traffic light" -> "traffic_light"."""
    return caption_word(name).replace(" ", "_")


def word_grids(objects: torch.Tensor, backgrounds: list[str], categories: dict[int, str], patch: int,
               min_share: float = 0.25) -> list[list[str]]:
    """Per image, one word per image patch (row-major): the object covering at least min_share of
    the patch, else the background's word ("grass"). What the language model reads in pretraining
    where the image tokens will later be — text only, no pixels. objects: [B,S,S] category map."""
    shares = patch_shares(objects, patch)
    shares[:, :, 0] = 0
    best, cls = shares.max(-1)
    return [[grid_word(categories[c]) if s >= min_share else bg for s, c in zip(b.tolist(), k.tolist())]
            for b, k, bg in zip(best, cls, backgrounds)]


def background_word(caption: str) -> str:
    """"the image shows a bear on the grass ." -> "grass" (the generator's template ends so)."""
    return caption.split()[-2]
