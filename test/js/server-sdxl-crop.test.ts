// A1111's SDXL crop settings (sdxl_crop_top / sdxl_crop_left, from POST /options or
// override_settings) reach generate() as cropTop / cropLeft for SDXL models only; A1111 has no
// txt2img fields for them and no setting for the original/target sizes (always the image's).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import type { GenerateOptions } from '../../lib/pipeline.js';
import { createServer } from '../../lib/server/index.js';

function fake(family: 'sd1' | 'sdxl') {
  const calls: GenerateOptions[] = [];
  return {
    calls,
    pipeline: {
      info: { family, defaultSize: 64, vaeDownscale: 8, clipLayers: 12 },
      path: '/models/m.safetensors',
      generate: async (o: GenerateOptions) => {
        calls.push(o);
        return [{ data: Buffer.alloc(64 * 64 * 4), width: 64, height: 64, seed: 1, parameters: 'x', toPNG: () => Buffer.alloc(0) }];
      },
    },
  };
}

const body = { prompt: 'x', width: 64, height: 64, steps: 1, batch_size: 1, n_iter: 1 };

test('sdxl_crop_top/left: options, then override_settings, reach an SDXL generate(); other families ignore them', async () => {
  const xl = fake('sdxl');
  const app = createServer(xl.pipeline, { batchWindowMs: 0 });
  const txt2img = (payload: Record<string, unknown>) => app.inject({ method: 'POST', url: '/sdapi/v1/txt2img', payload });
  assert.equal((await txt2img(body)).statusCode, 200);
  assert.equal(xl.calls[0].cropTop, undefined);
  assert.equal((await app.inject({ method: 'POST', url: '/sdapi/v1/options', payload: { sdxl_crop_top: 32, sdxl_crop_left: 16 } })).statusCode, 200);
  await txt2img(body);
  assert.deepEqual([xl.calls[1].cropTop, xl.calls[1].cropLeft], [32, 16]);
  await txt2img({ ...body, override_settings: { sdxl_crop_left: 8 } });
  assert.deepEqual([xl.calls[2].cropTop, xl.calls[2].cropLeft], [32, 8]);
  const bad = await txt2img({ ...body, override_settings: { sdxl_crop_top: -1 } });
  assert.equal(bad.statusCode, 422);
  assert.equal(bad.json().detail, 'sdxl_crop_top must be an integer between 0 and 16384, got -1');
  await app.close();
  const sd1 = fake('sd1');
  const app1 = createServer(sd1.pipeline, { batchWindowMs: 0 });
  await app1.inject({ method: 'POST', url: '/sdapi/v1/txt2img', payload: { ...body, override_settings: { sdxl_crop_top: 32 } } });
  assert.equal(sd1.calls[0].cropTop, undefined);
  await app1.close();
});
