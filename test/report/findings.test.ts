// What the report may claim: a difference is named only when its interval excludes 0 (float
// residue and a bound at 0 do not), a tie only within the fixed margin, everything else undecided.
import { describe, expect, it } from "vitest";
import { methodLabel } from "../../report/charts.js";
import { ciText, excludesZero, fmt, pairFinding, storedPairs, TIE_MARGIN } from "../../report/findings.js";
import { all, diffRow, iv, statsFixture } from "./fixture.js";

describe("interval arithmetic of the report", () => {
  it("excludes 0 only strictly, and never on float residue", () => {
    expect(excludesZero(iv(0.1, 0.05, 0.15))).toBe(true);
    expect(excludesZero(iv(-0.1, -0.15, -0.05))).toBe(true);
    expect(excludesZero(iv(0.03, 0, 0.09))).toBe(false); // a bound at 0
    expect(excludesZero(iv(0, -0.01, 0.01))).toBe(false);
    expect(excludesZero(iv(1e-16, 1e-16, 1e-16))).toBe(false); // residue of equal means
    expect(excludesZero(iv(Number.NaN, Number.NaN, Number.NaN))).toBe(false);
  });

  it("prints three places, signs differences, keeps a tiny bound's sign and drops residue", () => {
    expect(ciText(iv(0.41, 0.36, 0.46))).toBe("0.410 [0.360, 0.460]");
    expect(ciText(iv(0.12, 0.05, 0.19), true)).toBe("+0.120 [0.050, 0.190]");
    expect(ciText(iv(-0.036, -0.091, 0), true)).toBe("-0.036 [-0.091, 0.000]");
    expect(fmt(0.0003)).toBe("0.0003");
    expect(fmt(-1e-16, true)).toBe("0.000");
    expect(fmt(Number.NaN)).toBe("—");
  });
});

describe("pairFinding", () => {
  const { differences } = statsFixture();

  it("names a resolved difference with its σ and interval, and says which measures are not resolved", () => {
    const f = pairFinding(differences, "two-stage", "random", ["suppression", "retention", "score", "selectivity"], methodLabel);
    expect(f.resolved.map((x) => [x.metric, x.sigma])).toEqual([["suppression", 4], ["score", 4], ["selectivity", 4]]);
    expect(f.tie).toBeNull();
    expect(f.sentences).toEqual([
      "Ours (two-stage) suppresses its knowledge more than Random (layer-matched) at σ = 4: +0.120 [0.050, 0.190].",
      "Ours (two-stage) scores higher than Random (layer-matched) at σ = 4: +0.055 [0.010, 0.100].",
      "Ours (two-stage) is more selective than Random (layer-matched) at σ = 4: +0.100 [0.040, 0.160].",
      "No retention difference between Ours (two-stage) and Random (layer-matched) is resolved (every interval includes 0).",
    ]);
  });

  it("a negative difference reads as less/worse", () => {
    const f = pairFinding(differences, "pan", "random", ["suppression", "retention", "score", "selectivity"], methodLabel);
    expect(f.sentences[0]).toBe("Pan's retains other knowledge worse than Random (layer-matched) at σ = 4: -0.080 [-0.120, -0.030].");
  });

  it("calls a pair with tight intervals a tie, and residue is not a difference", () => {
    const f = pairFinding(differences, "two-stage", "schwettmann", ["suppression", "retention", "score", "selectivity"], methodLabel);
    expect(f.resolved).toEqual([]);
    expect(f.tie).toBe(true);
    expect(f.intervals).toBe(12);
    expect(f.sentences).toEqual([`No difference between Ours (two-stage) and Schwettmann's is resolved: all 12 intervals include 0. A tie: averaged over σ the differences (score +0.010 [-0.010, 0.030], selectivity +0.010 [-0.010, 0.030]) lie within ±${TIE_MARGIN}.`]);
  });

  it("calls wide intervals undecided, not a tie", () => {
    const f = pairFinding(differences, "two-stage", "pan", ["score", "selectivity"], methodLabel);
    expect(f.tie).toBe(false);
    expect(f.sentences).toEqual(["No score or selectivity difference between Ours (two-stage) and Pan's is resolved: all 6 intervals include 0. The intervals are too wide to call it a tie (averaged over σ: score +0.020 [-0.080, 0.120], selectivity +0.020 [-0.080, 0.120])."]);
  });

  it("resolves by direction per σ: higher at one level and lower at another are two sentences", () => {
    const rows = [diffRow("a", "b", 1, { ...all(0, 0.01), score: iv(0.1, 0.05, 0.15) }), diffRow("a", "b", 4, { ...all(0, 0.01), score: iv(-0.1, -0.15, -0.05) }), diffRow("a", "b", "all", all(0, 0.01))];
    const f = pairFinding(rows, "a", "b", ["score"], (m) => m.toUpperCase());
    expect(f.sentences).toEqual(["A scores higher than B at σ = 1: +0.100 [0.050, 0.150].", "A scores lower than B at σ = 4: -0.100 [-0.150, -0.050]."]);
  });

  it("lists the stored pairs in order", () => {
    expect(storedPairs(differences)).toEqual([["two-stage", "random"], ["schwettmann", "random"], ["pan", "random"], ["two-stage", "schwettmann"], ["two-stage", "pan"]]);
  });
});
