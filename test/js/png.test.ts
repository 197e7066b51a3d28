import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { deflateSync, inflateSync } from 'node:zlib';

import { PNG_SIGNATURE, crc32, decodePng, encodePng, readPngText, type RawImage } from '../../lib/png.js';
import { hasPil, python } from '../helpers/pil.js';
import { tempDir } from '../helpers/tiny-checkpoint.js';

// A deterministic image that exercises every filter: gradients, flat areas and noise.
function pattern(width: number, height: number, channels: RawImage['channels']): RawImage {
  const data = new Uint8Array(width * height * channels);
  let s = 12345;
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < channels; c++) {
        s = (s * 1103515245 + 12345) >>> 0;
        const region = (x >> 3) % 3;
        data[(y * width + x) * channels + c] = region === 0 ? (x * 7 + y * 3 + c * 50) & 255 : region === 1 ? 200 : (s >>> 24);
      }
  return { data, width, height, channels };
}

test('crc32 matches the standard check value', () => {
  assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
  assert.equal(crc32(Buffer.from('IEND')), 0xae426082); // the CRC every PNG ends with
});

test('encode → decode round trip for 1–4 channels', () => {
  for (const channels of [1, 2, 3, 4] as const) {
    const img = pattern(37, 23, channels);
    const png = encodePng(img, { text: { parameters: 'hello' } });
    assert.ok(png.subarray(0, 8).equals(PNG_SIGNATURE));
    const back = decodePng(png);
    assert.equal(back.width, 37);
    assert.equal(back.height, 23);
    for (let p = 0; p < 37 * 23; p++) {
      const src = (c: number) => img.data[p * channels + c]!;
      const expect = channels === 1 ? [src(0), src(0), src(0), 255] : channels === 2 ? [src(0), src(0), src(0), src(1)]
        : channels === 3 ? [src(0), src(1), src(2), 255] : [src(0), src(1), src(2), src(3)];
      assert.deepEqual([...back.data.subarray(p * 4, p * 4 + 4)], expect, `channels ${channels} pixel ${p}`);
    }
    assert.equal(back.text.parameters, 'hello');
  }
});

test('text chunks: Latin-1 goes to tEXt, anything else to iTXt (UTF-8), both read back', () => {
  const img = pattern(4, 4, 4);
  const latin = encodePng(img, { text: { parameters: 'a café, Steps: 20' } });
  assert.ok(latin.includes(Buffer.from('tEXtparameters\0a caf\xe9', 'latin1')));
  assert.equal(readPngText(latin).parameters, 'a café, Steps: 20');
  const utf = encodePng(img, { text: { parameters: '猫の写真 🐱' } });
  assert.ok(utf.includes(Buffer.from('iTXtparameters\0\0\0\0\0', 'latin1')));
  assert.equal(readPngText(utf).parameters, '猫の写真 🐱');
});

test('decoder errors say what is wrong', () => {
  const good = encodePng(pattern(8, 8, 4));
  assert.throws(() => decodePng(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0, 0, 0, 0, 0]), 'x.jpg'), /x\.jpg: not a PNG file.*\(it is a JPEG\)/);
  const badCrc = Buffer.from(good);
  badCrc[20] ^= 0xff; // inside IHDR's body
  assert.throws(() => decodePng(badCrc), /chunk IHDR at byte 8 has a bad CRC/);
  assert.throws(() => decodePng(good.subarray(0, good.length - 20)), /truncated/);
  // Interlaced: rewrite IHDR's interlace byte (and its CRC).
  const inter = Buffer.from(good);
  inter[8 + 8 + 12] = 1;
  inter.writeUInt32BE(crc32(inter.subarray(12, 12 + 4 + 13)), 8 + 8 + 13);
  assert.throws(() => decodePng(inter), /interlaced \(Adam7\) PNGs are not read by sd-native; save the image without interlacing/);
  // A row with filter type 7.
  const raw = Buffer.alloc(2 * (1 + 2 * 3));
  raw[0] = 7;
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(2, 0); ihdr.writeUInt32BE(2, 4); ihdr[8] = 8; ihdr[9] = 2;
  assert.throws(() => decodePng(handMade([['IHDR', ihdr], ['IDAT', deflateSync(raw)], ['IEND', Buffer.alloc(0)]])), /row 0 uses filter type 7/);
  ihdr[9] = 3; // palette without PLTE
  assert.throws(() => decodePng(handMade([['IHDR', ihdr], ['IDAT', deflateSync(raw)], ['IEND', Buffer.alloc(0)]])), /palette image without a PLTE chunk/);
  ihdr[9] = 2; ihdr[8] = 4; // 4-bit RGB does not exist
  assert.throws(() => decodePng(handMade([['IHDR', ihdr], ['IDAT', deflateSync(raw)], ['IEND', Buffer.alloc(0)]])), /bit depth 4 is not allowed for RGB images/);
});

