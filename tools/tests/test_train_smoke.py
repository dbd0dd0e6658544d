"""Smoke tests for tools/train_tiny.py and its kneuron_tools parts: a few steps of each stage of a
very small model on a handful of real synthetic scenes (core/data's generator), losses fall,
evaluation and export work, reruns and resumed runs are identical.

The full retrain (models/tiny/TRAINING.md) is too slow for CI; this checks the same code path.
"""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import train_tiny as tt  # noqa: E402
from kneuron_tools import synthdata as sd  # noqa: E402
from kneuron_tools import train_eval as te  # noqa: E402
from kneuron_tools.facts import CONCEPT_FACTS, facts_corpus  # noqa: E402

# A model small enough to train in seconds; the real defaults live in train_tiny.Config.
SMALL = dict(v_hidden=32, v_layers=1, v_heads=2, hidden=32, layers=2, ffn=64, heads=2, batch=8, warmup=3,
             lm_steps=30, lm_lr=3e-3, vision_steps=10, align_steps=4, joint_steps=4, facts_batch=8,
             heldout_seeds="", threads=1)
ARGS = [a for k, v in SMALL.items() for a in (f"--{k.replace('_', '-')}", str(v))]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    return sd.ensure_data(out, 7, ["train", "val", "experiment"], {"train": 24, "val": 4, "experiment": 4})


def small(data: Path, **kw) -> tt.Config:
    return tt.Config(**(SMALL | {"data": str(data), "removed_share": 0.5} | kw))


def setup(cfg: tt.Config):
    split = sd.load_split(Path(cfg.data), "train", cfg.image_size, 0, cfg.removed_share, cfg.seed)
    tok = tt.build_tokenizer([c for cs in split.captions for c in cs] + facts_corpus(sd.caption_word)
                             + [sd.grid_word(n) for n in split.categories.values()])
    return split, tok


