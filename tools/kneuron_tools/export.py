"""Export a checkpoint to a bundle directory (docs/BUNDLE.md): graphs, readout, tokenizer,
test vectors, bundle.json. Every output is a deterministic function of the checkpoint."""

from __future__ import annotations

import logging
import shutil
import time
import warnings
from pathlib import Path

import onnx
import onnx_ir as ir
import torch
import transformers
from safetensors.torch import save_file
from torch._decomp import core_aten_decompositions
from torch.export import Dim
from torch.fx.experimental.proxy_tensor import make_fx

from . import bundle as B
from .checkpoint import Checkpoint
from .fp16 import round_model_fp16, store_weights_fp16
from .graphs import DecoderGraph, EmbedGraph, LlamaCore, VisionGraph, gradient_fn
from .testvectors import write_testvectors

OPSET = 18
log = logging.getLogger("kneuron.export")


def _save(program, path: Path) -> list[str]:
    """Save an ONNXProgram; returns the file names written (the graph, plus external data > 2 GB)."""
    before = set(p.name for p in path.parent.iterdir())
    program.save(str(path))
    written = set(p.name for p in path.parent.iterdir()) - before
    return sorted(written | {path.name})


def _export(module_or_gm, args, path: Path, input_names, output_names, dynamic_shapes,
            dim_names: dict[str, list] | None = None) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            module_or_gm, args, dynamo=True, opset_version=OPSET, input_names=input_names,
            output_names=output_names, dynamic_shapes=dynamic_shapes, verbose=False, report=False)
    # Readable names for dims torch.export could only name by a symbol (e.g. past + sequence).
    for v in program.model.graph.inputs:
        if dim_names and v.name in dim_names:
            v.shape = ir.Shape(dim_names[v.name])
    return _save(program, path)


def decoder_io_names(n_layers: int) -> tuple[list[str], list[str]]:
    past = [f"past_key_values.{l}.{kv}" for l in range(n_layers) for kv in ("key", "value")]
    present = [f"present.{l}.{kv}" for l in range(n_layers) for kv in ("key", "value")]
    return (["inputs_embeds", "attention_mask", "position_ids", "delta_mask", "ffn_delta", "ffn_scale", "tap_positions",
             "logits_positions", *past],
            ["logits", "ffn_act", *present])


def export_vision(ck: Checkpoint, out: Path) -> list[str]:
    s = ck.image["size"]
    x = torch.randn(2, 3, s, s, generator=torch.Generator().manual_seed(0))
    graph = ck.model.vision_graph() if hasattr(ck.model, "vision_graph") else VisionGraph(ck.model)
    return _export(graph.eval(), (x,), out / "vision.onnx", ["pixel_values"], ["image_embeds"],
                   ({0: Dim("batch", min=1, max=1024)},))


def export_embed(ck: Checkpoint, out: Path) -> list[str]:
    ids = torch.tensor([[1, 2, 3], [4, 5, 6]], dtype=torch.long)
    return _export(EmbedGraph(ck.model).eval(), (ids,), out / "embed.onnx", ["input_ids"], ["inputs_embeds"],
                   ({0: Dim("batch", min=1, max=1024), 1: Dim("sequence", min=1, max=ck.text.max_position_embeddings)},))


def export_decoder(ck: Checkpoint, site: str, out: Path) -> list[str]:
    tc = ck.text
    L, H, D, kv, hd = tc.num_hidden_layers, tc.hidden_size, tc.intermediate_size, tc.num_key_value_heads, ck.head_dim
    b, t, past = 2, 5, 3
    g = torch.Generator().manual_seed(0)
    args = (torch.randn(b, t, H, generator=g), torch.ones(b, past + t, dtype=torch.long),
            torch.arange(past, past + t).repeat(b, 1), torch.ones(b, t), torch.zeros(b, L, D), torch.ones(b, L, D), torch.tensor([1, 3]), torch.tensor([2, 3, 4]),
            *[torch.randn(b, kv, past, hd, generator=g) for _ in range(2 * L)])
    bt = {0: Dim("batch", min=1, max=1024), 1: Dim("sequence", min=1, max=tc.max_position_embeddings)}
    past_d = Dim("past", min=0, max=tc.max_position_embeddings)
    # attention_mask is past + sequence long; torch.export infers that relation (Dim.AUTO).
    shapes = (bt, {0: bt[0], 1: Dim.AUTO}, bt, bt, {0: bt[0]}, {0: bt[0]}, {0: Dim("taps", min=0, max=tc.max_position_embeddings)},
              {0: Dim("logit_positions", min=1, max=tc.max_position_embeddings)},
              tuple({0: bt[0], 2: past_d} for _ in range(2 * L)))  # *past_flat is one varargs entry
    inputs, outputs = decoder_io_names(L)
    return _export(DecoderGraph(ck.model, site).eval(), args, out / "decoder.onnx", inputs, outputs, shapes,
                   {"attention_mask": ["batch", "past + sequence"]})


