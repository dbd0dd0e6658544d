import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import {
  COCO_CATEGORIES,
  CONCEPTS,
  cocoCategory,
  findMentions,
  getConcept,
  ICON_STYLES,
  mentions,
  UnknownConceptError,
} from "../../core/data/index.js";

describe("concept tables", () => {
  it("COCO 2017's 80 categories with real ids and supercategories", () => {
    expect(COCO_CATEGORIES).toHaveLength(80);
    expect(new Set(COCO_CATEGORIES.map((c) => c.id)).size).toBe(80);
    expect(cocoCategory("teddy bear")).toMatchObject({ id: 88, supercategory: "indoor" });
    expect(cocoCategory(90).name).toBe("toothbrush");
    expect(new Set(COCO_CATEGORIES.map((c) => c.supercategory)).size).toBe(12);
    for (const c of COCO_CATEGORIES) expect(c.forms[0]).toBe(c.name);
  });

  it("30 experiment concepts over 10 supercategories, drawable in the held-out set and all but two training sets; those lack 5", () => {
    expect(CONCEPTS).toHaveLength(30);
    expect(new Set(CONCEPTS.map((c) => c.supercategory)).size).toBe(10);
    const require = createRequire(import.meta.url);
    const partial = ["emojione", "noto-v1"];
    for (const style of ICON_STYLES) {
      const set = require(`@iconify-json/${style}/icons.json`) as { icons: Record<string, unknown>; aliases?: Record<string, unknown> };
      const missing = CONCEPTS.filter((c) => !(c.icons[style] in set.icons || c.icons[style] in (set.aliases ?? {}))).map((c) => c.name);
      expect(missing, style).toEqual(partial.includes(style) ? ["giraffe", "chair", "kite", "skateboard", "suitcase"] : []);
    }
    for (const c of CONCEPTS) expect(cocoCategory(c.name).id).toBe(c.cocoId);
    expect(getConcept("bear").cocoId).toBe(23);
    expect(() => getConcept("refrigerator")).toThrow(UnknownConceptError);
  });
});

describe("mentions", () => {
  it("matches singular, plural and synonyms, with the word index of the first mention", () => {
    expect(mentions("the image shows a bear next to a bus on the grass .", "bear")).toMatchObject({ mentioned: true, index: 4 });
    expect(mentions("the image shows a bear next to a bus on the grass .", "bus")).toMatchObject({ mentioned: true, index: 8 });
    expect(mentions("two bears and three buses", "bear")).toMatchObject({ mentioned: true, index: 1 });
    expect(mentions("Two Buses.", "bus").mentioned).toBe(true);
    expect(mentions("a jet in the sky", "airplane")).toMatchObject({ mentioned: true, index: 1 });
    expect(mentions("a bike on the road", "bicycle").mentioned).toBe(true);
    expect(mentions("a smartphone", "cell phone").mentioned).toBe(true);
    expect(mentions("the image shows a ball on the grass .", "sports ball")).toMatchObject({ mentioned: true, index: 4 });
  });

  it("multi-word names: teddy bear is not a bear, hot dog is not a dog, wine glass is one object", () => {
    expect(mentions("a teddy bear on the bed", "bear").mentioned).toBe(false);
    expect(mentions("a teddy bear on the bed", "teddy bear")).toMatchObject({ mentioned: true, index: 1 });
    expect(mentions("a teddy bear next to a bear", "bear")).toMatchObject({ mentioned: true, index: 6, charIndex: 23 });
    expect(mentions("a hot dog with mustard", "dog").mentioned).toBe(false);
    expect(mentions("a hot dog with mustard", "hot dog")).toMatchObject({ mentioned: true, index: 1 });
    expect(mentions("a hotdog", "hot dog").mentioned).toBe(true);
    expect(mentions("the image shows a cell phone next to a wine glass .", "cell phone")).toMatchObject({ mentioned: true, index: 4 });
    expect(mentions("the image shows a cell phone next to a wine glass .", "wine glass")).toMatchObject({ mentioned: true, index: 9 });
    expect(mentions("a stop sign near a traffic light", "traffic light").index).toBe(5);
    expect(mentions("a bus stop", "stop sign").mentioned).toBe(false);
    expect(mentions("a teddy-bear", "bear").mentioned).toBe(false);
  });

  it("whole words only", () => {
    expect(mentions("a bearded man", "bear").mentioned).toBe(false);
    expect(mentions("a busy street", "bus").mentioned).toBe(false);
    expect(mentions("cupcakes", "cup").mentioned).toBe(false);
    expect(mentions("cupcakes", "cake").mentioned).toBe(true);
  });

  it("findMentions lists every concept, leftmost-longest", () => {
    expect(findMentions("a teddy bear , a hot dog and a dog").map((m) => [m.concept, m.index])).toEqual([
      ["teddy bear", 1],
      ["hot dog", 4],
      ["dog", 8],
    ]);
  });

  it("an unknown concept is an UnknownConceptError naming it", () => {
    expect(() => mentions("a unicorn", "unicorn")).toThrow(UnknownConceptError);
    expect(() => mentions("a unicorn", "unicorn")).toThrow(/"unicorn"/);
  });

  it("a custom surface-form table", () => {
    const table = new Map([["bear", ["bear", "bears", "grizzly"]]]);
    expect(mentions("a grizzly", "bear", table)).toMatchObject({ mentioned: true, index: 1 });
    expect(() => mentions("a bus", "bus", table)).toThrow(UnknownConceptError);
  });
});
