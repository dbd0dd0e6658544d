import { SafetensorsError } from "./errors.js";

/**
 * The safetensors format (readable by Python's `safetensors` package): an 8-byte little-endian
 * header length N, N bytes of JSON {name: {dtype, shape, data_offsets}, "__metadata__": {...}},
 * then the raw little-endian tensor bytes, contiguous in header order.
 * F16 and BF16 travel as their raw 16-bit patterns in a Uint16Array.
 */
const DTYPES = {
  F64: Float64Array,
  F32: Float32Array,
  F16: Uint16Array,
  BF16: Uint16Array,
  I64: BigInt64Array,
  I32: Int32Array,
  I16: Int16Array,
  I8: Int8Array,
  U64: BigUint64Array,
  U32: Uint32Array,
  U16: Uint16Array,
  U8: Uint8Array,
  BOOL: Uint8Array,
} as const;

export type Dtype = keyof typeof DTYPES;
/** The typed array each dtype travels in. */
export interface DtypeArrays {
  F64: Float64Array; F32: Float32Array; F16: Uint16Array; BF16: Uint16Array;
  I64: BigInt64Array; I32: Int32Array; I16: Int16Array; I8: Int8Array;
  U64: BigUint64Array; U32: Uint32Array; U16: Uint16Array; U8: Uint8Array; BOOL: Uint8Array;
}
export type TensorData = DtypeArrays[Dtype];
export type Tensor<D extends Dtype = Dtype> = { [K in D]: { dtype: K; shape: number[]; data: DtypeArrays[K] } }[D];

const MAX_HEADER = 100_000_000; // the Python reader's own limit

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error("safetensors: big-endian hosts are not supported");

const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

export function encodeSafetensors(tensors: Record<string, Tensor>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) {
    for (const [k, v] of Object.entries(metadata))
      if (typeof v !== "string") throw new SafetensorsError(`metadata ${JSON.stringify(k)} must be a string, got ${typeof v}`);
    header.__metadata__ = metadata;
  }
  const names = Object.keys(tensors).sort();
  let offset = 0;
  for (const name of names) {
    if (name === "__metadata__") throw new SafetensorsError(`tensor name "__metadata__" is reserved`);
    const t = tensors[name];
    const Ctor = DTYPES[t.dtype];
    if (!Ctor) throw new SafetensorsError(`tensor ${JSON.stringify(name)}: unknown dtype ${JSON.stringify(t.dtype)}`);
    if (!(t.data instanceof Ctor)) throw new SafetensorsError(`tensor ${JSON.stringify(name)}: dtype ${t.dtype} needs a ${Ctor.name}, got ${t.data?.constructor?.name}`);
    if (!t.shape.every((d) => Number.isInteger(d) && d >= 0)) throw new SafetensorsError(`tensor ${JSON.stringify(name)}: bad shape [${t.shape}]`);
    if (numel(t.shape) !== t.data.length) throw new SafetensorsError(`tensor ${JSON.stringify(name)}: shape [${t.shape}] holds ${numel(t.shape)} values, data has ${t.data.length}`);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8); // align the data start to 8 bytes
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.byteLength), true);
  out.set(head, 8);
  let at = 8 + head.byteLength;
  for (const name of names) {
    const d = tensors[name].data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), at);
    at += d.byteLength;
  }
  return out;
}

export function decodeSafetensors(bytes: Uint8Array): { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  if (bytes.byteLength < 8) throw new SafetensorsError(`file too short (${bytes.byteLength} bytes)`);
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (n > MAX_HEADER || 8 + n > bytes.byteLength) throw new SafetensorsError(`header length ${n} exceeds the file (${bytes.byteLength} bytes)`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    throw new SafetensorsError(`header is not JSON: ${(e as Error).message}`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) throw new SafetensorsError("header is not a JSON object");
  const data = bytes.subarray(8 + n);
  const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
  const tensors: Record<string, Tensor> = {};
  const spans: [number, number, string][] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const e = entry as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
    const Ctor = DTYPES[e.dtype as Dtype];
    if (!Ctor) throw new SafetensorsError(`tensor ${JSON.stringify(name)}: unknown dtype ${JSON.stringify(e.dtype)}`);
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0)) throw new SafetensorsError(`tensor ${JSON.stringify(name)}: bad shape`);
    const [b, end] = (e.data_offsets ?? [NaN, NaN]) as [number, number];
    if (!Number.isInteger(b) || !Number.isInteger(end) || b < 0 || end < b || end > data.byteLength)
      throw new SafetensorsError(`tensor ${JSON.stringify(name)}: data_offsets ${JSON.stringify(e.data_offsets)} outside the ${data.byteLength}-byte data section`);
    if (end - b !== numel(e.shape) * Ctor.BYTES_PER_ELEMENT)
      throw new SafetensorsError(`tensor ${JSON.stringify(name)}: ${end - b} bytes for shape [${e.shape}] of ${e.dtype}`);
    // Copy: the slice may be unaligned for the typed array.
    const buf = data.slice(b, end).buffer;
    tensors[name] = { dtype: e.dtype as Dtype, shape: e.shape, data: new Ctor(buf) } as Tensor;
    spans.push([b, end, name]);
  }
  // Like the Python reader: tensors tile the data section exactly.
  spans.sort((x, y) => x[0] - y[0]);
  let at = 0;
  for (const [b, end, name] of spans) {
    if (b !== at) throw new SafetensorsError(`tensor ${JSON.stringify(name)} starts at ${b}, expected ${at} (gap or overlap)`);
    at = end;
  }
  if (at !== data.byteLength) throw new SafetensorsError(`${data.byteLength - at} trailing bytes after the last tensor`);
  return { tensors, metadata };
}
