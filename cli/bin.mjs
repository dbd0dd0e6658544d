#!/usr/bin/env node
// The `kneuron` bin: runs the TypeScript CLI through tsx's ESM API (no build step).
import { tsImport } from "tsx/esm/api";

const { run } = await tsImport("./main.ts", import.meta.url);
await run(process.argv);
