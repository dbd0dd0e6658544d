/**
 * Concepts: COCO 2017's 80 categories with their caption surface forms, the 30 experiment
 * concepts that the held-out icon set and most training sets draw, and word-level mention matching.
 */
import { UnknownConceptError } from "./errors.js";

export type IconStyle = "noto" | "twemoji" | "fluent-emoji-flat" | "openmoji" | "emojione" | "noto-v1";
export const ICON_STYLES: readonly IconStyle[] = ["noto", "twemoji", "fluent-emoji-flat", "openmoji", "emojione", "noto-v1"];
/**
 * Train and val render with these five styles (more drawing styles → a model that generalises to
 * an unseen one); the experiment and calibration splits use the held-out sixth, which no training
 * image shows. emojione and noto-v1 lack 5 of the 30 icons: a scene with one of those draws in
 * another training style (generate.ts).
 */
export const TRAIN_STYLES: readonly IconStyle[] = ["noto", "fluent-emoji-flat", "openmoji", "emojione", "noto-v1"];
export const HELD_OUT_STYLE: IconStyle = "twemoji";

export interface CocoCategoryInfo {
  id: number;
  name: string;
  supercategory: string;
  /** Caption surface forms: singular, plural, synonyms; multi-word forms are space separated. */
  forms: readonly string[];
}

// [id, name, supercategory, extra forms beyond the name itself]
const COCO: ReadonlyArray<[number, string, string, string[]]> = [
  [1, "person", "person", ["persons", "people", "man", "men", "woman", "women", "boy", "boys", "girl", "girls", "child", "children", "kid", "kids", "guy", "guys", "lady", "ladies"]],
  [2, "bicycle", "vehicle", ["bicycles", "bike", "bikes"]],
  [3, "car", "vehicle", ["cars", "automobile", "automobiles", "taxi", "taxis"]],
  [4, "motorcycle", "vehicle", ["motorcycles", "motorbike", "motorbikes", "motor bike", "motor bikes"]],
  [5, "airplane", "vehicle", ["airplanes", "plane", "planes", "aeroplane", "aeroplanes", "jet", "jets", "airliner", "airliners", "aircraft"]],
  [6, "bus", "vehicle", ["buses", "busses"]],
  [7, "train", "vehicle", ["trains", "locomotive", "locomotives"]],
  [8, "truck", "vehicle", ["trucks", "lorry", "lorries"]],
  [9, "boat", "vehicle", ["boats", "ship", "ships", "sailboat", "sailboats"]],
  [10, "traffic light", "outdoor", ["traffic lights", "stoplight", "stoplights", "stop light", "stop lights", "traffic signal", "traffic signals"]],
  [11, "fire hydrant", "outdoor", ["fire hydrants", "hydrant", "hydrants"]],
  [13, "stop sign", "outdoor", ["stop signs"]],
  [14, "parking meter", "outdoor", ["parking meters"]],
  [15, "bench", "outdoor", ["benches"]],
  [16, "bird", "animal", ["birds"]],
  [17, "cat", "animal", ["cats", "kitten", "kittens", "kitty"]],
  [18, "dog", "animal", ["dogs", "puppy", "puppies"]],
  [19, "horse", "animal", ["horses", "pony", "ponies"]],
  [20, "sheep", "animal", ["lamb", "lambs"]],
  [21, "cow", "animal", ["cows", "cattle", "bull", "bulls", "calf", "calves"]],
  [22, "elephant", "animal", ["elephants"]],
  [23, "bear", "animal", ["bears"]],
  [24, "zebra", "animal", ["zebras"]],
  [25, "giraffe", "animal", ["giraffes"]],
  [27, "backpack", "accessory", ["backpacks", "back pack", "back packs", "rucksack", "rucksacks", "knapsack", "knapsacks"]],
  [28, "umbrella", "accessory", ["umbrellas", "parasol", "parasols"]],
  [31, "handbag", "accessory", ["handbags", "hand bag", "hand bags", "purse", "purses"]],
  [32, "tie", "accessory", ["ties", "necktie", "neckties"]],
  [33, "suitcase", "accessory", ["suitcases", "suit case", "luggage"]],
  [34, "frisbee", "sports", ["frisbees"]],
  [35, "skis", "sports", ["ski"]],
  [36, "snowboard", "sports", ["snowboards"]],
  [37, "sports ball", "sports", ["sports balls", "ball", "balls", "soccer ball", "soccer balls", "football", "footballs", "basketball", "basketballs", "tennis ball", "tennis balls"]],
  [38, "kite", "sports", ["kites"]],
  [39, "baseball bat", "sports", ["baseball bats", "bat", "bats"]],
  [40, "baseball glove", "sports", ["baseball gloves", "glove", "gloves", "mitt", "mitts"]],
  [41, "skateboard", "sports", ["skateboards", "skate board", "skate boards"]],
  [42, "surfboard", "sports", ["surfboards", "surf board", "surf boards"]],
  [43, "tennis racket", "sports", ["tennis rackets", "racket", "rackets", "racquet", "racquets"]],
  [44, "bottle", "kitchen", ["bottles"]],
  [46, "wine glass", "kitchen", ["wine glasses", "wineglass", "wineglasses"]],
  [47, "cup", "kitchen", ["cups", "mug", "mugs"]],
  [48, "fork", "kitchen", ["forks"]],
  [49, "knife", "kitchen", ["knives"]],
  [50, "spoon", "kitchen", ["spoons"]],
  [51, "bowl", "kitchen", ["bowls"]],
  [52, "banana", "food", ["bananas"]],
  [53, "apple", "food", ["apples"]],
  [54, "sandwich", "food", ["sandwiches"]],
  [55, "orange", "food", ["oranges"]],
  [56, "broccoli", "food", ["broccolis"]],
  [57, "carrot", "food", ["carrots"]],
  [58, "hot dog", "food", ["hot dogs", "hotdog", "hotdogs"]],
  [59, "pizza", "food", ["pizzas"]],
  [60, "donut", "food", ["donuts", "doughnut", "doughnuts"]],
  [61, "cake", "food", ["cakes", "cupcake", "cupcakes"]],
  [62, "chair", "furniture", ["chairs"]],
  [63, "couch", "furniture", ["couches", "sofa", "sofas"]],
  [64, "potted plant", "furniture", ["potted plants", "houseplant", "houseplants", "plant", "plants"]],
  [65, "bed", "furniture", ["beds"]],
  [67, "dining table", "furniture", ["dining tables", "table", "tables"]],
  [70, "toilet", "furniture", ["toilets"]],
  [72, "tv", "electronic", ["tvs", "television", "televisions", "tv set"]],
  [73, "laptop", "electronic", ["laptops", "laptop computer", "laptop computers"]],
  [74, "mouse", "electronic", ["mice", "computer mouse"]],
  [75, "remote", "electronic", ["remotes", "remote control", "remote controls"]],
  [76, "keyboard", "electronic", ["keyboards"]],
  [77, "cell phone", "electronic", ["cell phones", "cellphone", "cellphones", "phone", "phones", "mobile phone", "mobile phones", "smartphone", "smartphones"]],
  [78, "microwave", "appliance", ["microwaves"]],
  [79, "oven", "appliance", ["ovens", "stove", "stoves"]],
  [80, "toaster", "appliance", ["toasters"]],
  [81, "sink", "appliance", ["sinks"]],
  [82, "refrigerator", "appliance", ["refrigerators", "fridge", "fridges"]],
  [84, "book", "indoor", ["books"]],
  [85, "clock", "indoor", ["clocks"]],
  [86, "vase", "indoor", ["vases"]],
  [87, "scissors", "indoor", []],
  [88, "teddy bear", "indoor", ["teddy bears", "teddy", "teddies"]],
  [89, "hair drier", "indoor", ["hair driers", "hair dryer", "hair dryers", "blow dryer"]],
  [90, "toothbrush", "indoor", ["toothbrushes"]],
];

