#!/usr/bin/env python3
"""The PyTorch reference for `npm run bench` (a): noise-run captions the way the reference
implementations make them — one caption at a time with Hugging Face `generate` (greedy, 1 beam,
KV cache) and forward hooks that add the noise delta to the FFN activation site at the image
positions during the prefill.

  hooked_generate.py caption --model CKPT --family tiny --inputs IN.safetensors --out OUT.json [--threads N]
      IN holds pixel_values [N,3,S,S] and ffn_delta [N,L,D]; OUT gets the ids and the seconds spent
      in generate (model loading excluded).
  hooked_generate.py make-checkpoint --out DIR [--seed S]
      A randomly initialised checkpoint with the default tiny model's architecture (tools/train_tiny.py
      Config), for benchmarking when no trained checkpoint is at hand.
  hooked_generate.py same-model --model CKPT --bundle DIR
      Exit 0 iff the bundle was exported from this checkpoint (lm_head and every down_proj equal).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))


def cmd_caption(args) -> int:
    import torch
    from safetensors.torch import load_file

    from kneuron_tools.checkpoint import load_checkpoint
    from kneuron_tools.reference import SiteHooks

    torch.set_num_threads(args.threads)
    ck = load_checkpoint(args.model, args.family)
    t = load_file(args.inputs)
    pixels, deltas = t["pixel_values"], t["ffn_delta"]
    ids = torch.tensor([ck.input_ids()], dtype=torch.long)
    mask = (ids == ck.image_token_id).float()  # [1,T0]: image positions of the prompt
    out = []
    t0 = time.perf_counter()
    with torch.no_grad(), SiteHooks(ck.model, args.site) as hooks:
        for k in range(pixels.shape[0]):
            # The hook adds delta where the call's length equals the prompt's: the prefill only.
            hooks.delta, hooks.delta_mask = deltas[k:k + 1], mask
            gen = ck.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=pixels[k:k + 1],
                                    max_new_tokens=args.max_new_tokens, do_sample=False, num_beams=1,
                                    repetition_penalty=1.0, eos_token_id=ck.eos_id, pad_token_id=ck.eos_id)
            row = gen[0, ids.shape[1]:].tolist()
            out.append(row[:row.index(ck.eos_id)] if ck.eos_id in row else row)
    seconds = time.perf_counter() - t0
    Path(args.out).write_text(json.dumps({
        "ids": out, "seconds": seconds, "threads": args.threads,
        "maxRssBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }))
    return 0


def cmd_make_checkpoint(args) -> int:
    import torch
    from train_tiny import Config, build_model  # noqa: E402  (tools/ is on sys.path)

    from kneuron_tools.testmodel import build_tokenizer

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer()
    tok.save(str(out / "tokenizer.json"))
    cfg = Config(seed=args.seed)
    model = build_model(cfg, tok.get_vocab_size()).eval()
    # As in kneuron_tools.testmodel: widen the random init so captions are not constant.
    g = torch.Generator().manual_seed(args.seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=g) * (0.15 if "language_model" in name or "lm_head" in name else 0.1))
    model.save_pretrained(out)
    (out / "kneuron.json").write_text(json.dumps({
        "image": {"size": cfg.image_size, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
                  "resample": "bilinear", "resize": "squash"},
        "prompt": "<image> describe the image :", "bosId": tok.token_to_id("<s>"), "eosId": tok.token_to_id("</s>"),
    }, indent=2))
    return 0


def cmd_same_model(args) -> int:
    import torch
    from safetensors.torch import load_file
    from transformers import LlavaForConditionalGeneration

    r = load_file(str(Path(args.bundle) / "readout.safetensors"))
    model = LlavaForConditionalGeneration.from_pretrained(args.model, dtype=torch.float32)
    same = torch.equal(r["w_u"], model.lm_head.weight.detach()) and all(
        torch.equal(r[f"w_out.{l}"], layer.mlp.down_proj.weight.detach())
        for l, layer in enumerate(model.model.language_model.layers))
    print("same" if same else "different")
    return 0 if same else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("caption")
    c.add_argument("--model", required=True)
    c.add_argument("--family", default="tiny")
    c.add_argument("--site", default="down_proj_input")
    c.add_argument("--inputs", required=True)
    c.add_argument("--out", required=True)
    c.add_argument("--threads", type=int, default=1)
    c.add_argument("--max-new-tokens", type=int, default=32)
    m = sub.add_parser("make-checkpoint")
    m.add_argument("--out", required=True)
    m.add_argument("--seed", type=int, default=0)
    s = sub.add_parser("same-model")
    s.add_argument("--model", required=True)
    s.add_argument("--bundle", required=True)
    args = ap.parse_args(argv)
    return {"caption": cmd_caption, "make-checkpoint": cmd_make_checkpoint, "same-model": cmd_same_model}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
