import { describe, expect, it } from "vitest";
import { InvalidKeyError, canonicalJson, safeSegment, stepKey, validateKey } from "../../core/store/index.js";

describe("validateKey", () => {
  it.each(["a", "sweeps/s1/bear/activate/0123abcd", "a/b.c/d-e_f=g+h@i,j", "x".repeat(200)])("accepts %s", (k) => {
    expect(validateKey(k)).toBe(k);
  });

  it.each([
    ["", /empty/],
    ["../x", /"\.\." segment/],
    ["a/../b", /"\.\." segment/],
    ["a/./b", /"\." segment/],
    ["/abs", /absolute/],
    ["a\u0000b", /control character/],
    ["a\nb", /control character/],
    ["a//b", /empty segment/],
    ["a/", /empty segment/],
    ["a\\b", /backslash/],
    [".hidden", /starts with "\."/],
    ["a/.x.tmp", /starts with "\."/],
    ["a b", /outside/],
    ["bär", /outside/],
    ["x".repeat(201), /segment is longer/],
    [("abc/").repeat(300) + "x", /longer than 900/],
  ])("rejects %j", (k, why) => {
    expect(() => validateKey(k)).toThrow(InvalidKeyError);
    expect(() => validateKey(k)).toThrow(why);
  });
});

describe("safeSegment", () => {
  it("keeps ordinary names and folds whitespace", () => {
    expect(safeSegment("bear")).toBe("bear");
    expect(safeSegment("teddy bear")).toBe("teddy_bear");
    expect(safeSegment("  hot   dog ")).toBe("hot_dog");
  });
  it.each(["../../etc", "..", "a/b", "/etc/passwd", "a\u0000", "", "   ", ".env", "x..y"])("rejects the hostile name %j", (n) => {
    expect(() => safeSegment(n)).toThrow(InvalidKeyError);
  });
  it("names the offending input in the error", () => {
    expect(() => safeSegment("../../etc")).toThrow(/"\.\.\/\.\.\/etc"/);
  });
});

describe("stepKey / canonicalJson", () => {
  it("hashes inputs independently of key order, and differently for different inputs", () => {
    const a = stepKey("activate", { model: "tiny", cfg: { b: 1, a: [1, 2] } });
    const b = stepKey("activate", { cfg: { a: [1, 2], b: 1 }, model: "tiny" });
    const c = stepKey("activate", { cfg: { a: [2, 1], b: 1 }, model: "tiny" });
    expect(a).toBe(b);
    expect(a).not.toBe(c);
    expect(a).toMatch(/^activate\/[0-9a-f]{20}$/);
  });
  it("drops undefined properties and sorts nested keys", () => {
    expect(canonicalJson({ z: 1, a: { y: undefined, c: [3, { k: 1, b: 2 }] } })).toBe('{"a":{"c":[3,{"b":2,"k":1}]},"z":1}');
  });
  it("rejects values that have no stable JSON form", () => {
    expect(() => canonicalJson({ a: NaN })).toThrow(/\$\.a is NaN/);
    expect(() => canonicalJson({ t: new Float32Array(2) })).toThrow(/binary data/);
    expect(() => stepKey("../x", {})).toThrow(InvalidKeyError);
  });
});
