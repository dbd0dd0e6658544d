"""bundle.json: build, hash and validate (the Python mirror of core/model/bundle.ts).

The schema is core/model/bundle.schema.json, generated from the zod schema, so both sides accept
and refuse the same manifests; the cross-field checks below repeat `dimensionProblem`.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import jsonschema

FORMAT_VERSION = 1
REQUIRED_FILES = ("vision.onnx", "embed.onnx", "decoder.onnx", "gradient.onnx", "readout.safetensors", "tokenizer.json")
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "core" / "model" / "bundle.schema.json"


class BundleError(ValueError):
    """A bundle that is refused; `item` names the file, the message says why."""

    def __init__(self, item: str | Path, problem: str):
        super().__init__(f"{item}: {problem}")
        self.item, self.problem = str(item), problem


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_entries(out: Path, names: list[str]) -> dict:
    return {n: {"sha256": sha256_file(out / n), "bytes": (out / n).stat().st_size} for n in sorted(names)}


def write_manifest(out: Path, manifest: dict) -> Path:
    path = out / "bundle.json"
    path.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")
    return path


def dimension_problem(m: dict) -> str | None:
    im = m["image"]
    grid = im["size"] / im["patchSize"]
    if grid != int(grid) or im["patchGrid"] != [int(grid), int(grid)]:
        return f"image.patchGrid {im['patchGrid']} does not match size {im['size']} / patchSize {im['patchSize']}"
    merge = im["mergeFactor"] if isinstance(im["mergeFactor"], list) else [im["mergeFactor"]] * 2
    if [t * f for t, f in zip(im["tokenGrid"], merge)] != im["patchGrid"]:
        return (f"image.tokenGrid {im['tokenGrid']} × mergeFactor {json.dumps(im['mergeFactor'])} does not match "
                f"patchGrid {im['patchGrid']}")
    p = im["tokenGrid"][0] * im["tokenGrid"][1] + im["clsTokens"]
    if m["imageTokens"] != p:
        return f"imageTokens {m['imageTokens']} does not match tokenGrid {im['tokenGrid']} + clsTokens {im['clsTokens']} = {p}"
    if m["heads"] % m["kvHeads"]:
        return f"heads {m['heads']} is not a multiple of kvHeads {m['kvHeads']}"
    ids = [("imageTokenId", m["imageTokenId"]), ("bosId", m["bosId"]), ("eosId", m["eosId"])]
    ids += [(f"prompt.prefixIds[{i}]", v) for i, v in enumerate(m["prompt"]["prefixIds"])]
    ids += [(f"prompt.suffixIds[{i}]", v) for i, v in enumerate(m["prompt"]["suffixIds"])]
    for name, v in ids:
        if v is not None and v >= m["vocab"]:
            return f"{name} {v} is not < vocab {m['vocab']}"
    n = len(m["prompt"]["prefixIds"]) + m["imageTokens"] + len(m["prompt"]["suffixIds"])
    if n >= m["maxPositions"]:
        return f"prompt length {n} leaves no room below maxPositions {m['maxPositions']}"
    return None


def readout_shapes(m: dict) -> dict[str, list[int]]:
    shapes = {"w_u": [m["vocab"], m["hidden"]]}
    shapes.update({f"w_out.{l}": [m["hidden"], m["ffnDim"]] for l in range(m["layers"])})
    return shapes


def safetensors_header(path: Path) -> dict:
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    return header


def load_manifest(bundle_dir: str | Path, verify_hashes: bool = True) -> dict:
    """Read and verify bundle.json and every file it lists; raise one BundleError on the first problem."""
    d = Path(bundle_dir)
    mp = d / "bundle.json"
    try:
        m = json.loads(mp.read_text())
    except FileNotFoundError:
        raise BundleError(mp, "missing (not a bundle directory?)") from None
    except json.JSONDecodeError as e:
        raise BundleError(mp, f"not valid JSON: {e}") from None
    version = m.get("formatVersion") if isinstance(m, dict) else None
    if version != FORMAT_VERSION:
        raise BundleError(mp, f"format version {json.dumps(version)} is not supported (this runtime reads {FORMAT_VERSION})")
    schema = json.loads(SCHEMA_PATH.read_text())
    err = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(m))
    if err is not None:
        where = ".".join(str(p) for p in err.absolute_path) or "(root)"
        raise BundleError(mp, f"invalid manifest at {where}: {err.message}")
    dims = dimension_problem(m)
    if dims:
        raise BundleError(mp, f"inconsistent dimensions: {dims}")
    for name in REQUIRED_FILES:
        if name not in m["files"]:
            raise BundleError(mp, f"files does not list required {name}")
    for name, entry in m["files"].items():
        if name.startswith("/") or ".." in Path(name).parts:
            raise BundleError(mp, f"file name {name} leaves the bundle directory")
        p = d / name
        if not p.is_file():
            raise BundleError(p, "missing (listed in bundle.json)")
        size = p.stat().st_size
        if size != entry["bytes"]:
            raise BundleError(p, f"size {size} bytes, bundle.json says {entry['bytes']}")
        if verify_hashes:
            sha = sha256_file(p)
            if sha != entry["sha256"]:
                raise BundleError(p, f"sha256 {sha} does not match bundle.json ({entry['sha256']})")
    rp = d / "readout.safetensors"
    try:
        header = safetensors_header(rp)
    except Exception as e:  # noqa: BLE001 - any unreadable header is the same bad bundle
        raise BundleError(rp, f"unreadable safetensors header: {e}") from None
    for name, shape in readout_shapes(m).items():
        t = header.get(name)
        if t is None:
            raise BundleError(rp, f"tensor {name} missing")
        if t["dtype"] != "F32":
            raise BundleError(rp, f"tensor {name} has dtype {t['dtype']}, expected F32")
        if t["shape"] != shape:
            raise BundleError(rp, f"inconsistent dimensions: tensor {name} has shape {t['shape']}, bundle.json implies {shape}")
    return m