def test_train_eval_export(data: Path, tmp_path: Path):
    ck, bundle = tmp_path / "ck", tmp_path / "bundle"
    assert tt.main(["--data", str(data), "--out", str(ck), *ARGS]) == 0
    report = json.loads((ck / "training_report.json").read_text())
    lm = report["losses_every_10"]["lm"]
    assert lm[-1] < 0.8 * lm[0], lm                                     # text loss, steps 0 and 20
    assert set(report["evaluations"]) == {"align", "joint"} and report["chosen"] in ("align", "joint")
    ev = report["evaluation"]
    assert ev["val_images"] == 4 and ev["experiment_samples_n"] == 4   # experiment: first 4 are samples
    for k in ("val_object_recall", "heldout_object_recall", "constraint_share", "invented_object_rate"):
        assert 0.0 <= ev[k] <= 1.0
    assert sum(ev["reject_reasons"].values()) == 4
    assert (ck / "loss.png").stat().st_size > 1000
    md = (ck / "TRAINING.md").read_text()
    assert "python tools/train_tiny.py" in md and "without joint fine-tune" in md

    # The checkpoint is what docs/BUNDLE.md asks for, and the exporter accepts it.
    kn = json.loads((ck / "kneuron.json").read_text())
    assert kn["prompt"].count("<image>") == 1 and kn["image"]["size"] == 64
    res = subprocess.run([sys.executable, "tools/export_bundle.py", "--family", "tiny", "--model", str(ck),
                          "--out", str(bundle), "--no-testvectors"], cwd=ROOT, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    manifest = json.loads((bundle / "bundle.json").read_text())
    vocab = json.loads((ck / "tokenizer.json").read_text())["model"]["vocab"]
    assert manifest["vocab"] == len(vocab)
    assert (manifest["imageTokens"], manifest["ffnDim"], manifest["layers"]) == (64, 64, 2)
    assert manifest["imageTokenId"] == vocab["<image>"] and manifest["eosId"] == vocab["<eos>"]

    # --init-from continues from the kept checkpoint: its weights and tokenizer, not a random init
    # (here with no steps at all, so the continued run's checkpoint equals the first one's).
    ck2 = tmp_path / "ck2"
    zero = [a for a in ARGS] + ["--lm-steps", "0", "--vision-steps", "0", "--align-steps", "0", "--joint-steps", "0",
                                "--no-eval"]
    assert tt.main(["--data", str(data), "--out", str(ck2), "--init-from", str(ck), *zero]) == 0
    from safetensors.torch import load_file
    a, b = load_file(str(ck / "model.safetensors")), load_file(str(ck2 / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (ck / "tokenizer.json").read_text() == (ck2 / "tokenizer.json").read_text()
    # a checkpoint of another shape is refused with the reason
    with pytest.raises(SystemExit, match="do not fit this config"):
        tt.main(["--data", str(data), "--out", str(tmp_path / "ck3"), "--init-from", str(ck), *zero, "--hidden", "48"])

    # --eval-only re-evaluates a kept checkpoint as the report did (greedy captions: same figures)
    ck4 = tmp_path / "ck4"
    assert tt.main(["--data", str(data), "--out", str(ck4), "--init-from", str(ck), *ARGS, "--eval-only"]) == 0
    again = json.loads((ck4 / "evaluation.json").read_text())
    assert {k: v for k, v in again.items() if k != "eval_seconds"} == {k: v for k, v in ev.items() if k != "eval_seconds"}
    assert not (ck4 / "model.safetensors").exists()                     # nothing trained, nothing saved
    with pytest.raises(SystemExit, match="--eval-only evaluates the --init-from"):
        tt.main(["--data", str(data), "--out", str(ck4), *ARGS, "--eval-only"])


def run_trainer(cfg: tt.Config, split, tok, out: Path, until: str = "joint", resume: bool = False) -> tt.Trainer:
    torch.manual_seed(0)
    tr = tt.Trainer(cfg, tt.build_model(cfg, tok.get_vocab_size()), tok, split, out)
    if resume:
        tr.resume()
    tr.run(until=until)
    return tr


def test_same_seed_same_losses_and_resume_continues_identically(data: Path, tmp_path: Path):
    """Fixed seeds + one generator for order, captions, augmentation and facts: a rerun is
    identical, and so is a run stopped mid-stage and resumed from its train_state.pt."""
    cfg = small(data, lm_steps=4, vision_steps=4, checkpoint_minutes=0.0)
    split, tok = setup(cfg)
    a = run_trainer(cfg, split, tok, tmp_path / "a").history
    assert a == run_trainer(cfg, split, tok, tmp_path / "b").history

    class Stop(Exception):
        pass

    stopped = tt.Trainer(cfg, tt.build_model(cfg, tok.get_vocab_size()), tok, split, tmp_path / "c")
    calls, real = [0], stopped.step_loss

    def step_then_stop(stage):
        calls[0] += 1
        if calls[0] == 7:                                  # inside the vision stage (4 lm + 3 vision)
            raise Stop
        return real(stage)

    stopped.step_loss = step_then_stop
    with pytest.raises(Stop):
        stopped.run()
    resumed = run_trainer(cfg, split, tok, tmp_path / "c", resume=True)
    assert resumed.history == a


def test_prompt_ids_follow_bundle_convention(data: Path):
    _, tok = setup(small(data))
    ids = tt.prompt_ids(tok, 64)
    assert ids[0] == tt.BOS and ids[1:65] == [tt.IMAGE] * 64
    assert tok.decode(ids[65:]) == "describe :"
    ids, mask, labels = tt.encode_batch(tok, [tt.prompt_ids(tok, 64)], ["the image shows a bear on the grass ."])
    assert (labels[0, :67] == -100).all() and labels[0, -1] == tt.EOS   # loss on caption + eos only
    assert tok.decode(labels[0, 67:-1].tolist()) == "the image shows a bear on the grass ."


def test_removed_objects_scenes(data: Path):
    """Derived scenes: Telea removes the objects from the pixels, the object map and the caption."""
    plain = sd.load_split(data, "train", 64)
    both = sd.load_split(data, "train", 64, removed_share=1.0)
    derived = [i for i, x in enumerate(both.ids) if x < 0]
    assert len(derived) == sum(1 for a in plain.anns if a)
    for i in derived:
        src = both.ids.index(-both.ids[i])
        gone = {a["id"] for a in both.anns[src]} - {a["id"] for a in both.anns[i]}
        assert len(gone) == 1 or not both.anns[i]
        assert (both.objects[i] > 0).sum() < (both.objects[src] > 0).sum()
        assert (both.pixels[i].int() - both.pixels[src].int()).abs().sum() > 0
        if not both.anns[i]:
            assert both.captions[i][0].startswith("the image shows nothing ")
        phrase = sd.background_phrase(both.captions[src][0], both.anns[src], both.categories)
        assert both.captions[i][0].endswith(f" {phrase} .")


def test_caption_template_matches_the_generator(data: Path):
    split = sd.load_split(data, "train", 64)
    for caps, anns in zip(split.captions, split.anns):
        phrase = sd.background_phrase(caps[0], anns, split.categories)
        assert phrase is not None and sd.caption_for(sd.left_to_right(anns, split.categories), phrase) == caps[0]


def test_word_grid_names_objects_where_they_are(data: Path):
    split = sd.load_split(data, "train", 64)
    grids = sd.word_grids(split.objects, [sd.background_word(c[0]) for c in split.captions], split.categories, 8)
    for grid, caps, anns in zip(grids, split.captions, split.anns):
        assert len(grid) == 64 and sd.background_word(caps[0]) in grid
        assert {sd.grid_word(split.categories[a["category_id"]]) for a in anns if a["area"] > 300} <= set(grid)


def test_facts_corpus():
    corpus = facts_corpus(sd.caption_word)
    assert "a bear is an animal ." in corpus and "a banana is yellow ." in corpus
    assert "a ball is a toy ." in corpus                              # the caption word, not "sports ball"
    assert len(CONCEPT_FACTS) == 30


def test_mentions_match_core_data_rules():
    m = te.Mentions(te.surface_forms())
    assert m.concepts("the image shows a teddy bear on the floor .") == {"teddy bear"}
    assert m.concepts("a ball next to two bears") == {"sports ball", "bear"}
    assert m.concepts("the image shows a hot dog .") == {"hot dog"}


def test_missing_split_is_a_clear_error(tmp_path: Path):
    with pytest.raises(sd.DataError, match="instances_val.json: missing"):
        sd.load_split(tmp_path, "val", 64)


def test_evaluate_reports_constraints_on_every_heldout_seed(data: Path):
    """The sweep's default set is another data seed than the trainer's, so constraint share,
    invented objects and reject reasons are computed on each held-out split, not only seed 0's."""
    exp = sd.load_split(data, "experiment", 64)
    refs = {bytes(exp.pixels[i].numpy()): exp.captions[i][0] for i in range(len(exp.ids))}
    # an ideal captioner: an original image gets its reference caption, an inpainted one names nothing
    capt = lambda px: [refs.get(bytes(p.numpy()), "the image shows nothing on the grass .") for p in px]
    ev = te.evaluate(capt, 64, None, exp, {"seed9": exp})
    assert ev["heldout_object_recall_seed9"] == ev["heldout_object_recall"] == 1.0
    assert ev["constraint_share_seed9"] == ev["constraint_share"] == 1.0
    assert ev["reject_reasons_seed9"] == {"accepted": 4} and ev["invented_object_rate_seed9"] == 0.0
    # a captioner that never names anything: every sample is rejected for "target not named"
    ev = te.evaluate(lambda px: ["the image shows nothing on the grass ."] * len(px), 64, None, exp, {"seed9": exp})
    assert ev["constraint_share_seed9"] == 0.0 and ev["reject_reasons_seed9"] == {"target not named": 4}


def test_refresh_regenerates_a_split_of_an_older_generator_version(tmp_path: Path):
    out = sd.ensure_data(tmp_path / "s", 7, ["val"], {"val": 3})
    stamp_path = out / ".kneuron-synth.json"
    stamp = json.loads(stamp_path.read_text())
    current = stamp["val"]["params"]["version"]
    assert sd.ensure_data(out, 7, ["val"], {"val": 3}, refresh=True) == out           # same version: kept
    assert json.loads(stamp_path.read_text()) == stamp
    stamp["val"]["params"]["version"] = current - 1                                       # as if made by v-1
    stamp_path.write_text(json.dumps(stamp))
    sd.ensure_data(out, 7, ["val"], {"val": 3})                                            # as given: untouched
    assert json.loads(stamp_path.read_text())["val"]["params"]["version"] == current - 1
    sd.ensure_data(out, 7, ["val"], {"val": 3}, refresh=True)                              # managed: regenerated
    assert json.loads(stamp_path.read_text())["val"]["params"]["version"] == current


def test_scenery_that_is_a_concept_is_not_an_invented_object(data: Path):
    """"on the table" names COCO's dining table; in a scene whose reference caption has it as the
    background it is scenery, not an object the model invented after inpainting."""
    import dataclasses
    exp = sd.load_split(data, "experiment", 64)
    on_table = lambda c: c.rsplit(" ", 4)[0] + " on the table ."   # every background phrase is 3 words
    exp = dataclasses.replace(exp, captions=[[on_table(cs[0])] for cs in exp.captions])
    refs = {bytes(exp.pixels[i].numpy()): exp.captions[i][0] for i in range(len(exp.ids))}
    for inpainted, rate in (("the image shows nothing on the table .", 0.0),
                            ("the image shows a toothbrush on the table .", 1.0)):
        ev = te.evaluate(lambda px: [refs.get(bytes(p.numpy()), inpainted) for p in px], 64, None, exp, {})
        assert ev["invented_object_rate"] == rate, inpainted
        assert ev["constraint_share"] == 1.0
