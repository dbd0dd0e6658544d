// A bundle as exported before `ffn_scale` existed (docs/BUNDLE.md §4.3): a copy of `src` whose
// decoder takes no ffn_scale input — the input becomes a constant of ones [1, L, D], which the
// graph's elementwise scale broadcasts, so everything else is the same computation. Made with
// the Python tools' onnx (the committed bundles all have the input now).
import { spawnSync } from "node:child_process";
import { cpSync, existsSync } from "node:fs";
import { PYTHON } from "./python.js";
export const canMakeOldBundle = () => existsSync(PYTHON);

const SURGERY = `
import hashlib, json, sys
import numpy as np, onnx
from onnx import numpy_helper
d = sys.argv[1]
m = json.load(open(f"{d}/bundle.json"))
g = onnx.load(f"{d}/decoder.onnx")
[inp] = [i for i in g.graph.input if i.name == "ffn_scale"]
g.graph.input.remove(inp)
g.graph.initializer.append(numpy_helper.from_array(np.ones((1, m["layers"], m["ffnDim"]), np.float32), "ffn_scale"))
onnx.save(g, f"{d}/decoder.onnx")
data = open(f"{d}/decoder.onnx", "rb").read()
m["files"]["decoder.onnx"] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
json.dump(m, open(f"{d}/bundle.json", "w"), indent=2)
`;

/** Copies `src` to `dest` and removes the decoder's ffn_scale input there. */
export function makeOldBundle(src: string, dest: string): string {
  cpSync(src, dest, { recursive: true });
  const r = spawnSync(PYTHON, ["-c", SURGERY, dest], { encoding: "utf8", timeout: 120_000 });
  if (r.status !== 0) throw new Error(`old-bundle surgery failed: ${r.stderr || r.error}`);
  return dest;
}
