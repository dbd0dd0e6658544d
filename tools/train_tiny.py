#!/usr/bin/env python3
"""Train kneuron's embedded default model: a tiny LLaVA-style MLLM, on CPU, the way real MLLMs
are trained — a language model first, then vision alignment into it.

One readable file, nanoGPT-style; data, evaluation and the report live in tools/kneuron_tools/
(synthdata, augment, tinytok, facts, train_eval, train_report). The model is a standard Hugging Face
`LlavaForConditionalGeneration` (CLIP ViT + MLP projector + Llama decoder: SwiGLU, RMSNorm,
RoPE), so the same exporter path serves it and real LLaVA checkpoints. Stages (docs/TINY_MODEL.md):

  lm      decoder alone, on text: captions after a per-patch word grid of the scene, plus facts
  vision  vision tower + projector: per-patch object loss, image tokens -> the grid words' embeddings
  align   vision tower + projector, decoder frozen, on the caption loss (LLaVA stage 1)
  joint   everything (LLaVA stage 2); kept only if held-out recall improves

The defaults are the committed models/tiny's recipe (≈ 83 min on 2 threads):

    python tools/train_tiny.py --threads 2 --out .cache/tiny-ckpt --export models/tiny   # full run
    python tools/train_tiny.py --threads 2 --out .cache/tiny-ckpt --resume               # continue after a stop
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kneuron_tools import synthdata as sd  # noqa: E402
from kneuron_tools.augment import augment  # noqa: E402
from kneuron_tools.facts import facts_corpus  # noqa: E402
from kneuron_tools.tinytok import (BOS, EOS, IMAGE, PAD, PROMPT, build_tokenizer, encode_batch,  # noqa: E402,F401
                                   prompt_ids)

ROOT = sd.ROOT
MEAN = STD = (0.5, 0.5, 0.5)
N_CLASSES = 91                    # COCO category ids 1..90, 0 = background
STAGES = ("lm", "vision", "align", "joint")


@dataclass
class Config:
    data: str = str(ROOT / ".cache" / "synth-seed0")
    data_seed: int = 0
    train_limit: int = 0          # 0 = the whole train split
    removed_share: float = 0.4    # share of train images also used with objects inpainted away
    style_share: float = 0.0      # share of batch images with colours/strokes randomised (augment.randomise_style)
    # model (image 64 px, patch 8 -> 8x8 = 64 image tokens)
    image_size: int = 64
    patch: int = 8
    v_hidden: int = 128
    v_layers: int = 4
    v_heads: int = 4
    hidden: int = 192
    layers: int = 6
    ffn: int = 576                # D, the FFN width whose neurons the method studies
    heads: int = 6
    # optimisation: steps and peak learning rate per stage
    seed: int = 0
    lm_steps: int = 500
    lm_lr: float = 3e-3
    lm_batch: int = 16            # grid + caption sequences per LM step (the rest of a batch unused)
    facts_batch: int = 64
    vision_steps: int = 6000
    vision_lr: float = 3e-3
    align_steps: int = 150
    align_lr: float = 1e-3
    joint_steps: int = 4500
    joint_lr: float = 1e-3
    batch: int = 32
    warmup: int = 100
    weight_decay: float = 0.05
    aux_weight: float = 0.5       # per-patch object loss on the image tokens
    embed_weight: float = 1.0     # image token -> embedding of its grid word (MSE)
    threads: int = 1              # under load on the shared 2-core box one thread ran 1.5-25x faster than two
    checkpoint_minutes: float = 4.0
    max_new_tokens: int = 24
    heldout_seeds: str = "1,777"  # data seeds whose experiment splits measure held-out recall ("" = none)


# ---------------------------------------------------------------------------------------- model

def build_model(cfg: Config, vocab_size: int):
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    n_tokens = (cfg.image_size // cfg.patch) ** 2
    vision = CLIPVisionConfig(
        image_size=cfg.image_size, patch_size=cfg.patch, hidden_size=cfg.v_hidden,
        intermediate_size=4 * cfg.v_hidden, num_hidden_layers=cfg.v_layers,
        num_attention_heads=cfg.v_heads, projection_dim=cfg.v_hidden)
    text = LlamaConfig(
        vocab_size=vocab_size, hidden_size=cfg.hidden, intermediate_size=cfg.ffn,
        num_hidden_layers=cfg.layers, num_attention_heads=cfg.heads, num_key_value_heads=cfg.heads,
        max_position_embeddings=2 * (n_tokens + 64), hidden_act="silu", rms_norm_eps=1e-6,
        tie_word_embeddings=False, bos_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD)
    config = LlavaConfig(
        vision_config=vision, text_config=text, image_token_id=IMAGE,
        vision_feature_layer=-1, vision_feature_select_strategy="default",
        projector_hidden_act="gelu", image_seq_length=n_tokens)
    torch.manual_seed(cfg.seed)
    model = LlavaForConditionalGeneration(config)
    for k, v in (("pad_token_id", PAD), ("eos_token_id", EOS), ("bos_token_id", BOS)):
        setattr(model.generation_config, k, v)
    return model


def normalize(pixels_u8: torch.Tensor) -> torch.Tensor:
    return (pixels_u8.float() / 255.0 - MEAN[0]) / STD[0]


def image_tokens(model, pixel_values: torch.Tensor) -> torch.Tensor:
    """The P image embeddings the decoder sees (vision tower -> feature layer -> projector)."""
    c = model.config
    out = model.model.get_image_features(pixel_values=pixel_values, vision_feature_layer=c.vision_feature_layer,
                                         vision_feature_select_strategy=c.vision_feature_select_strategy)
    return torch.stack(list(out.pooler_output))


class Batches:
    """Deterministic batches: one generator drives order (reshuffled each epoch), caption choice,
    augmentation and the facts sampled, so a run is a function of the seed; its state is saved
    with the checkpoint, so a resumed run continues the same stream."""

    def __init__(self, data: sd.Split, cfg: Config):
        self.data, self.batch, self.style_share = data, cfg.batch, cfg.style_share
        self.g = torch.Generator().manual_seed(cfg.seed)
        self.order, self.pos = torch.randperm(len(data.ids), generator=self.g), 0

    def next(self) -> tuple[list[str], torch.Tensor, torch.Tensor]:
        """(captions, normalised augmented pixels [B,3,S,S], object maps [B,S,S])."""
        if self.pos + self.batch > len(self.order):
            self.order, self.pos = torch.randperm(len(self.order), generator=self.g), 0
        idx = self.order[self.pos:self.pos + self.batch].tolist()
        self.pos += self.batch
        picks = torch.randint(0, 1 << 30, (len(idx),), generator=self.g).tolist()
        caps = [self.data.captions[i][p % len(self.data.captions[i])] for i, p in zip(idx, picks)]
        x, objects = augment(self.data.pixels[idx].float() / 255.0, self.data.objects[idx].long(), self.g,
                             self.style_share)
        return caps, normalize(x * 255.0), objects

    def state(self) -> dict:
        return {"g": self.g.get_state(), "order": self.order, "pos": self.pos}

    def load(self, st: dict) -> None:
        self.g.set_state(st["g"])
        self.order, self.pos = st["order"], st["pos"]


# ----------------------------------------------------------------------------------------- train

def lr_at(step: int, steps: int, lr: float, warmup: int) -> float:
    """Linear warm-up (at most a tenth of the stage), then cosine decay to lr / 20."""
    warmup = max(1, min(warmup, steps // 10))
    if step < warmup:
        return lr * (step + 1) / warmup
    t = (step - warmup) / max(1, steps - warmup)
    return lr / 20 + 0.5 * (lr - lr / 20) * (1 + math.cos(math.pi * t))


def trainable(model, aux_head, stage: str) -> list[tuple[str, torch.nn.Parameter]]:
    """Which weights a stage trains; everything else is frozen (no weight gradients computed)."""
    vision = ("model.vision_tower.", "model.multi_modal_projector.")
    named = [(n, p) for n, p in model.named_parameters()] + [("aux." + n, p) for n, p in aux_head.named_parameters()]
    keep = {"lm": lambda n: not n.startswith(vision) and not n.startswith("aux."),
            "vision": lambda n: n.startswith(vision + ("aux.",)),
            "align": lambda n: n.startswith(vision + ("aux.",)),
            "joint": lambda n: True}[stage]
    for n, p in named:
        p.requires_grad_(keep(n))
    return [(n, p) for n, p in named if keep(n)]


def make_optimizer(cfg: Config, named, lr: float) -> torch.optim.AdamW:
    decay = [p for n, p in named if p.dim() >= 2 and "embed" not in n]
    other = [p for n, p in named if not (p.dim() >= 2 and "embed" not in n)]
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                              {"params": other, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.98))


class Trainer:
    """The four stages, with a checkpoint (model, optimiser, data stream, losses) every few
    minutes and at each stage's end in out/train_state.pt, from which --resume continues."""

    def __init__(self, cfg: Config, model, tok, data: sd.Split, out: Path):
        self.cfg, self.model, self.tok, self.data, self.out = cfg, model, tok, data, out
        self.n_image = (cfg.image_size // cfg.patch) ** 2
        self.prefix = prompt_ids(tok, self.n_image)
        self.aux_head = torch.nn.Linear(cfg.hidden, N_CLASSES)
        self.batches = Batches(data, cfg)
        self.facts = facts_corpus(sd.caption_word)
        self.history: dict[str, list[float]] = {s: [] for s in STAGES} | {"aux": []}
        self.seconds: dict[str, float] = {}
        self.stage, self.step, self.opt_state = 0, 0, None

    def grid_prefixes(self, caps: list[str], objects: torch.Tensor) -> list[list[int]]:
        """The LM stage's text stand-in for the image tokens: one word per patch."""
        grids = sd.word_grids(objects, [sd.background_word(c) for c in caps], self.data.categories, self.cfg.patch)
        return [self.prefix[:1] + [self.tok.token_to_id(w) for w in grid] + self.prefix[1 + self.n_image:]
                for grid in grids]

    def aux_losses(self, tokens: torch.Tensor, caps: list[str], objects: torch.Tensor) -> torch.Tensor:
        """Per-patch object CE (linear head, soft targets = class shares) + MSE of each image token
        to the decoder's input embedding of its grid word — the word the LM read there."""
        shares = sd.patch_shares(objects, self.cfg.patch)
        ce = -(shares * F.log_softmax(self.aux_head(tokens), dim=-1)).sum(-1).mean()
        grid_ids = torch.tensor([p[1:1 + self.n_image] for p in self.grid_prefixes(caps, objects)])
        target = self.model.get_input_embeddings()(grid_ids).detach()
        return self.cfg.aux_weight * ce + self.cfg.embed_weight * F.mse_loss(tokens, target) / target.pow(2).mean()

    def step_loss(self, stage: str) -> torch.Tensor:
        caps, px, objects = self.batches.next()
        if stage == "lm":
            caps, objects = caps[:self.cfg.lm_batch], objects[:self.cfg.lm_batch]
            ids, mask, labels = encode_batch(self.tok, self.grid_prefixes(caps, objects), caps)
            loss = self.lm_loss(ids, mask, labels)
            pick = torch.randint(len(self.facts), (self.cfg.facts_batch,), generator=self.batches.g).tolist()
            ids, mask, labels = encode_batch(self.tok, [[BOS]] * len(pick), [self.facts[i] for i in pick])
            return loss + self.lm_loss(ids, mask, labels)
        if stage == "vision":
            return self.aux_losses(image_tokens(self.model, px), caps, objects)
        seen: list[torch.Tensor] = []
        hook = self.model.model.multi_modal_projector.register_forward_hook(lambda m, i, o: seen.append(o))
        ids, mask, labels = encode_batch(self.tok, [self.prefix] * len(caps), caps)
        loss = self.model(input_ids=ids, attention_mask=mask, pixel_values=px, labels=labels).loss
        hook.remove()
        aux = self.aux_losses(seen[0], caps, objects)
        self.history["aux"].append(aux.item())
        return loss + aux

    def lm_loss(self, ids, mask, labels) -> torch.Tensor:
        """Text only: the decoder with its own embeddings (no image, no vision tower)."""
        return self.model(input_ids=ids, attention_mask=mask, labels=labels).loss

    def save_state(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        tmp = self.out / "train_state.pt.tmp"
        torch.save({"model": self.model.state_dict(), "aux": self.aux_head.state_dict(), "stage": self.stage,
                    "step": self.step, "opt": self.opt_state, "batches": self.batches.state(),
                    "history": self.history, "seconds": self.seconds}, tmp)
        os.replace(tmp, self.out / "train_state.pt")

    def resume(self) -> None:
        st = torch.load(self.out / "train_state.pt", weights_only=False)
        self.model.load_state_dict(st["model"])
        self.aux_head.load_state_dict(st["aux"])
        self.batches.load(st["batches"])
        self.stage, self.step, self.opt_state = st["stage"], st["step"], st["opt"]
        self.history, self.seconds = st["history"], st["seconds"]
        print(f"resumed at stage {STAGES[self.stage]} step {self.step}", flush=True)

    def run(self, until: str = "joint", on_stage_end=None) -> None:
        from tqdm import tqdm

        self.model.train()
        while self.stage <= STAGES.index(until):
            stage = STAGES[self.stage]
            steps, lr = getattr(self.cfg, f"{stage}_steps"), getattr(self.cfg, f"{stage}_lr")
            named = trainable(self.model, self.aux_head, stage)
            opt, params = make_optimizer(self.cfg, named, lr), [p for _, p in named]
            if self.opt_state is not None:
                opt.load_state_dict(self.opt_state)
            t0, saved = time.time() - self.seconds.get(stage, 0.0), time.time()
            bar = tqdm(range(self.step, steps), desc=stage, dynamic_ncols=True, mininterval=5)
            for step in bar:
                for group in opt.param_groups:
                    group["lr"] = lr_at(step, steps, lr, self.cfg.warmup)
                loss = self.step_loss(stage)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                opt.step()
                opt.zero_grad(set_to_none=True)
                self.history[stage].append(loss.item())
                self.step = step + 1
                if step % 10 == 0:
                    bar.set_postfix(loss=f"{np.mean(self.history[stage][-50:]):.3f}")
                if time.time() - saved > 60 * self.cfg.checkpoint_minutes:
                    self.opt_state, self.seconds[stage] = opt.state_dict(), time.time() - t0
                    self.save_state()
                    saved = time.time()
            self.seconds[stage] = time.time() - t0
            self.stage, self.step, self.opt_state = self.stage + 1, 0, None
            self.model.eval()
            if on_stage_end:
                on_stage_end(stage)
            self.model.train()
            self.save_state()
        self.model.eval()


# --------------------------------------------------------------------------------------- outputs

def save_checkpoint(model, tok, cfg: Config, out: Path) -> None:
    """save_pretrained + tokenizer.json + kneuron.json: the checkpoint convention of docs/BUNDLE.md."""
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.save(str(out / "tokenizer.json"))
    (out / "kneuron.json").write_text(json.dumps({
        "image": {"size": cfg.image_size, "mean": list(MEAN), "std": list(STD),
                  "resample": "bilinear", "resize": "squash"},
        "prompt": PROMPT, "bosId": BOS, "eosId": EOS,
    }, indent=2) + "\n")


def init_tokenizer(src: Path, built):
    """The checkpoint's tokenizer, which must hold every word of this run's texts."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(src / "tokenizer.json"))
    missing = sorted(set(built.get_vocab()) - set(tok.get_vocab()))
    if missing:
        raise SystemExit(f"--init-from {src}: its tokenizer lacks {len(missing)} training words, e.g. {missing[:5]}")
    return tok


def init_weights(model, src: Path) -> None:
    """Load a kept checkpoint's weights into the freshly built model (same shapes, strict)."""
    from transformers import LlavaForConditionalGeneration

    state = LlavaForConditionalGeneration.from_pretrained(src).state_dict()  # maps saved key layouts
    want = model.state_dict()
    bad = [k for k in want if k not in state or state[k].shape != want[k].shape]
    if bad:
        raise SystemExit(f"--init-from {src}: weights do not fit this config ({len(bad)} tensors differ, e.g. {bad[:3]})")
    model.load_state_dict(state)
    print(f"initialised from {src}", flush=True)


def main(argv: list[str] | None = None) -> int:
    from kneuron_tools import train_eval as te, train_report as tr

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for k, v in asdict(Config()).items():
        p.add_argument(f"--{k.replace('_', '-')}", type=type(v), default=v)
    p.add_argument("--out", default=str(ROOT / ".cache" / "tiny-ckpt"), help="checkpoint directory")
    p.add_argument("--export", default="", help="run tools/export_bundle.py into this bundle directory")
    p.add_argument("--no-eval", action="store_true", help="skip captioning val / experiment (keeps joint)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/train_state.pt")
    p.add_argument("--init-from", default="", help="start from this checkpoint's weights and tokenizer "
                   "(a kept run, e.g. a candidate's hf/) instead of a random init; its config must match")
    p.add_argument("--eval-only", action="store_true", help="train nothing: evaluate the --init-from checkpoint "
                   "as the training report does and write OUT/evaluation.json")
    args = p.parse_args(argv)
    cfg = Config(**{k: getattr(args, k) for k in asdict(Config())})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    torch.use_deterministic_algorithms(True)

    # the default data directory and the held-out ones are caches this trainer manages: refreshed
    # when the generator's version changes; a --data directory is used as given
    root = sd.ensure_data(Path(cfg.data), cfg.data_seed, ["train", "val", "experiment"], refresh=cfg.data == Config().data)
    train = sd.load_split(root, "train", cfg.image_size, cfg.train_limit, cfg.removed_share, cfg.seed)
    grid_words = [sd.grid_word(n) for n in train.categories.values()]
    texts = [c for cs in train.captions for c in cs] + facts_corpus(sd.caption_word) + grid_words
    tok = build_tokenizer(texts)
    if args.init_from:
        tok = init_tokenizer(Path(args.init_from), tok)
    model = build_model(cfg, tok.get_vocab_size())
    if args.init_from and not args.resume:
        init_weights(model, Path(args.init_from))
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{len(train.ids)} train scenes ({sum(i < 0 for i in train.ids)} with objects removed), "
          f"vocab {tok.get_vocab_size()}, {n_params:,} parameters", flush=True)

    trainer = Trainer(cfg, model, tok, train, out)
    if args.resume:
        trainer.resume()
    evals: dict[str, dict] = {}
    splits = {} if args.no_eval else {
        "val": sd.load_split(root, "val", cfg.image_size), "exp": sd.load_split(root, "experiment", cfg.image_size),
        **{f"seed{s}": sd.load_split(sd.ensure_data(ROOT / ".cache" / f"synth-seed{s}", s, ["experiment"], refresh=True),
                                     "experiment", cfg.image_size) for s in map(int, filter(None, cfg.heldout_seeds.split(",")))}}

    def evaluate(where: Path, label: str) -> dict:
        capt = lambda px: te.caption(model, trainer.prefix, px, normalize, EOS, PAD,
                                     lambda ids: tok.decode(ids, skip_special_tokens=True), cfg.max_new_tokens)
        ev = te.evaluate(capt, cfg.image_size, splits["val"], splits["exp"],
                         {k: v for k, v in splits.items() if k.startswith("seed")})
        (where / "evaluation.json").write_text(json.dumps(ev, indent=2) + "\n")
        print(label, json.dumps({k: v for k, v in ev.items() if not isinstance(v, list)}), flush=True)
        return ev

    if args.eval_only:
        if not args.init_from or args.no_eval:
            raise SystemExit("--eval-only evaluates the --init-from checkpoint (and cannot be combined with --no-eval)")
        model.eval()
        evaluate(out, str(args.init_from))
        return 0

    def on_stage_end(stage: str) -> None:
        if stage in ("align", "joint"):   # the two candidates: without and with the joint fine-tune
            save_checkpoint(model, tok, cfg, out / stage)
            if splits:
                evals[stage] = evaluate(out / stage, stage)

    trainer.run(on_stage_end=on_stage_end)
    for stage in ("align", "joint"):    # evaluations of stages finished before a resume
        f = out / stage / "evaluation.json"
        if stage not in evals and f.exists():
            evals[stage] = json.loads(f.read_text())
    # keep the candidate with the better held-out recall on the training seed's experiment split
    chosen = max(("joint", "align"), key=lambda s: evals[s]["heldout_object_recall"]) if len(evals) == 2 else "joint"
    for f in (out / chosen).iterdir():
        if f.is_file() and f.name != "evaluation.json":
            shutil.copy(f, out / f.name)
    report = tr.build_report(cfg=asdict(cfg) | {"data": os.path.relpath(cfg.data, ROOT)}, n_params=n_params,
                             vocab=tok.get_vocab_size(), train_scenes=len(train.ids), history=trainer.history,
                             seconds=trainer.seconds, evals=evals, chosen=chosen,
                             command="python tools/train_tiny.py " + " ".join(
                                 os.path.relpath(a, ROOT) if a.startswith(str(ROOT)) else a
                                 for a in (argv if argv is not None else sys.argv[1:])))
    tr.write_outputs(report, trainer.history, out)
    if args.export:
        dest = Path(args.export)
        subprocess.run([sys.executable, str(ROOT / "tools" / "export_bundle.py"), "--family", "tiny",
                        "--model", str(out), "--out", str(dest)], cwd=ROOT, check=True, timeout=1800)
        tr.copy_beside_bundle(out, dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
