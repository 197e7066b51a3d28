// Malformed safetensors files, made here byte by byte: inspect() and StableDiffusion.load() both
// reject each with an SdError that names the file and the precise defect; the process lives on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { SdError, StableDiffusion, inspect } from '../../lib/index.js';
import { tempDir, tinyCheckpoint } from '../helpers/tiny-checkpoint.js';

/** u64 LE header length + header text + data; `length` overrides the header length field. */
function file(header: string | Buffer, data: Buffer | number = 0, length?: bigint): Buffer {
  const h = typeof header === 'string' ? Buffer.from(header, 'utf8') : header;
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(length ?? BigInt(h.length));
  return Buffer.concat([len, h, typeof data === 'number' ? Buffer.alloc(data) : data]);
}
const t = (name: string, dtype: string, shape: number[], offsets: number[]) =>
  `"${name}":{"dtype":"${dtype}","shape":${JSON.stringify(shape)},"data_offsets":${JSON.stringify(offsets)}}`;
const two = (a: number[], b: number[], data: number) => file(`{${t('a', 'F32', [4], a)},${t('b', 'F32', [4], b)}}`, data);

const CASES: Array<[name: string, bytes: Buffer, defect: RegExp]> = [
  ['empty file', Buffer.alloc(0), /the file is 0 bytes long, too short for a safetensors file .*download is incomplete/],
  ['5 bytes', Buffer.from('abcde'), /the file is 5 bytes long, too short/],
  ['header length past the end', file('{}', 0, 1n << 40n), /header length 1099511627776 is larger than the file \(10 bytes\); this is not a safetensors file or it is truncated/],
  ['header length 0', file('', 4), /header length 0 is too small to hold a JSON object/],
  ['header not JSON', file('{"a": {"dtype": F32}}'), /header is not valid JSON at byte \d+ \(in tensor "a"\)/],
  ['header cut mid-JSON', file('{"a": {"dtype": "F32", "sha'), /header is not valid JSON at byte \d+/],
  ['header is an array', file('[1, 2]'), /header is an array, not a JSON object; this is not a safetensors file/],
  ['header not UTF-8', file(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])) /* {"\xff\xfe":1} */, /header is not valid UTF-8 at byte 2/],
  ['data truncated', two([0, 16], [16, 32], 20), /tensor "b" has data_offsets \[16, 32\) outside the data section \(20 bytes\); the file is truncated or corrupt/],
  ['offsets end before begin', two([16, 0], [16, 32], 32), /tensor "a" has data_offsets \[16, 0\) with end before begin/],
  ['offsets overlap', two([0, 16], [8, 24], 32), /tensors "a" \[0, 16\) and "b" \[8, 24\) overlap in the data section/],
  ['size does not match dtype × shape', file(`{${t('a', 'F32', [2, 2], [0, 8])}}`, 8), /tensor "a" has data_offsets \[0, 8\) \(8 bytes\) but dtype F32 with shape \[2, 2\] needs 16 bytes/],
  ['unknown dtype', file(`{${t('a', 'F33', [2], [0, 8])}}`, 8), /tensor "a" has unknown dtype "F33"/],
  ['unsupported dtype', file(`{${t('a', 'F64', [2], [0, 16])}}`, 16), /unsupported dtype F64 for tensor "a"; sd-native loads F32, F16, BF16, I32 and I64 tensors/],
  ['no data_offsets', file('{"a":{"dtype":"F32","shape":[1]}}', 4), /tensor "a" has no "data_offsets"/],
  ['negative dimension', file(`{${t('a', 'F32', [-2], [0, 8])}}`, 8), /tensor "a" has -2 in "shape" where a non-negative integer belongs/],
  ['shape overflows 64 bits', file(`{${t('a', 'F32', [4294967296, 4294967296], [0, 8])}}`, 8), /tensor "a" has shape \[4294967296, 4294967296\] whose size overflows 64 bits/],
  ['rank above 8', file(`{${t('a', 'F32', [1, 1, 1, 1, 1, 1, 1, 1, 1], [0, 4])}}`, 4), /tensor "a" has more than 8 dimensions/],
  ['duplicate tensor', file(`{${t('a', 'F32', [1], [0, 4])},${t('a', 'F32', [1], [4, 8])}}`, 8), /tensor "a" appears twice in the header/],
  ['three data_offsets', file(`{${t('a', 'F32', [1], [0, 4, 8])}}`, 8), /tensor "a" has more than two "data_offsets"/],
  ['dtype not a string', file('{"a":{"dtype":32,"shape":[1],"data_offsets":[0,4]}}', 4), /tensor "a" has a "dtype" that is a number, not a string such as "F16"/],
  ['metadata value not a string', file(`{"__metadata__":{"steps":20},${t('a', 'F32', [1], [0, 4])}}`, 4), /"__metadata__" entry "steps" must be a string, found a number/],
  ['a zip archive (.ckpt)', Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), Buffer.alloc(60, 7)]), /\(it is a zip archive, as PyTorch \.ckpt\/\.pt files are; convert it to \.safetensors first\)/],
  ['an HTML error page', Buffer.from('<!DOCTYPE html><html><body>404 Not Found</body></html>'), /\(it looks like text, e\.g\. an HTML error page or a JSON file saved instead of the model\)/],
];

const dir = join(tempDir(), 'malformed');
mkdirSync(dir, { recursive: true });
const files = CASES.map(([name, bytes], i) => {
  const path = join(dir, `${String(i).padStart(2, '0')}-${name.replace(/[^a-z0-9]+/gi, '-')}.safetensors`);
  writeFileSync(path, bytes);
  return path;
});

function check(e: unknown, path: string, defect: RegExp): true {
  assert.ok(e instanceof SdError, `an SdError, got ${e}`);
  assert.equal(e.code, 'ERR_SD_LOAD');
  assert.ok(e.message.startsWith(`"${path}"`), `the message names the file: ${e.message}`);
  assert.match(e.message, defect);
  return true;
}

test(`${CASES.length} malformed files: inspect() names the file and the defect`, () => {
  CASES.forEach(([name, , defect], i) => {
    assert.throws(() => inspect(files[i]!), (e) => check(e, files[i]!, defect), name);
  });
});

test(`${CASES.length} malformed files: StableDiffusion.load() rejects with the same message`, async () => {
  for (const [i, [name, , defect]] of CASES.entries()) {
    await assert.rejects(StableDiffusion.load(files[i]!), (e) => check(e, files[i]!, defect), name);
  }
});

test('a directory and a missing file', async () => {
  assert.throws(() => inspect(dir), (e) => check(e, dir, /is a directory, not a file; pass the path of the model file itself/));
  const missing = join(dir, 'missing.safetensors');
  await assert.rejects(StableDiffusion.load(missing), (e) => check(e, missing, /cannot open the file: No such file or directory; check the path/));
});

test('the process lives on: a valid checkpoint loads and generates afterwards', async () => {
  const sd = await StableDiffusion.load(tinyCheckpoint(), { threads: 2 });
  const [img] = await sd.generate({ prompt: 'a cat', width: 32, height: 32, steps: 2, seed: 1 });
  assert.equal(img!.data.length, 32 * 32 * 4);
  sd.dispose();
});
