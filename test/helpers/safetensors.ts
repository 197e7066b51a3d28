// A small safetensors reader and writer for tests (independent of the native reader):
// u64 LE header length, JSON header, raw little-endian data.
import { readFileSync, writeFileSync } from 'node:fs';

export interface StTensor {
  dtype: string; // 'F32', 'I64', ...
  shape: number[];
  data: Buffer; // raw little-endian bytes
}

export interface StFile {
  tensors: Map<string, StTensor>;
  metadata: Record<string, string>;
}

export function readSafetensors(path: string): StFile {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.toString('utf8', 8, 8 + n)) as Record<string, unknown>;
  const base = 8 + n;
  const tensors = new Map<string, StTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = v as Record<string, string>;
      continue;
    }
    const e = v as { dtype: string; shape: number[]; data_offsets: [number, number] };
    tensors.set(name, { dtype: e.dtype, shape: e.shape, data: buf.subarray(base + e.data_offsets[0], base + e.data_offsets[1]) });
  }
  return { tensors, metadata };
}

/** The file's bytes. Every tensor starts 8-byte aligned (zero gaps between tensors when needed). */
export function encodeSafetensors(tensors: Iterable<[string, StTensor]>, metadata?: Record<string, string>): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    const pad = (8 - (offset % 8)) % 8;
    if (pad) chunks.push(Buffer.alloc(pad));
    offset += pad;
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length] };
    chunks.push(t.data);
    offset += t.data.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8); // data section starts 8-aligned
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  return Buffer.concat([len, Buffer.from(json), ...chunks]);
}

export function writeSafetensors(path: string, tensors: Iterable<[string, StTensor]>, metadata?: Record<string, string>): void {
  writeFileSync(path, encodeSafetensors(tensors, metadata));
}

/** F32 tensor data as a Float32Array (copied, so alignment never matters). */
export function f32(t: StTensor | undefined, name = '?'): Float32Array {
  if (!t) throw new Error(`tensor ${name} missing`);
  if (t.dtype !== 'F32') throw new Error(`tensor ${name} is ${t.dtype}, not F32`);
  const out = new Float32Array(t.data.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = t.data.readFloatLE(i * 4);
  return out;
}

export function i64(t: StTensor | undefined, name = '?'): number[] {
  if (!t) throw new Error(`tensor ${name} missing`);
  const out: number[] = [];
  for (let i = 0; i < t.data.length; i += 8) out.push(Number(t.data.readBigInt64LE(i)));
  return out;
}

/** ||a − b||₂ / ||b||₂ in float64. */
export function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    num += d * d;
    den += b[i]! * b[i]!;
  }
  return Math.sqrt(num / den);
}

export function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
