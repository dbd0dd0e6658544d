"""`--weights fp16`: bundles whose graph weights are stored as float16 and computed in float32.

The export rounds every parameter of the torch model to float16 first (`round_model_fp16`), so
the bundle, its readout and its test vectors all describe one model — the fp16-rounded one — and
parity with torch stays at the float32 tolerances. Then every float32 initializer whose values
survive the float16 round trip exactly (the rounded weights; never a constant such as the
attention mask's finfo.min) is stored as float16 behind a Cast to float32: the graphs' inputs,
outputs and arithmetic stay float32, the files shrink to about half.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

MIN_ELEMENTS = 1024   # small tensors (norm weights, biases) are not worth a Cast node
TWO_GB = 2**31


def round_model_fp16(model: torch.nn.Module) -> None:
    """Round every parameter to the nearest float16 value, in place (still float32 tensors)."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.half().float())


def store_weights_fp16(path: Path) -> list[str]:
    """Rewrite the ONNX file at `path`; returns the file names it now consists of."""
    path = Path(path)
    model = onnx.load(str(path), load_external_data=True)
    g = model.graph
    kept, casts = [], []
    for init in g.initializer:
        if init.data_type == TensorProto.FLOAT and np.prod(init.dims) >= MIN_ELEMENTS:
            a = numpy_helper.to_array(init)
            h = a.astype(np.float16)
            if np.array_equal(h.astype(np.float32), a):
                kept.append(numpy_helper.from_array(h, init.name + "__fp16"))
                casts.append(helper.make_node("Cast", [init.name + "__fp16"], [init.name], to=TensorProto.FLOAT,
                                              name=init.name + "__to_fp32"))
                continue
        kept.append(init)
    del g.initializer[:]
    g.initializer.extend(kept)
    nodes = list(g.node)
    del g.node[:]
    g.node.extend(casts + nodes)
    data = path.with_name(path.name + ".data")
    if data.exists():
        data.unlink()
    # Protobuf cannot serialise 2 GB or more: then the weights go to one external data file.
    big = sum(len(i.raw_data) for i in g.initializer) > TWO_GB - (64 << 20)
    onnx.save_model(model, str(path), save_as_external_data=big, all_tensors_to_one_file=True,
                    location=data.name if big else None)
    return [path.name] + ([data.name] if big else [])