function handMade(chunks: Array<[string, Buffer]>): Buffer {
  const parts = [PNG_SIGNATURE];
  for (const [type, body] of chunks) {
    const c = Buffer.alloc(12 + body.length);
    c.writeUInt32BE(body.length, 0);
    c.write(type, 4, 'latin1');
    body.copy(c, 8);
    c.writeUInt32BE(crc32(c.subarray(4, 8 + body.length)), 8 + body.length);
    parts.push(c);
  }
  return Buffer.concat(parts);
}

test('Pillow reads our PNGs: same pixels, same parameters text', { skip: !hasPil() && 'python3 with PIL not installed' }, () => {
  const dir = tempDir();
  const cases = ([1, 2, 3, 4] as const).map((channels) => {
    const img = pattern(33, 17, channels);
    const file = join(dir, `ours-${channels}.png`);
    writeFileSync(file, encodePng(img, { text: { parameters: `a photo, ${channels}\nSteps: 20, Seed: 1`, Comment: 'grüße 猫' } }));
    return { file, img };
  });
  const out = python(`
import sys, json, hashlib
from PIL import Image
for f in sys.argv[1:]:
    im = Image.open(f); im.load()
    print(json.dumps({"mode": im.mode, "size": im.size, "sha": hashlib.sha256(im.tobytes()).hexdigest(), "text": im.text}))
`, cases.map((c) => c.file));
  const lines = out.trim().split('\n').map((l) => JSON.parse(l));
  cases.forEach(({ img }, i) => {
    const r = lines[i];
    assert.equal(r.mode, ['L', 'LA', 'RGB', 'RGBA'][img.channels - 1]);
    assert.deepEqual(r.size, [33, 17]);
    assert.equal(r.sha, sha256(img.data));
    assert.equal(r.text.parameters, `a photo, ${img.channels}\nSteps: 20, Seed: 1`);
    assert.equal(r.text.Comment, 'grüße 猫');
  });
});

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

