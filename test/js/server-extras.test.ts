import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { decodePng, encodePng } from '../../lib/png.js';
import { createServer, type ServerPipeline } from '../../lib/server/index.js';
import { fixtures } from '../helpers/tiny-checkpoint.js';

// The extras routes never generate: a pipeline that only describes itself.
const pipeline = { info: { family: 'sd1', defaultSize: 512, vaeDownscale: 8 }, path: '/m.safetensors', generate: async () => { throw new Error('unused'); } } as unknown as ServerPipeline;
const app = createServer(pipeline, { batchWindowMs: 0 });

interface Case { input: number; upscaler: string; resize_mode: 0 | 1; upscaling_resize: number; upscaling_resize_w: number; upscaling_resize_h: number; upscaling_crop: boolean; width: number; height: number; channels: number; data: string }
const golden = JSON.parse(readFileSync(join(fixtures, 'a1111_resize_golden.json'), 'utf8')) as { inputs: Array<{ width: number; height: number; channels: 1 | 3 | 4; data: string }>; extras: Case[] };
const pngOf = (i: number) => { const s = golden.inputs[i]!; return encodePng({ ...s, data: Buffer.from(s.data, 'base64') }).toString('base64'); };

function assertPixels(b64: string, c: Case): void {
  const png = decodePng(Buffer.from(b64, 'base64'));
  assert.deepEqual([png.width, png.height], [c.width, c.height]);
  const want = Buffer.from(c.data, 'base64');
  for (let p = 0; p < c.width * c.height; p++) for (let ch = 0; ch < c.channels; ch++) {
    assert.equal(png.data[p * 4 + ch], want[p * c.channels + ch], `pixel ${p} channel ${ch}`);
  }
}

const post = (url: string, payload: object) => app.inject({ method: 'POST', url, payload });

test('extra-single-image returns A1111\'s pixels and infotext (golden cases through HTTP)', async () => {
  for (const c of golden.extras.filter((_, i) => i % 5 === 0)) {
    const r = await post('/sdapi/v1/extra-single-image', { image: pngOf(c.input), upscaler_1: c.upscaler, resize_mode: c.resize_mode, upscaling_resize: c.upscaling_resize || undefined, upscaling_resize_w: c.upscaling_resize_w || undefined, upscaling_resize_h: c.upscaling_resize_h || undefined, upscaling_crop: c.upscaling_crop });
    assert.equal(r.statusCode, 200, r.body);
    const body = r.json() as { image: string; html_info: string };
    assert.deepEqual(Object.keys(body).sort(), ['html_info', 'image']);
    assertPixels(body.image, c);
    assert.match(body.html_info, new RegExp(`Postprocess upscaler: ${c.upscaler}`));
  }
  const r = await post('/sdapi/v1/extra-single-image', { image: pngOf(0), upscaling_resize: 2, upscaler_1: 'Lanczos' });
  assert.equal(r.json().html_info, '<p>Postprocess upscale by: 2.0, Postprocess upscaler: Lanczos</p>');
});

test('extra-batch-images answers images[] in order; JPEG input is accepted', async () => {
  const jpeg = (JSON.parse(readFileSync(join(fixtures, 'image_decode_golden.json'), 'utf8')) as { cases: Array<{ file: string }> }).cases[0]!.file;
  const c = golden.extras.find((e) => e.upscaler === 'Nearest' && e.resize_mode === 0 && e.upscaling_resize === 2)!;
  const r = await post('/sdapi/v1/extra-batch-images', { imageList: [{ data: pngOf(c.input), name: 'a' }, { data: `data:image/jpeg;base64,${jpeg}`, name: 'b' }], upscaler_1: 'Nearest', upscaling_resize: 2 });
  assert.equal(r.statusCode, 200, r.body);
  const body = r.json() as { images: string[]; html_info: string };
  assert.equal(body.images.length, 2);
  assertPixels(body.images[0]!, c);
  const second = decodePng(Buffer.from(body.images[1]!, 'base64'));
  assert.deepEqual([second.width, second.height], [40, 32]); // 23x17 × 2 → 46x34, rounded down to ×8
});

test('what sd-native lacks or cannot afford is a 422 that says so', async () => {
  const cases: Array<[object, RegExp]> = [
    [{ upscaler_1: 'R-ESRGAN 4x+' }, /upscaler_1 'R-ESRGAN 4x\+' is a model upscaler.*None, Lanczos, Nearest/],
    [{ upscaler_1: 'Lanczos', gfpgan_visibility: 0.5 }, /face restoration \(GFPGAN\)/],
    [{ upscaler_1: 'Lanczos', codeformer_visibility: 1 }, /face restoration \(CODEFORMER\)/],
    [{ upscaler_1: 'Lanczos', upscaling_resize: 1000 }, /would be 24000x16000, more than 8192x8192/],
    [{ upscaler_1: 'Lanczos', resize_mode: 2 }, /resize_mode must be 0/],
    [{ upscaler_1: 'Lanczos', upscaling_resize: 0.1 }, /would be 0x0/],
  ];
  for (const [extra, msg] of cases) {
    const r = await post('/sdapi/v1/extra-single-image', { image: pngOf(0), ...extra });
    assert.equal(r.statusCode, 422, r.body);
    assert.match(r.body, msg);
  }
  const gif = await post('/sdapi/v1/extra-single-image', { image: Buffer.from('GIF89a........').toString('base64'), upscaler_1: 'Lanczos' });
  assert.equal(gif.statusCode, 422);
  assert.match(gif.body, /not PNG, JPEG or WebP/);
  await app.close();
});
