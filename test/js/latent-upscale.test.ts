// A1111's latent upscalers against torch.nn.functional.interpolate itself
// (test/fixtures/generators/latent_upscale_golden.py): every mode, up by 2, up by odd ratios, and down.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { upscaleLatent, type LatentUpscaler } from '../../lib/latent-upscale.js';
import { f32, readSafetensors, relL2 } from '../helpers/safetensors.js';
import { fixtures } from '../helpers/tiny-checkpoint.js';

test('latent upscale modes equal torch interpolate (rel-L2 ≤ 1e-6)', () => {
  const golden = readSafetensors(join(fixtures, 'latent_upscale.safetensors')).tensors;
  const meta = JSON.parse(readFileSync(join(fixtures, 'latent_upscale.json'), 'utf8')) as { cases: Array<{ key: string; size: [number, number] }> };
  const input = f32(golden.get('input'), 'input');
  let worst = 0;
  for (const c of meta.cases) {
    const [upscaler] = c.key.split('.') as [LatentUpscaler];
    const got = upscaleLatent(input, [2, 4, 5, 6], c.size[0], c.size[1], upscaler);
    const err = relL2(got, f32(golden.get(c.key), c.key));
    assert.ok(err <= 1e-6, `${c.key}: rel-L2 ${err}`);
    worst = Math.max(worst, err);
  }
  assert.equal(meta.cases.length, 24);
});
