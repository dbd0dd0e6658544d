import { describe, expect, it } from "vitest";
import { parseSpec, rulesFor, SpecError } from "../../core/spec.js";

describe("sweep spec", () => {
  it("fills the defaults of the paper's protocol", () => {
    const s = parseSpec({});
    expect(s.noise).toEqual({ unit: "std", levels: [8, 2048], draws: 4, scope: "image" });
    expect(s.eval.sets).toBe("faithful");
    expect(s.methods).toEqual(["two-stage", "schwettmann", "pan", "random"]);
    expect(s.randomGroups).toBe(5);
    expect(s.baselineK).toBe("matched");
    expect(s.eval.maxNewTokens).toBe(32);
  });
  it("names every bad field in one error", () => {
    try {
      parseSpec({ noise: { levels: [-1] }, methods: ["magic"], baselineK: 0 });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(SpecError);
      const msg = (e as Error).message;
      expect(msg).toMatch(/noise\.levels\.0/);
      expect(msg).toMatch(/methods\.0/);
      expect(msg).toMatch(/baselineK/);
    }
  });
  it("looks up per-knowledge thresholds with a fallback", () => {
    const s = parseSpec({ thresholds: { mode: "rules", default: { act: { mode: "manual", value: 1 }, grad: { mode: "manual", value: 0 } }, perConcept: { bear: { act: { mode: "count", n: 5 }, grad: { mode: "manual", value: 0.1 } } } } });
    expect(rulesFor(s.thresholds, "bear").act).toEqual({ mode: "count", n: 5 });
    expect(rulesFor(s.thresholds, "bus").act).toEqual({ mode: "manual", value: 1 });
  });
});
