"""Inpainting parity: the project's Telea inpainter (OpenCV.js, TypeScript) against Python's
cv2.inpaint(..., INPAINT_TELEA) on the committed fixtures (test/fixtures/data/inpaint).

Measured: bit-exact on all cases (mean absolute difference 0, max 0). Bound: mean absolute
difference over the masked pixels ≤ 0.05 and max ≤ 2, the same bound as the vitest suite.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
FX = ROOT / "test" / "fixtures" / "data" / "inpaint"
sys.path.insert(0, str(ROOT / "tools" / "ref"))
from inpaint_ref import load_case, telea  # noqa: E402

CASES = json.loads((FX / "cases.json").read_text())


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_committed_reference_is_cv2_output(case):
    img, mask = load_case(FX, case)
    ref = np.asarray(Image.open(FX / case["ref"]).convert("RGB"))
    assert np.array_equal(telea(img, mask, case["radius"]), ref)


@pytest.fixture(scope="module")
def ts_outputs(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("inpaint-ts")
    subprocess.run(["npx", "--no-install", "tsx", "tools/ref/inpaint_ts.ts", str(FX), str(out)], cwd=ROOT, check=True,
                   capture_output=True, timeout=300)
    return out


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_typescript_inpainter_matches_cv2(ts_outputs: Path, case):
    img, mask = load_case(FX, case)
    ours = np.asarray(Image.open(ts_outputs / f"{case['name']}_ts.png").convert("RGB")).astype(int)
    ref = telea(img, mask, case["radius"]).astype(int)
    m = mask > 0
    diff = np.abs(ours - ref)
    assert diff[m].mean() <= 0.05, f"mean abs diff {diff[m].mean():.4f}"
    assert diff.max() <= 2
    assert np.array_equal(ours[~m], img.astype(int)[~m])  # only masked pixels change
