"""Facts about the 30 experiment concepts (core/data/concepts.ts), templated into a text corpus
for the tiny model's language-model pretraining, so concept knowledge lives in the decoder the
way it does in a pretrained LLM ("a bear is an animal .", "a banana is yellow .")."""
from __future__ import annotations

import random

# concept: (kind, colours, where found, parts)
CONCEPT_FACTS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "bear": ("animal", ("brown", "black"), ("in the forest", "in the mountains"), ("fur", "claws", "four legs")),
    "giraffe": ("animal", ("yellow", "brown"), ("in the savanna", "at the zoo"), ("a long neck", "spots", "four legs")),
    "horse": ("animal", ("brown", "black", "white"), ("on a farm", "in a field"), ("a mane", "hooves", "a tail")),
    "elephant": ("animal", ("grey",), ("in the savanna", "at the zoo"), ("a trunk", "tusks", "big ears")),
    "bus": ("vehicle", ("yellow", "red"), ("on the road", "in the city"), ("wheels", "windows", "doors")),
    "airplane": ("vehicle", ("white", "grey"), ("in the sky", "at the airport"), ("wings", "engines", "a tail")),
    "bicycle": ("vehicle", ("red", "blue"), ("on the road", "in the park"), ("two wheels", "pedals", "a chain")),
    "banana": ("fruit", ("yellow",), ("in the kitchen", "on a tree"), ("a peel", "a stem")),
    "pizza": ("food", ("red", "yellow"), ("in the kitchen", "at a restaurant"), ("cheese", "a crust", "slices")),
    "cake": ("food", ("white", "pink"), ("at a party", "in the kitchen"), ("cream", "layers", "a strawberry")),
    "bed": ("furniture", ("white", "brown"), ("in the bedroom", "in a hotel"), ("a pillow", "a blanket", "a frame")),
    "toilet": ("fixture", ("white",), ("in the bathroom",), ("a seat", "a lid", "a bowl")),
    "chair": ("furniture", ("brown", "red"), ("in the kitchen", "in the office"), ("a seat", "legs", "a back")),
    "traffic light": ("signal", ("red", "green", "yellow"), ("on the road", "at a crossing"), ("three lights", "a pole")),
    "stop sign": ("sign", ("red", "white"), ("on the road", "at a crossing"), ("eight sides", "letters", "a pole")),
    "kite": ("toy", ("red", "blue"), ("in the sky", "on the beach"), ("a string", "a tail", "a frame")),
    "skateboard": ("toy", ("brown", "black"), ("in the park", "on the road"), ("four wheels", "a deck")),
    "sports ball": ("toy", ("white", "black"), ("in the park", "on a field"), ("patches", "a round shape")),
    "keyboard": ("device", ("black", "grey"), ("in the office", "on the table"), ("keys", "a cable")),
    "cell phone": ("device", ("black", "grey"), ("in a pocket", "on the table"), ("a screen", "a battery", "buttons")),
    "laptop": ("device", ("grey", "black"), ("in the office", "on the table"), ("a screen", "keys", "a battery")),
    "scissors": ("tool", ("grey", "red"), ("in the office", "in a drawer"), ("two blades", "handles")),
    "book": ("object", ("red", "blue"), ("in the library", "on the shelf"), ("pages", "a cover")),
    "clock": ("object", ("red", "white"), ("on the wall", "in the bedroom"), ("hands", "numbers", "a bell")),
    "suitcase": ("bag", ("brown", "black"), ("at the airport", "in a hotel"), ("a handle", "wheels", "a lock")),
    "backpack": ("bag", ("red", "blue"), ("at school", "on a trip"), ("straps", "a zipper", "pockets")),
    "umbrella": ("object", ("purple", "black"), ("in the rain", "on the beach"), ("a handle", "a canopy", "ribs")),
    "cup": ("container", ("white", "brown"), ("in the kitchen", "at a cafe"), ("a handle", "hot coffee")),
    "wine glass": ("container", ("clear", "red"), ("at a restaurant", "on the table"), ("a stem", "a bowl", "a base")),
    "spoon": ("utensil", ("grey",), ("in the kitchen", "in a drawer"), ("a handle", "a bowl")),
}


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def facts_corpus(caption_word=lambda n: n) -> list[str]:
    """Every templated fact sentence, lower case, space-separated punctuation (the caption style)."""
    out: list[str] = []
    for name, (kind, colours, places, parts) in CONCEPT_FACTS.items():
        w = caption_word(name)
        out.append(f"{_a(w)} is {_a(kind)} .")
        out.append(f"the {w} is {_a(kind)} .")
        out += [f"{_a(w)} is {c} ." for c in colours]
        out += [f"{_a(w)} is found {p} ." for p in places]
        out += [f"{_a(w)} has {p} ." for p in parts]
        out.append(f"{_a(w)} is {_a(kind)} and it is {' or '.join(colours)} .")
        out.append(f"you can see {_a(w)} {places[0]} .")
    return out


def fact_stream(corpus: list[str], seed: int):
    """Endless shuffled fact sentences, deterministic from the seed."""
    rng = random.Random(seed)
    while True:
        order = corpus[:]
        rng.shuffle(order)
        yield from order