/** COCO 2017's 80 categories in id order, each with its surface forms (name first). */
export const COCO_CATEGORIES: readonly CocoCategoryInfo[] = COCO.map(([id, name, supercategory, extra]) => ({
  id,
  name,
  supercategory,
  forms: [name, ...extra],
}));

const byName = new Map(COCO_CATEGORIES.map((c) => [c.name, c]));
const byId = new Map(COCO_CATEGORIES.map((c) => [c.id, c]));

export function cocoCategory(nameOrId: string | number): CocoCategoryInfo {
  const c = typeof nameOrId === "number" ? byId.get(nameOrId) : byName.get(nameOrId);
  if (!c) throw new UnknownConceptError(`concept ${JSON.stringify(nameOrId)}`, "not one of COCO 2017's 80 categories");
  return c;
}

export interface Concept {
  /** COCO category name, the concept's key everywhere ("teddy bear", "cell phone"). */
  name: string;
  cocoId: number;
  supercategory: string;
  /** Icon name in each iconify set (the sets share names; the set may not have it: icons.ts hasIcon). */
  icons: Record<IconStyle, string>;
}

/**
 * The experiment concepts, mirroring the paper's 30 (its Table IV) where an emoji exists in
 * noto, twemoji and fluent-emoji-flat (the other sets lack a few; icons.ts hasIcon). COCO has
 * only 9 supercategories with three drawable objects (appliance has none: no
 * fridge/microwave/toaster emoji; outdoor has two: no hydrant/bench/meter emoji), so the 10
 * supercategories here hold 3 concepts each except outdoor (2) and animal (4).
 */
