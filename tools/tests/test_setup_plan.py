"""infra/setup.sh --plan: what a sweep's setup installs (no torch) versus --full, from the stamps.

Runs the real script in a scratch copy of the repository's pin files, so nothing is installed."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PINS = ["package-lock.json", "infra/requirements.txt", "tools/requirements-encoder.txt",
        "tools/build_minilm_onnx.py", "tools/requirements.txt"]


@pytest.fixture()
def repo(tmp_path):
    for rel in ["infra/setup.sh", *PINS]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / rel, tmp_path / rel)
    return tmp_path


def plan(repo: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(repo / "infra/setup.sh"), "--plan", *args], capture_output=True,
                          text=True, timeout=60, env=env)


def stamp(repo: Path, path: str, *pins: str) -> None:
    (repo / path).parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(b"".join((repo / p).read_bytes() for p in pins)).hexdigest()
    (repo / path).write_text(digest + "\n")


def test_fresh_clone_sweep_installs_no_torch(repo):
    r = plan(repo)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert [l.split(" (")[0] for l in lines] == [
        "npm packages", "dev services Temporal + SeaweedFS", "BERTScore encoder ONNX, built without torch"]
    assert "without devDependencies" in lines[0]
    assert "torch" not in r.stdout.replace("without torch", "")


def test_full_adds_the_python_venv_unless_skipped(repo):
    assert "Python tools venv with torch (.venv" in plan(repo, "--full").stdout
    env = {"PATH": "/usr/bin:/bin", "KNEURON_SKIP_PY": "1"}
    assert ".venv" not in plan(repo, "--full", env=env).stdout


def test_stamps_say_what_is_in_place(repo):
    stamp(repo, "node_modules/.kneuron-stamp", "package-lock.json")
    stamp(repo, ".tools/.stamp", "infra/requirements.txt")
    stamp(repo, ".cache/minilm/.stamp", "tools/requirements-encoder.txt", "tools/build_minilm_onnx.py")
    assert plan(repo).stdout == "nothing to install\n"
    # A sweep's node_modules lacks the devDependencies, which --full needs.
    full = plan(repo, "--full").stdout.splitlines()
    assert full[0].startswith("npm packages (node_modules,") and full[1].startswith("Python tools venv")
    (repo / "node_modules/vitest").mkdir(parents=True)
    (repo / "node_modules/vitest/package.json").write_text("{}")
    stamp(repo, ".venv/.stamp", "tools/requirements.txt")
    assert plan(repo, "--full").stdout == "nothing to install\n"
    # Changing the encoder builder rebuilds the encoder only.
    (repo / "tools/build_minilm_onnx.py").write_text("# changed\n")
    [line] = plan(repo).stdout.splitlines()
    assert line.startswith("BERTScore encoder ONNX, built without torch (.cache/minilm")


def test_unknown_argument_is_refused_by_name(repo):
    r = plan(repo, "--fast")
    assert r.returncode == 2
    assert "unknown argument '--fast'" in r.stderr


def test_a_sweep_keeps_the_devdependencies_a_checkout_has(repo):
    """A stale stamp in a developer's checkout (vitest present) reinstalls with devDependencies:
    `npm run sweep` must not strip the test tools."""
    (repo / "node_modules/vitest").mkdir(parents=True)
    (repo / "node_modules/vitest/package.json").write_text("{}")
    first = plan(repo).stdout.splitlines()[0]
    assert first.startswith("npm packages (node_modules,") and "without devDependencies" not in first
