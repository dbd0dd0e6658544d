"""MiniGPT-4's eval image processor, bit for bit: Pillow's bicubic resize to 224×224 (what
torchvision's Resize does to a PIL image) and testvectors.normalise (ToTensor + Normalize in
float32) against sha256s written by test/fixtures/model/minigpt4_processor.py with torchvision."""

import hashlib
import json
from pathlib import Path

import numpy as np
from PIL import Image

from kneuron_tools.minigpt4 import IMAGE
from kneuron_tools.testvectors import normalise

FIXTURE = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "model" / "minigpt4"


def test_processor_is_bit_exact():
    spec = json.loads((FIXTURE / "processor.json").read_text())
    assert (spec["mean"], spec["std"], spec["resample"], spec["resize"]) == (
        IMAGE["mean"], IMAGE["std"], IMAGE["resample"], IMAGE["resize"])
    for case in spec["cases"]:
        img = Image.open(FIXTURE / case["file"]).convert("RGB")
        assert img.size == (case["width"], case["height"])
        x = np.asarray(img.resize((spec["size"], spec["size"]), Image.BICUBIC))
        px = normalise(x[None], spec["mean"], spec["std"])[0].numpy()
        assert hashlib.sha256(px.tobytes()).hexdigest() == case["sha256"], case["file"]
        # The same pipeline with bilinear resampling is a different result: the hash can fail.
        other = normalise(np.asarray(img.resize((spec["size"], spec["size"]), Image.BILINEAR))[None],
                          spec["mean"], spec["std"])[0].numpy()
        assert case["file"].startswith("same") or hashlib.sha256(other.tobytes()).hexdigest() != case["sha256"]
