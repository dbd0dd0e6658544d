"""The synthetic scenes are COCO 2017 format as pycocotools reads it, and our masks are its masks.

Generates a small set with the project's generator (npx tsx tools/ref/synth_dump.ts), then:
COCO(path) loads every instances and captions file, annToMask equals our decoded masks bit for
bit, area equals the mask area, categories are COCO's, and the dilated masks equal cv2.dilate.
Also checks the committed real-format fixture (test/fixtures/data/coco-mini) against pycocotools.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools import mask as mu
from pycocotools.coco import COCO

ROOT = Path(__file__).resolve().parents[2]
SPLITS = ["train", "val", "experiment", "calibration"]

# COCO 2017's category ids (80 of 1..90).
COCO_IDS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28, 31, 32, 33, 34,
            35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64,
            65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90]


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    subprocess.run(["npx", "--no-install", "tsx", "tools/ref/synth_dump.ts", str(out), "3"], cwd=ROOT, check=True,
                   capture_output=True, timeout=600)
    return out


def decode(counts: str, h: int, w: int) -> np.ndarray:
    return mu.decode({"size": [h, w], "counts": counts.encode()})


@pytest.mark.parametrize("split", SPLITS)
def test_pycocotools_loads_and_masks_match(synth: Path, split: str):
    coco = COCO(str(synth / "annotations" / f"instances_{split}.json"))
    ours = json.loads((synth / f"ours_masks_{split}.json").read_text())
    assert sorted(c["id"] for c in coco.loadCats(coco.getCatIds())) == COCO_IDS
    assert len(coco.getImgIds()) > 0 and len(coco.getAnnIds()) >= len(coco.getImgIds())
    for ann in coco.loadAnns(coco.getAnnIds()):
        img = coco.loadImgs(ann["image_id"])[0]
        h, w = img["height"], img["width"]
        assert (synth / split / img["file_name"]).is_file()
        m = coco.annToMask(ann)
        assert m.shape == (h, w)
        assert np.array_equal(m, decode(ours[str(ann["id"])]["mask"], h, w)), f"annotation {ann['id']}"
        assert int(m.sum()) == ann["area"] > 0
        x, y, bw, bh = ann["bbox"]
        assert 0 <= x and 0 <= y and x + bw <= w and y + bh <= h
        k = np.ones((7, 7), np.uint8)
        assert np.array_equal(cv2.dilate(m, k), decode(ours[str(ann["id"])]["dilated3"], h, w)), f"dilated {ann['id']}"
    caps = COCO(str(synth / "annotations" / f"captions_{split}.json"))
    assert set(caps.getImgIds()) == set(coco.getImgIds())
    assert all(c["caption"].startswith("the image shows ") for c in caps.dataset["annotations"])


def test_experiment_split_has_90_marked_samples(synth: Path):
    coco = COCO(str(synth / "annotations" / "instances_experiment.json"))
    samples = [i for i in coco.dataset["images"] if i["kneuron"]["role"] == "sample"]
    assert len(samples) == 90
    assert len({s["kneuron"]["concept"] for s in samples}) == 30
    for s in samples:
        ann = coco.anns[s["kneuron"]["annotation_id"]]
        assert ann["image_id"] == s["id"] and ann.get("target") is True
        assert coco.cats[ann["category_id"]]["name"] == s["kneuron"]["concept"]


def test_real_format_fixture_matches_pycocotools():
    fx = ROOT / "test" / "fixtures" / "data" / "coco-mini"
    coco = COCO(str(fx / "annotations" / "instances_val2017.json"))
    expected = json.loads((fx / "expected_masks.json").read_text())
    kinds = set()
    for ann in coco.loadAnns(coco.getAnnIds()):
        seg = ann["segmentation"]
        kinds.add("polygon" if isinstance(seg, list) else "rle-" + type(seg["counts"]).__name__)
        m = coco.annToMask(ann)
        e = expected[str(ann["id"])]
        assert "".join(map(str, m.flatten().tolist())) == e["rows"]
        assert mu.encode(np.asfortranarray(m))["counts"].decode() == e["rle"]
    assert kinds == {"polygon", "rle-str", "rle-list"}
