"""The committed metric fixtures (test/fixtures/metrics) must still be what the generator and the
installed reference libraries give, so the TypeScript parity test cannot pass against a stale fixture."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "ref" / "metrics_ref.py"
FIXTURES = ROOT / "test" / "fixtures" / "metrics"


def run(*args: str) -> None:
    subprocess.run([sys.executable, str(SCRIPT), *args], check=True, cwd=ROOT, capture_output=True, text=True)


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_pairs_regenerate_identically(tmp_path: Path) -> None:
    out = tmp_path / "pairs.json"
    run("pairs", "--out", str(out))
    assert out.read_text(encoding="utf-8") == (FIXTURES / "pairs.json").read_text(encoding="utf-8")
    pairs = load(out)["pairs"]
    assert len(pairs) >= 200
    tags = {p["tag"] for p in pairs}
    assert {"empty-both", "empty-hyp", "empty-ref", "one-word-same", "repeated-word", "emoji"} <= tags


@pytest.fixture(scope="module")
def fresh_reference(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("metrics") / "reference.json"
    run("reference", "--pairs", str(FIXTURES / "pairs.json"), "--out", str(out))
    return load(out)


def test_reference_matches_committed_fixture(fresh_reference: dict) -> None:
    committed = load(FIXTURES / "reference.json")
    assert fresh_reference["encoder"] == committed["encoder"]
    assert fresh_reference["libraries"] == committed["libraries"]
    assert [r["id"] for r in fresh_reference["results"]] == [r["id"] for r in committed["results"]]
    for new, old in zip(fresh_reference["results"], committed["results"]):
        # BLEU and ROUGE are exact float arithmetic: bit-identical on a rerun.
        for key in ("bleu", "rouge1", "rougeL"):
            assert new[key] == old[key], (new["id"], key)
        # BERTScore goes through torch fp32 matmuls, whose summation order may vary with threads.
        assert new["bertscore"] == pytest.approx(old["bertscore"], abs=1e-6), new["id"]


def test_reference_values_are_sane(fresh_reference: dict) -> None:
    pairs = {p["id"]: p for p in load(FIXTURES / "pairs.json")["pairs"]}
    for r in fresh_reference["results"]:
        p = pairs[r["id"]]
        for key in ("bleu", "rouge1", "rougeL"):
            assert 0.0 <= r[key] <= 1.0 + 1e-12, (p["tag"], key)
        if p["tag"] == "identical":
            assert r["bleu"] == pytest.approx(1.0) and r["rouge1"] == 1.0 and r["bertscore"] == pytest.approx(1.0, abs=1e-5)
        if p["hyp"].strip() == "" or p["ref"].strip() == "":
            # bert-score's own rule for blank sentences: F set to 0.
            assert r["bertscore"] == 0.0 and r["bleu"] == 0.0, p["tag"]
