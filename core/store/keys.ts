import { createHash } from "node:crypto";
import { InvalidKeyError } from "./errors.js";

/** S3 limits keys to 1024 bytes; we keep room for a deployment prefix. */
export const MAX_KEY_LENGTH = 900;
const MAX_SEGMENT_LENGTH = 200;
// Portable on every filesystem and S3: no spaces, quotes, colons, backslashes or control chars.
const SEGMENT = /^[A-Za-z0-9_\-=+@,][A-Za-z0-9._\-=+@,]*$/;

/**
 * Returns `key` if it is a safe, portable store key, else throws InvalidKeyError.
 * A key is "/"-separated segments; no segment may be empty, start with "." (this also rules out
 * "." and ".." and hides the local store's temp files), or hold anything outside [A-Za-z0-9._-=+@,].
 */
export function validateKey(key: string): string {
  if (typeof key !== "string") throw new InvalidKeyError(String(key), "not a string");
  if (key.length === 0) throw new InvalidKeyError(key, "empty");
  if (key.length > MAX_KEY_LENGTH) throw new InvalidKeyError(key.slice(0, 40) + "…", `longer than ${MAX_KEY_LENGTH} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(key)) throw new InvalidKeyError(key, "contains a control character");
  if (key.includes("\\")) throw new InvalidKeyError(key, "contains a backslash");
  if (key.startsWith("/")) throw new InvalidKeyError(key, "is absolute (starts with /)");
  for (const seg of key.split("/")) {
    if (seg === "") throw new InvalidKeyError(key, "has an empty segment (// or a trailing /)");
    if (seg === "." || seg === "..") throw new InvalidKeyError(key, `has a ${JSON.stringify(seg)} segment`);
    if (seg.startsWith(".")) throw new InvalidKeyError(key, `segment ${JSON.stringify(seg)} starts with "."`);
    if (seg.length > MAX_SEGMENT_LENGTH) throw new InvalidKeyError(key, `a segment is longer than ${MAX_SEGMENT_LENGTH} characters`);
    if (!SEGMENT.test(seg)) throw new InvalidKeyError(key, `segment ${JSON.stringify(seg)} has characters outside [A-Za-z0-9._-=+@,]`);
  }
  return key;
}

/** A list prefix: "" or a key prefix (may end with "/" or in the middle of a segment). */
export function validatePrefix(prefix: string): string {
  if (prefix === "") return prefix;
  validateKey(prefix.endsWith("/") ? prefix.slice(0, -1) : prefix);
  return prefix;
}

/**
 * Turns a user-supplied name (a concept, a sweep id) into one safe key segment:
 * whitespace runs become "_"; anything else outside the key alphabet, a "/" or a ".." is rejected.
 */
export function safeSegment(name: string): string {
  if (typeof name !== "string") throw new InvalidKeyError(String(name), "name is not a string");
  const seg = name.trim().replace(/\s+/g, "_");
  if (seg.includes("/")) throw new InvalidKeyError(name, "a name may not contain /");
  if (seg.includes("..")) throw new InvalidKeyError(name, "a name may not contain ..");
  validateKey(seg);
  return seg;
}

/** JSON with object keys sorted at every level, so equal values hash equally. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(canonical(value, "$"));
}

function canonical(v: unknown, path: string): unknown {
  if (v === null || typeof v === "string" || typeof v === "boolean") return v;
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new TypeError(`canonicalJson: ${path} is ${v}, not a finite number`);
    return v;
  }
  if (Array.isArray(v)) return v.map((x, i) => canonical(x === undefined ? null : x, `${path}[${i}]`));
  if (ArrayBuffer.isView(v)) throw new TypeError(`canonicalJson: ${path} is binary data; hash it and pass the hash`);
  if (typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v as object).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = canonical(x, `${path}.${k}`);
    }
    return out;
  }
  throw new TypeError(`canonicalJson: ${path} is a ${typeof v}`);
}

export function sha256Hex(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** The key of a pipeline step: its name plus a hash of everything it depends on. */
export function stepKey(step: string, inputs: unknown): string {
  validateKey(step);
  return `${step}/${sha256Hex(canonicalJson(inputs)).slice(0, 20)}`;
}