def export_gradient(ck: Checkpoint, site: str, out: Path) -> list[str]:
    """Trace forward + torch.autograd.grad into one aten graph (make_fx, symbolic T), export it."""
    core = LlamaCore(ck.model, site).eval()
    fn = gradient_fn(core, ck.n_image)
    t = len(ck.input_ids()) + 3
    g = torch.Generator().manual_seed(0)
    args = (torch.randn(1, t, ck.text.hidden_size, generator=g), torch.ones(1, t, dtype=torch.long),
            torch.arange(t)[None], torch.tensor(len(ck.prefix_ids)), torch.tensor(t - 1), torch.tensor(ck.eos_id))
    gm = make_fx(fn, decomposition_table=core_aten_decompositions(), tracing_mode="symbolic",
                 _allow_non_fake_inputs=True)(*args)
    seq = Dim("sequence", min=ck.n_image + 1, max=ck.text.max_position_embeddings)
    return _export(gm, args, out / "gradient.onnx",
                   ["inputs_embeds", "attention_mask", "position_ids", "image_start", "target_pos", "target_id"],
                   ["z", "act", "grad"], ({1: seq}, {1: seq}, {1: seq}, None, None, None))


def write_readout(ck: Checkpoint, out: Path) -> list[str]:
    tensors = {"w_u": ck.model.lm_head.weight.detach().float().contiguous()}
    for l, layer in enumerate(ck.model.model.language_model.layers):
        tensors[f"w_out.{l}"] = layer.mlp.down_proj.weight.detach().float().contiguous()
    save_file(tensors, str(out / "readout.safetensors"))
    return ["readout.safetensors"]


def manifest(ck: Checkpoint, site: str, files: dict) -> dict:
    tc = ck.text
    g = ck.patch_grid
    mr, mc = getattr(ck, "merge", (1, 1))  # patches per image token along rows, cols (minigpt4: 1, 4)
    return {
        "formatVersion": B.FORMAT_VERSION,
        "family": ck.family,
        "activationSite": site,
        "image": {**ck.image, "patchSize": ck.patch_size, "patchGrid": [g, g],
                  "mergeFactor": mr if mr == mc else [mr, mc], "tokenGrid": [g // mr, g // mc],
                  "clsTokens": ck.cls_tokens},
        "prompt": {"template": ck.prompt, "prefixIds": ck.prefix_ids, "suffixIds": ck.suffix_ids},
        "imageTokens": ck.n_image,
        "imageTokenId": ck.image_token_id,
        "bosId": ck.bos_id,
        "eosId": ck.eos_id,
        "layers": tc.num_hidden_layers,
        "hidden": tc.hidden_size,
        "ffnDim": tc.intermediate_size,
        "heads": tc.num_attention_heads,
        "kvHeads": tc.num_key_value_heads,
        "headDim": ck.head_dim,
        "vocab": tc.vocab_size,
        "maxPositions": tc.max_position_embeddings,
        "files": files,
        "exporter": {"tool": "tools/export_bundle.py", "opset": OPSET,
                     "versions": {"torch": torch.__version__.split("+")[0], "transformers": transformers.__version__,
                                  "onnx": onnx.__version__}},
    }


def export_bundle(ck: Checkpoint, out: str | Path, site: str = "down_proj_input", testvectors: bool = True,
                  timings: dict[str, float] | None = None, weights: str = "fp32") -> dict:
    """Write the whole bundle into `out` (emptied first) and return its verified manifest.
    `timings`, when given, receives the seconds each step took. `weights` "fp16" rounds the
    model's parameters to float16 in place and stores the graphs' weights as float16 (fp16.py)."""
    if weights not in ("fp32", "fp16"):
        raise ValueError(f"weights {weights!r} is not 'fp32' or 'fp16'")
    if weights == "fp16":
        round_model_fp16(ck.model)
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    torch.manual_seed(0)
    names: list[str] = []
    timings = {} if timings is None else timings
    for step, fn in [("vision", lambda: export_vision(ck, out)), ("embed", lambda: export_embed(ck, out)),
                     ("decoder", lambda: export_decoder(ck, site, out)),
                     ("gradient", lambda: export_gradient(ck, site, out)), ("readout", lambda: write_readout(ck, out))]:
        t0 = time.perf_counter()
        names += fn()
        timings[step] = time.perf_counter() - t0
        log.info("%s: %.1fs", step, timings[step])
    if weights == "fp16":
        graphs = [n for n in names if n.endswith(".onnx")]
        names = [n for n in names if not n.endswith((".onnx", ".onnx.data"))]
        for n in graphs:
            names += store_weights_fp16(out / n)
    shutil.copyfile(ck.model_dir / "tokenizer.json", out / "tokenizer.json")
    names.append("tokenizer.json")
    if testvectors:
        t0 = time.perf_counter()
        names += write_testvectors(ck, site, out)
        timings["testvectors"] = time.perf_counter() - t0
        log.info("testvectors: %.1fs", timings["testvectors"])
    B.write_manifest(out, manifest(ck, site, B.file_entries(out, names)))
    return B.load_manifest(out)


def onnx_io(path: Path) -> dict:
    """Graph inputs/outputs as {name: (elem type, dims)}, for docs and tests."""
    g = onnx.load(str(path), load_external_data=False).graph
    def dims(v):
        return [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
    def typ(v):
        return onnx.helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type).name
    return {"inputs": {v.name: (typ(v), dims(v)) for v in g.input},
            "outputs": {v.name: (typ(v), dims(v)) for v in g.output}}


__all__ = ["export_bundle", "onnx_io", "decoder_io_names"]
