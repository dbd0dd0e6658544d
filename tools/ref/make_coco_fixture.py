"""A tiny COCO 2017-format fixture with every segmentation kind real COCO files have, plus the
masks pycocotools decodes from it (the loader's parity reference).

Writes test/fixtures/data/coco-mini/: val2017/*.{png,jpg}, annotations/instances_val2017.json,
annotations/captions_val2017.json and expected_masks.json ({ann id: {h, w, rows: "0101..."
row-major, rle: pycocotools' compressed counts string, area, bbox}}).
    .venv/bin/python tools/ref/make_coco_fixture.py [out_dir]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools import mask as mu
from pycocotools.coco import COCO

ROOT = Path(__file__).resolve().parents[2]


def main(out: Path) -> None:
    rng = np.random.default_rng(2017)
    (out / "val2017").mkdir(parents=True, exist_ok=True)
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    # Non-square images in both orientations catch row-/column-major mix-ups.
    images = [
        {"id": 139, "file_name": "000000000139.png", "width": 40, "height": 30, "license": 1},
        {"id": 285, "file_name": "000000000285.jpg", "width": 32, "height": 48, "license": 1},
    ]
    for im in images:
        px = rng.integers(0, 256, size=(im["height"], im["width"], 3), dtype=np.uint8)
        Image.fromarray(px).save(out / "val2017" / im["file_name"], quality=95)

    crowd = np.zeros((30, 40), np.uint8)
    crowd[5:20, 25:38] = 1
    crowd[12:14, 20:25] = 1
    crowd_rle = mu.encode(np.asfortranarray(crowd))
    crowd2 = np.zeros((48, 32), np.uint8)
    crowd2[30:46, 2:12] = 1
    crowd2[40:44, 12:30] = 1
    # Uncompressed RLE as real COCO stores iscrowd=1 objects: column-major run lengths.
    flat = crowd2.flatten(order="F")
    runs, prev, n = [], 0, 0
    for v in flat:
        if v != prev:
            runs.append(n)
            n, prev = 0, v
        n += 1
    runs.append(n)

    anns = [
        # two-part polygon, float coordinates
        {"id": 1, "image_id": 139, "category_id": 23, "iscrowd": 0,
         "segmentation": [[2.5, 3.1, 14.2, 2.0, 16.8, 12.6, 8.0, 17.4, 1.2, 11.0], [18.0, 22.0, 24.5, 22.0, 21.0, 28.7]]},
        # compressed RLE (counts string), crowd
        {"id": 2, "image_id": 139, "category_id": 1, "iscrowd": 1,
         "segmentation": {"size": [30, 40], "counts": crowd_rle["counts"].decode("ascii")}},
        # uncompressed RLE, crowd
        {"id": 3, "image_id": 285, "category_id": 6, "iscrowd": 1,
         "segmentation": {"size": [48, 32], "counts": [int(r) for r in runs]}},
        # concave polygon touching the border
        {"id": 4, "image_id": 285, "category_id": 52, "iscrowd": 0,
         "segmentation": [[0.0, 0.0, 31.0, 0.0, 31.0, 20.0, 16.4, 8.3, 0.0, 20.0]]},
    ]
    for a in anns:
        seg, im = a["segmentation"], next(i for i in images if i["id"] == a["image_id"])
        h, w = im["height"], im["width"]
        rle = mu.merge(mu.frPyObjects(seg, h, w)) if isinstance(seg, list) else (
            mu.frPyObjects(seg, h, w) if isinstance(seg["counts"], list) else {"size": seg["size"], "counts": seg["counts"].encode()})
        a["area"] = float(mu.area(rle))
        a["bbox"] = [float(v) for v in mu.toBbox(rle)]
    info = {"description": "kneuron loader fixture in COCO 2017 format", "version": "1.0", "year": 2017}
    inst = {"info": info, "licenses": [{"id": 1, "name": "CC0", "url": ""}], "images": images, "annotations": anns,
            "categories": [{"supercategory": "person", "id": 1, "name": "person"}, {"supercategory": "vehicle", "id": 6, "name": "bus"},
                           {"supercategory": "animal", "id": 23, "name": "bear"}, {"supercategory": "food", "id": 52, "name": "banana"}]}
    caps = {"info": info, "licenses": inst["licenses"], "images": images, "annotations": [
        {"id": 11, "image_id": 139, "caption": "A brown bear standing next to a person."},
        {"id": 12, "image_id": 139, "caption": "a teddy bear is not a bear ."},
        {"id": 13, "image_id": 285, "caption": "A bus parked near a banana stand"}]}
    (out / "annotations" / "instances_val2017.json").write_text(json.dumps(inst))
    (out / "annotations" / "captions_val2017.json").write_text(json.dumps(caps))

    coco = COCO(str(out / "annotations" / "instances_val2017.json"))
    expected = {}
    for a in coco.dataset["annotations"]:
        m = coco.annToMask(a)
        expected[a["id"]] = {"h": int(m.shape[0]), "w": int(m.shape[1]), "rows": "".join(map(str, m.flatten().tolist())),
                             "rle": mu.encode(np.asfortranarray(m))["counts"].decode("ascii"), "area": int(m.sum()), "bbox": a["bbox"]}
    (out / "expected_masks.json").write_text(json.dumps(expected, indent=1) + "\n")
    print(f"wrote {len(images)} images, {len(anns)} annotations to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "test" / "fixtures" / "data" / "coco-mini")
