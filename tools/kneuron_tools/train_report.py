"""The training report of tools/train_tiny.py: training_report.json, TRAINING.md and loss.png,
and the files copied beside an exported bundle (the report and the HF weights in hf/)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

HF_FILES = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "kneuron.json")
REPORT_FILES = ("training_report.json", "TRAINING.md", "loss.png")

def build_report(*, cfg: dict, n_params: int, vocab: int, train_scenes: int, history: dict, seconds: dict,
                 evals: dict, chosen: str, command: str) -> dict:
    last = lambda k: float(np.mean(history[k][-50:])) if history.get(k) else None
    return {
        "parameters": n_params, "vocab": vocab, "train_scenes": train_scenes,
        "train_seconds": round(sum(seconds.values()), 1),
        "stage_seconds": {k: round(v, 1) for k, v in seconds.items()}, "threads": cfg["threads"],
        "final_losses": {k: last(k) for k in history},
        "losses_every_10": {k: [round(x, 4) for x in v[::10]] for k, v in history.items()},
        "config": cfg, "command": command, "chosen": chosen,
        "evaluation": evals.get(chosen), "evaluations": evals,
    }


def plot_losses(history: dict[str, list[float]], path: Path) -> None:
    """One panel per stage, log scale, raw and smoothed."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("lm", "language model (text)", [("lm", "caption + facts CE", "#2f7d32")]),
              ("vision", "vision tower + projector", [("vision", "patch object CE + embedding MSE", "#7a3fb0")]),
              ("align", "alignment, decoder frozen", [("align", "caption CE + aux", "#1f5fa8")]),
              ("joint", "joint fine-tune", [("joint", "caption CE + aux", "#c77c1e")])]
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6), dpi=90)
    for ax, (_, title, curves) in zip(axes, panels):
        for key, label, colour in curves:
            v = history.get(key) or []
            if not v:
                continue
            k = max(1, len(v) // 100)
            smooth = np.convolve(v, np.ones(k) / k, mode="valid")
            ax.plot(v, color=colour, alpha=0.25, lw=0.6)
            ax.plot(np.arange(len(smooth)) + k - 1, smooth, color=colour, lw=1.5, label=f"{label} (mean of {k})")
        ax.set_title(title)
        ax.set_yscale("log")
        ax.set_xlabel("step")
        if ax.lines:
            ax.legend(fontsize=7)
    fig.suptitle("tiny MLLM training loss")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _pct(ev: dict | None, k: str) -> str:
    return f"{100 * ev[k]:.1f}%" if ev and k in ev else "not evaluated"


def write_markdown(report: dict, path: Path) -> None:
    ev, c = report.get("evaluation"), report["config"]
    evs = report.get("evaluations") or {}
    row = lambda label, k, target: (f"| {label} | " + " | ".join(_pct(evs.get(s), k) for s in ("align", "joint"))
                                    + f" | {target} |")
    secs = report["stage_seconds"]
    lines = [
        "# Tiny default model: training report",
        "",
        "A LLaVA-style MLLM (CLIP ViT encoder, MLP projector, Llama decoder with SwiGLU, RMSNorm, RoPE) "
        "trained on CPU like a real MLLM: the decoder first as a language model on text alone, then the "
        "vision tower and projector aligned into it with the decoder frozen, then an optional short joint "
        "fine-tune (docs/TINY_MODEL.md). Train split: five icon styles; experiment splits: the held-out sixth (twemoji).",
        "",
        "| figure | value |",
        "| --- | --- |",
        f"| parameters | {report['parameters']:,} (decoder {c['layers']} × hidden {c['hidden']}, FFN {c['ffn']}; "
        f"vision {c['v_layers']} × {c['v_hidden']}) |",
        f"| training time | {report['train_seconds'] / 60:.1f} min on {report['threads']} CPU threads "
        f"({', '.join(f'{k} {v / 60:.1f}' for k, v in secs.items())} min) |",
        f"| steps (batch {c['batch']}) | lm {c['lm_steps']}, vision {c['vision_steps']}, align {c['align_steps']}, "
        f"joint {c['joint_steps']} |",
        f"| training scenes | {report['train_scenes']:,} (incl. copies with objects inpainted away) |",
        f"| kept | **{report['chosen']}** (better held-out recall on the training seed's experiment split) |",
        "",
        "| metric (held-out style unless noted) | without joint fine-tune | with | target |",
        "| --- | --- | --- | --- |",
        row("object-word recall, val (training styles)", "val_object_recall", ""),
        row("object-word recall, experiment split, data seed 0", "heldout_object_recall", ""),
        row("object-word recall, experiment split, data seed 1", "heldout_object_recall_seed1", "≥ 90%"),
        row("object-word recall, experiment split, data seed 777", "heldout_object_recall_seed777", "≥ 90%"),
        row("samples meeting constraints 1-2 (Telea), seed 0", "constraint_share", ""),
        row("samples meeting constraints 1-2 (Telea), seed 1 (the sweep's default set)", "constraint_share_seed1", "≥ 85%"),
        row("inpainted captions naming an object not in the image, seed 0", "invented_object_rate", ""),
        row("inpainted captions naming an object not in the image, seed 1", "invented_object_rate_seed1", "≤ 10%"),
        "",
        *(f"Reject reasons ({label} experiment samples, kept model): "
          + (", ".join(f"{k} {v}" for k, v in sorted(ev[key].items())) if ev and key in ev else "not evaluated") + "."
          for label, key in (("seed 0", "reject_reasons"), ("seed 1", "reject_reasons_seed1"))),
        "",
        "Constraint: the greedy caption of the original names the target object and the caption of "
        "the Telea-inpainted image (mask dilated by 3 px, radius 3) does not.",
        "",
        "Reproduce (deterministic from the seeds, same thread count):",
        "",
        "```",
        report["command"],
        "```",
        "",
        "![loss](loss.png)",
        "",
    ]
    path.write_text("\n".join(lines))


def write_outputs(report: dict, history: dict, out: Path) -> None:
    (out / "training_report.json").write_text(json.dumps(report, indent=2) + "\n")
    write_markdown(report, out / "TRAINING.md")
    plot_losses(history, out / "loss.png")


def copy_beside_bundle(ckpt: Path, bundle: Path) -> None:
    """The report files next to the bundle and the HF weights in bundle/hf/, so a later exporter
    change re-exports without retraining (tools/tests/test_reexport.py)."""
    for f in REPORT_FILES:
        shutil.copy(ckpt / f, bundle / f)
    (bundle / "hf").mkdir(exist_ok=True)
    for f in HF_FILES:
        shutil.copy(ckpt / f, bundle / "hf" / f)
