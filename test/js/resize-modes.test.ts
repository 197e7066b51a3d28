import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { Image8 } from '../../lib/resample.js';
import { extrasOutputSize, extrasUpscale, resizeImage, type ExtrasUpscaler, type ResizeMode } from '../../lib/resize-modes.js';
import { fixtures } from '../helpers/tiny-checkpoint.js';

interface Out { width: number; height: number; channels: number; data: string }
interface Golden {
  inputs: Array<{ width: number; height: number; channels: Image8['channels']; data: string }>;
  resize_image: Array<Out & { input: number; mode: ResizeMode }>;
  extras: Array<Out & { input: number; upscaler: ExtrasUpscaler; resize_mode: 0 | 1; upscaling_resize: number; upscaling_resize_w: number; upscaling_resize_h: number; upscaling_crop: boolean }>;
}
const golden = JSON.parse(readFileSync(join(fixtures, 'a1111_resize_golden.json'), 'utf8')) as Golden;
const inputs: Image8[] = golden.inputs.map((i) => ({ ...i, data: new Uint8Array(Buffer.from(i.data, 'base64')) }));

function maxDiff(got: Image8, want: Out): number {
  assert.deepEqual([got.width, got.height, got.channels], [want.width, want.height, want.channels]);
  const w = Buffer.from(want.data, 'base64');
  let d = 0;
  for (let i = 0; i < w.length; i++) d = Math.max(d, Math.abs(got.data[i]! - w[i]!));
  return d;
}

test(`resizeImage equals A1111 images.resize_image, modes 0/1/2 (${golden.resize_image.length} cases, L/RGB/RGBA)`, () => {
  const bad: string[] = [];
  for (const c of golden.resize_image) {
    const src = inputs[c.input]!;
    const d = maxDiff(resizeImage(c.mode, src, c.width, c.height), c);
    if (d) bad.push(`${src.width}x${src.height}x${src.channels} mode ${c.mode} → ${c.width}x${c.height}: max diff ${d}`);
  }
  assert.deepEqual(bad, []);
});

test(`extrasUpscale equals A1111's extras upscale step (${golden.extras.length} cases: Lanczos/Nearest, scale by/to, crop)`, () => {
  const bad: string[] = [];
  for (const c of golden.extras) {
    const src = inputs[c.input]!;
    const o = { upscaler: c.upscaler, mode: c.resize_mode, scale: c.upscaling_resize, width: c.upscaling_resize_w, height: c.upscaling_resize_h, crop: c.upscaling_crop };
    const { image } = extrasUpscale(src, o);
    assert.deepEqual(extrasOutputSize(src.width, src.height, o), { width: image.width, height: image.height });
    const d = maxDiff(image, c);
    if (d) bad.push(`${JSON.stringify(o)}: max diff ${d}`);
  }
  assert.deepEqual(bad, []);
});

test('extras None returns the image unchanged; a second upscaler blends', () => {
  const src = inputs[0]!;
  assert.equal(extrasUpscale(src, { upscaler: 'None', mode: 0, scale: 2 }).image, src);
  const a = extrasUpscale(src, { upscaler: 'Lanczos', mode: 0, scale: 2 }).image;
  const b = extrasUpscale(src, { upscaler: 'Nearest', mode: 0, scale: 2 }).image;
  const mix = extrasUpscale(src, { upscaler: 'Lanczos', mode: 0, scale: 2, upscaler2: 'Nearest', upscaler2Visibility: 0.5 });
  assert.equal(mix.info['Postprocess upscaler 2'], 'Nearest');
  for (let i = 0; i < a.data.length; i++) assert.equal(mix.image.data[i], Math.trunc(a.data[i]! + 0.5 * (b.data[i]! - a.data[i]!)));
});
