import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { SdError } from '../../lib/errors.js';
import { decodeImage, sniffImage } from '../../lib/image-decode.js';
import { encodePng } from '../../lib/png.js';
import { fixtures } from '../helpers/tiny-checkpoint.js';

interface Golden { pillow: string; cases: Array<{ name: string; file: string; width: number; height: number; channels: number; pixels: string }> }
const golden = JSON.parse(readFileSync(join(fixtures, 'image_decode_golden.json'), 'utf8')) as Golden;

// Measured against PIL 9.4 (libjpeg-turbo) with sharp 0.34.5 (mozjpeg, libwebp 1.6): max |diff| 0 on all
// five files; JPEG keeps ±1 for other libjpeg builds (IDCT/upsampling rounding), WebP none.
const BOUND: Record<string, number> = { jpeg: 1, webp: 0 };

for (const c of golden.cases) {
  test(`decodeImage ${c.name} matches PIL ${golden.pillow} within ±${BOUND[c.name.split(' ')[0]!]}`, async () => {
    const img = await decodeImage(Buffer.from(c.file, 'base64'), { maxPixels: 1 << 20 });
    assert.deepEqual([img.width, img.height, img.channels], [c.width, c.height, c.channels]);
    const want = Buffer.from(c.pixels, 'base64');
    let d = 0;
    for (let i = 0; i < want.length; i++) d = Math.max(d, Math.abs(img.data[i]! - want[i]!));
    console.log(`${c.name}: max |diff| vs PIL = ${d}`);
    assert.ok(d <= BOUND[img.format]!, `max diff ${d}`);
  });
}

test('oversized headers are refused before decoding; unknown formats name their bytes', async () => {
  const jpeg = Buffer.from(golden.cases[0]!.file, 'base64');
  await assert.rejects(decodeImage(jpeg, { maxPixels: 100 }), (e: SdError) => e.code === 'ERR_SD_IMAGE' && /23x17 = 391 pixels, more than the limit of 100/.test(e.message));
  const png = encodePng({ data: new Uint8Array(30 * 20 * 3), width: 30, height: 20, channels: 3 });
  await assert.rejects(decodeImage(png, { maxPixels: 599 }), /PNG declares 30x20/);
  assert.equal((await decodeImage(png, { maxPixels: 600 })).channels, 4);
  // a JPEG header claiming 60000×60000 with no data behind it: refused from the header alone
  const huge = Buffer.from(jpeg);
  for (let i = 0; i < huge.length - 8; i++) if (huge[i] === 0xff && huge[i + 1] === 0xc0) { huge.writeUInt16BE(60000, i + 5); huge.writeUInt16BE(60000, i + 7); break; }
  await assert.rejects(decodeImage(huge, { maxPixels: 1 << 24 }), /60000x60000/);
  await assert.rejects(decodeImage(Buffer.from('GIF89a....'), { maxPixels: 1e6 }), /not PNG, JPEG or WebP \(first bytes 4749463839612e2e\)/);
  await assert.rejects(decodeImage(jpeg.subarray(0, 40), { maxPixels: 1e6 }), (e: SdError) => e.code === 'ERR_SD_IMAGE');
  assert.equal(sniffImage(Buffer.from('RIFF\0\0\0\0WEBPVP8 ')), 'webp');
});
