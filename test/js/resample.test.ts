import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { resize, type Image8, type ResampleFilter, type ResizeBox } from '../../lib/resample.js';
import { fixtures } from '../helpers/tiny-checkpoint.js';

interface Golden {
  pillow: string;
  inputs: Array<{ width: number; height: number; channels: Image8['channels']; data: string }>;
  cases: Array<{ input: number; width: number; height: number; filter: ResampleFilter; box: ResizeBox | null; data: string }>;
}
const golden = JSON.parse(readFileSync(join(fixtures, 'resample_golden.json'), 'utf8')) as Golden;
const inputs: Image8[] = golden.inputs.map((i) => ({ ...i, data: new Uint8Array(Buffer.from(i.data, 'base64')) }));

test(`resize is byte-identical to Pillow ${golden.pillow} Image.resize (${golden.cases.length} cases: 6 filters, 1-4 channels, boxes)`, () => {
  let worst = 0;
  const failures: string[] = [];
  for (const c of golden.cases) {
    const src = inputs[c.input]!;
    const want = Buffer.from(c.data, 'base64');
    const got = resize(src, c.width, c.height, c.filter, c.box ?? undefined);
    assert.equal(got.data.length, want.length);
    let diff = 0;
    for (let i = 0; i < want.length; i++) diff = Math.max(diff, Math.abs(got.data[i]! - want[i]!));
    worst = Math.max(worst, diff);
    if (diff) failures.push(`${src.width}x${src.height}x${src.channels} → ${c.width}x${c.height} ${c.filter} box=${c.box}: max diff ${diff}`);
  }
  assert.deepEqual(failures, []);
  assert.equal(worst, 0);
});

test('same size returns an equal copy; bad arguments are refused', () => {
  const img = inputs[2]!;
  const same = resize(img, img.width, img.height, 'lanczos');
  assert.deepEqual(same.data, img.data);
  assert.notEqual(same.data, img.data);
  assert.throws(() => resize(img, 0, 5, 'bilinear'), /whole pixels/);
  assert.throws(() => resize(img, 5, 5, 'bilinear', [0, 0, img.width + 1, 3]), /not inside/);
  assert.throws(() => resize({ ...img, data: img.data.subarray(1) }, 5, 5, 'box'), /needs/);
});

test('512² → 1024² RGB lanczos takes well under 100 ms', () => {
  const img: Image8 = { data: new Uint8Array(512 * 512 * 3).map((_, i) => (i * 2654435761) >>> 24), width: 512, height: 512, channels: 3 };
  resize(img, 1024, 1024, 'lanczos'); // warm-up (JIT)
  let best = Infinity;
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    resize(img, 1024, 1024, 'lanczos');
    best = Math.min(best, performance.now() - t);
  }
  console.log(`512²→1024² RGB lanczos: ${best.toFixed(1)} ms`);
  assert.ok(best < 100, `took ${best.toFixed(1)} ms`);
});
