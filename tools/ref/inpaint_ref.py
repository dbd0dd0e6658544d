"""Reference outputs for the inpainting parity test: cv2.inpaint(..., INPAINT_TELEA).

Reads test/fixtures/data/inpaint/cases.json (written by make_inpaint_fixtures.ts) and writes each
case's `ref` PNG. Images are handled as RGB throughout (Telea treats channels independently).
    .venv/bin/python tools/ref/inpaint_ref.py [fixture_dir]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]


def telea(image: np.ndarray, mask: np.ndarray, radius: float) -> np.ndarray:
    return cv2.inpaint(np.ascontiguousarray(image), (mask > 0).astype(np.uint8) * 255, radius, cv2.INPAINT_TELEA)


def load_case(d: Path, case: dict) -> tuple[np.ndarray, np.ndarray]:
    img = np.asarray(Image.open(d / case["image"]).convert("RGB"))
    mask = np.asarray(Image.open(d / case["mask"]).convert("L"))
    return img, mask


def main(d: Path) -> None:
    cases = json.loads((d / "cases.json").read_text())
    for c in cases:
        img, mask = load_case(d, c)
        Image.fromarray(telea(img, mask, c["radius"])).save(d / c["ref"])
        print(f"{c['name']}: {img.shape[1]}x{img.shape[0]}, {int((mask > 0).sum())} masked px, radius {c['radius']} -> {c['ref']}")
    print(f"opencv {cv2.__version__}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "test" / "fixtures" / "data" / "inpaint")
