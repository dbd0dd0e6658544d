#!/usr/bin/env python3
"""Export a Hugging Face LLaVA checkpoint directory to a kneuron model bundle (docs/BUNDLE.md).

  python tools/export_bundle.py --family llava|tiny --model DIR --out DIR [--activation-site down_proj_input|act_fn]
  python tools/export_bundle.py --family minigpt4 --model LLAMA2_DIR --minigpt4 CKPT.pth --vit eva_vit_g.pth --out DIR
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kneuron_tools.bundle import BundleError  # noqa: E402
from kneuron_tools.checkpoint import FAMILIES, CheckpointError, load_checkpoint  # noqa: E402
from kneuron_tools.graphs import SITES  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--family", choices=(*FAMILIES, "minigpt4"), required=True)
    ap.add_argument("--model", required=True, type=Path, help="checkpoint directory (save_pretrained + tokenizer.json)")
    ap.add_argument("--out", required=True, type=Path, help="bundle directory to write (replaced)")
    ap.add_argument("--activation-site", choices=SITES, default="down_proj_input")
    ap.add_argument("--prompt", help="prompt template with one <image> (overrides kneuron.json / the llava default)")
    ap.add_argument("--no-testvectors", action="store_true", help="skip testvectors/ (saves time on big models)")
    ap.add_argument("--minigpt4", type=Path, help="minigpt4: the MiniGPT-4 checkpoint (.pth with llama_proj)")
    ap.add_argument("--vit", type=Path, help="minigpt4: EVA ViT-g weights as BLIP-2 ships them (eva_vit_g.pth)")
    ap.add_argument("--vit-heads", type=int, help="minigpt4: attention heads of the ViT (default width // 88: 16 for ViT-g)")
    ap.add_argument("--weights", choices=("fp32", "fp16"), default="fp32",
                    help="fp16: graph weights stored as float16 (about half the size), computed in float32")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("kneuron").setLevel(logging.INFO)

    from kneuron_tools.export import export_bundle  # heavy imports after argument parsing

    t0 = time.perf_counter()
    try:
        if args.family == "minigpt4":
            from kneuron_tools.minigpt4 import load_minigpt4
            if args.minigpt4 is None or args.vit is None:
                ap.error("--family minigpt4 needs --minigpt4 CKPT and --vit FILE")
            ck = load_minigpt4(args.model, args.minigpt4, args.vit, args.prompt, args.vit_heads)
        else:
            ck = load_checkpoint(args.model, args.family, args.prompt)
        m = export_bundle(ck, args.out, args.activation_site, testvectors=not args.no_testvectors,
                          weights=args.weights)
    except (CheckpointError, BundleError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    total = sum(f["bytes"] for f in m["files"].values())
    print(f"bundle {args.out}: {len(m['files'])} files, {total / 1e6:.2f} MB, "
          f"P={m['imageTokens']} L={m['layers']} D={m['ffnDim']} site={m['activationSite']}, "
          f"{time.perf_counter() - t0:.1f}s")
    for name, entry in m["files"].items():
        print(f"  {name:36s} {entry['bytes']:>12d}  {entry['sha256'][:16]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
