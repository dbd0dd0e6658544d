// Writes core/model/bundle.schema.json from the zod manifest schema, so the Python exporter and
// validator (tools/kneuron_tools/bundle.py) check bundle.json against the very same rules.
// Run: npx tsx core/model/bundle-schema.gen.ts   (test/model/bundle.test.ts fails when stale)
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { BundleManifestSchema } from "./bundle.js";

export function bundleJsonSchema(): string {
  const schema = z.toJSONSchema(BundleManifestSchema, { target: "draft-2020-12", io: "input" });
  return JSON.stringify({ title: "kneuron model bundle manifest (bundle.json)", ...schema }, null, 2) + "\n";
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(new URL("./bundle.schema.json", import.meta.url), bundleJsonSchema());
}
