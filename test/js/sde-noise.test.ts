// The SDE samplers' noise in a real generate(): A1111 seeds one Brownian tree per image, so image k of
// a batch is the single image with that image's seed (the tree's draws against torchsde: test_samplers,
// brownian.safetensors).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { StableDiffusion } from '../../lib/index.js';
import { tinyCheckpoint } from '../helpers/tiny-checkpoint.js';

const base = { prompt: 'a lighthouse at dusk', negativePrompt: 'blurry', width: 32, height: 32, steps: 4, cfgScale: 5, scheduler: 'karras' };

test('SDE samplers: image 2 of a batch equals the single image of its seed', async () => {
  const sd = await StableDiffusion.load(tinyCheckpoint(), { threads: 2 });
  try {
    for (const sampler of ['DPM++ SDE', 'DPM++ 2M SDE', 'DPM++ 2M SDE Heun', 'DPM++ 3M SDE']) {
      const batch = await sd.generate({ ...base, sampler, seed: 11, batchSize: 2 });
      const [single] = await sd.generate({ ...base, sampler, seed: 12 });
      assert.deepEqual(batch[1]!.latent, single!.latent, `${sampler}: seed 12 alone = image 2 of the batch`);
      assert.notDeepEqual(batch[0]!.latent, single!.latent, `${sampler}: seeds 11 and 12 differ`);
    }
  } finally {
    sd.dispose();
  }
});