// The filter byte of every row of an 8-bit PNG.
function rowFilters(png: Buffer): number[] {
  let pos = 8, width = 0, height = 0, channels = 0;
  const idat: Buffer[] = [];
  while (pos < png.length) {
    const len = png.readUInt32BE(pos), type = png.toString('latin1', pos + 4, pos + 8), body = png.subarray(pos + 8, pos + 8 + len);
    if (type === 'IHDR') [width, height, channels] = [body.readUInt32BE(0), body.readUInt32BE(4), ({ 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 } as Record<number, number>)[body[9]!]!];
    if (type === 'IDAT') idat.push(body);
    pos += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  return Array.from({ length: height }, (_, y) => raw[y * (width * channels + 1)]!);
}

test('we read Pillow PNGs of every colour type and depth, pixel for pixel', { skip: !hasPil() && 'python3 with PIL not installed' }, () => {
  const dir = tempDir();
  // Pillow writes the file and its expected RGBA bytes (16-bit: the high byte).
  python(`
import sys, numpy as np
from PIL import Image, PngImagePlugin
d = sys.argv[1]
rng = np.random.default_rng(7)
h, w = 19, 29
rgba = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
rgba[:, :10] = np.arange(10, dtype=np.uint8)[None, :, None] * 25   # smooth area: non-trivial filters
def save(name, im, expect, **kw):
    im.save(f"{d}/{name}.png", **kw)
    open(f"{d}/{name}.rgba", "wb").write(np.ascontiguousarray(expect, dtype=np.uint8).tobytes())
base = Image.fromarray(rgba, "RGBA")
save("rgba", base, rgba)
save("rgb", base.convert("RGB"), np.array(base.convert("RGB").convert("RGBA")))
save("rgb_opt", base.convert("RGB"), np.array(base.convert("RGB").convert("RGBA")), optimize=True)
save("l", base.convert("L"), np.array(base.convert("L").convert("RGBA")))
save("la", base.convert("LA"), np.array(base.convert("LA").convert("RGBA")))
p = base.convert("RGB").quantize(colors=200)
save("p8", p, np.array(p.convert("RGBA")))
p4 = base.convert("RGB").quantize(colors=16)
save("p4", p4, np.array(p4.convert("RGBA")), bits=4)
pt = base.convert("RGB").quantize(colors=64)
pt.info["transparency"] = bytes([0, 128] + [255] * 62)
save("p_trns", pt, np.array(pt.convert("RGBA")), transparency=bytes([0, 128] + [255] * 62))
one = base.convert("L").point(lambda v: 255 if v > 127 else 0).convert("1")
save("bw1", one, np.array(one.convert("RGBA")))
g16 = (rng.integers(0, 65536, (h, w))).astype(np.uint16)
im16 = Image.fromarray(g16.astype(np.int32), "I").convert("I;16")
e16 = np.stack([(g16 >> 8).astype(np.uint8)] * 3 + [np.full((h, w), 255, np.uint8)], -1)
save("l16", im16, e16)
info = PngImagePlugin.PngInfo()
info.add_text("parameters", "a cat\\nSteps: 20, Sampler: Euler a")
info.add_text("zipped", "compressed text " * 10, zip=True)
info.add_itxt("utf", "猫", zip=True)
save("text", base, rgba, pnginfo=info)
`, [dir]);
  for (const name of ['rgba', 'rgb', 'rgb_opt', 'l', 'la', 'p8', 'p4', 'p_trns', 'bw1', 'l16', 'text']) {
    const png = decodePng(readFileSync(join(dir, `${name}.png`)), name);
    const expect = readFileSync(join(dir, `${name}.rgba`));
    assert.equal(png.width, 29, name);
    assert.equal(png.height, 19, name);
    assert.ok(png.data.equals(expect), `${name}: pixels differ from Pillow's (${png.source.colorTypeName}, ${png.source.bitDepth}-bit)`);
  }
  // Between Pillow's files and ours, the decoder has seen every row filter.
  const seen = new Set<number>();
  for (const name of ['rgba', 'rgb', 'rgb_opt', 'l', 'la']) for (const f of rowFilters(readFileSync(join(dir, `${name}.png`)))) seen.add(f);
  const mixed = new Uint8Array(64 * 64 * 4);
  for (let i = 0, r = 1; i < mixed.length; i++) (r = (r * 1103515245 + 12345) >>> 0), (mixed[i] = i % 256 < 128 ? (i >> 4) & 255 : r >>> 24);
  for (const f of rowFilters(encodePng({ data: mixed, width: 64, height: 64, channels: 4 }))) seen.add(f);
  assert.deepEqual([...seen].sort(), [0, 1, 2, 3, 4]);
  const text = readPngText(readFileSync(join(dir, 'text.png')));
  assert.deepEqual(text, { parameters: 'a cat\nSteps: 20, Sampler: Euler a', zipped: 'compressed text '.repeat(10), utf: '猫' });
});