const EXPERIMENT: ReadonlyArray<[string, string]> = [
  ["bear", "bear"], ["giraffe", "giraffe"], ["horse", "horse"], ["elephant", "elephant"],
  ["bus", "bus"], ["airplane", "airplane"], ["bicycle", "bicycle"],
  ["banana", "banana"], ["pizza", "pizza"], ["cake", "shortcake"],
  ["bed", "bed"], ["toilet", "toilet"], ["chair", "chair"],
  ["traffic light", "vertical-traffic-light"], ["stop sign", "stop-sign"],
  ["kite", "kite"], ["skateboard", "skateboard"], ["sports ball", "soccer-ball"],
  ["keyboard", "keyboard"], ["cell phone", "mobile-phone"], ["laptop", "laptop"],
  ["scissors", "scissors"], ["book", "closed-book"], ["clock", "alarm-clock"],
  ["suitcase", "luggage"], ["backpack", "backpack"], ["umbrella", "umbrella"],
  ["cup", "hot-beverage"], ["wine glass", "wine-glass"], ["spoon", "spoon"],
];

export const CONCEPTS: readonly Concept[] = EXPERIMENT.map(([name, icon]) => {
  const c = cocoCategory(name);
  return { name, cocoId: c.id, supercategory: c.supercategory, icons: Object.fromEntries(ICON_STYLES.map((s) => [s, icon])) as Record<IconStyle, string> };
});

const conceptByName = new Map(CONCEPTS.map((c) => [c.name, c]));

/** An experiment concept by name; UnknownConceptError for anything else. */
export function getConcept(name: string): Concept {
  const c = conceptByName.get(name);
  if (!c) throw new UnknownConceptError(`concept ${JSON.stringify(name)}`, "not one of the 30 experiment concepts");
  return c;
}

/** Lowercase alphanumeric words; punctuation and hyphens separate words and are not words. */
export function words(text: string): string[] {
  return text.toLowerCase().match(/[a-z0-9]+/g) ?? [];
}

/** Words with their character offsets in the text (to map a mention onto any tokenizer's offsets). */
function wordsWithOffsets(text: string): { words: string[]; offsets: number[] } {
  const ws: string[] = [];
  const offsets: number[] = [];
  for (const m of text.toLowerCase().matchAll(/[a-z0-9]+/g)) {
    ws.push(m[0]);
    offsets.push(m.index);
  }
  return { words: ws, offsets };
}

/** A table of surface forms: concept name → forms. Defaults to COCO's 80 categories. */
export type SurfaceForms = ReadonlyMap<string, readonly string[]>;
export const COCO_SURFACE_FORMS: SurfaceForms = new Map(COCO_CATEGORIES.map((c) => [c.name, c.forms]));

interface FormIndex {
  /** first word → [concept, form words], longest form first */
  byFirst: Map<string, Array<[string, string[]]>>;
}
const indexCache = new WeakMap<SurfaceForms, FormIndex>();

function formIndex(table: SurfaceForms): FormIndex {
  let idx = indexCache.get(table);
  if (idx) return idx;
  idx = { byFirst: new Map() };
  for (const [concept, forms] of table) {
    for (const form of forms) {
      const w = words(form);
      if (w.length === 0) continue;
      const list = idx.byFirst.get(w[0]) ?? [];
      list.push([concept, w]);
      idx.byFirst.set(w[0], list);
    }
  }
  for (const list of idx.byFirst.values()) list.sort((a, b) => b[1].length - a[1].length);
  indexCache.set(table, idx);
  return idx;
}

export interface Mention {
  concept: string;
  /** word index of the mention's first word (words as `words()` splits them) */
  index: number;
  /** number of words */
  length: number;
  /** character offset of the mention in the caption */
  charIndex: number;
}

/**
 * All concept mentions in a caption, leftmost-longest: at each word the longest form of any
 * concept wins and its words are consumed, so "teddy bear" is a teddy bear and never a bear,
 * "hot dog" never a dog, "wine glass" never a glass.
 */
export function findMentions(caption: string, table: SurfaceForms = COCO_SURFACE_FORMS): Mention[] {
  const { words: w, offsets } = wordsWithOffsets(caption);
  const { byFirst } = formIndex(table);
  const out: Mention[] = [];
  for (let i = 0; i < w.length; ) {
    const hit = byFirst.get(w[i])?.find(([, f]) => f.every((x, k) => w[i + k] === x));
    if (hit) {
      out.push({ concept: hit[0], index: i, length: hit[1].length, charIndex: offsets[i] });
      i += hit[1].length;
    } else i++;
  }
  return out;
}

/**
 * Does the caption mention the concept (by any surface form)? `index`: word index of the first
 * mention's first word; `charIndex`: its character offset in the caption.
 */
export function mentions(
  caption: string,
  concept: string,
  table: SurfaceForms = COCO_SURFACE_FORMS,
): { mentioned: boolean; index?: number; charIndex?: number } {
  if (!table.has(concept)) {
    throw new UnknownConceptError(`concept ${JSON.stringify(concept)}`, "has no surface forms in the table (not a COCO category name)");
  }
  const m = findMentions(caption, table).find((x) => x.concept === concept);
  return m ? { mentioned: true, index: m.index, charIndex: m.charIndex } : { mentioned: false };
}
