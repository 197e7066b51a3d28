// The SDE samplers' noise in a real generate(): A1111 seeds one Brownian tree per image (the tree's
// draws against torchsde: test_samplers, brownian.safetensors). End to end, generate() on the tiny
// checkpoint must give the latent of k-diffusion's sampler + BrownianTreeNoiseSampler driving CompVis'
// UNet under CFG (sde_cfg_sd1_tiny, generator sde_cfg_golden.py); and image k of a batch must be the
// single image of its seed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { StableDiffusion, type StepEvent } from '../../lib/index.js';
import { f32, maxAbs, readSafetensors, relL2 } from '../helpers/safetensors.js';
import { fixtures, tinyCheckpoint } from '../helpers/tiny-checkpoint.js';

let shared: Promise<StableDiffusion> | undefined;
const model = () => (shared ??= StableDiffusion.load(tinyCheckpoint(), { threads: 2 }));
test.after(async () => (await shared)?.dispose());

interface GoldenRun { key: string; rel_l2_vs_tree_seed_plus_1: number }
const sidecar = JSON.parse(readFileSync(join(fixtures, 'sde_cfg_sd1_tiny.json'), 'utf8')) as {
  options: { prompt: string; negativePrompt: string; width: number; height: number; steps: number; scheduler: string;
             cfgScale: number; seed: number; rng: string; eta: number };
  runs: Record<string, GoldenRun>;
};
const golden = readSafetensors(join(fixtures, 'sde_cfg_sd1_tiny.safetensors')).tensors;

// Measured 2026-12-07 (x86-64 CPU, 2 threads): rel L2 3.0e-6..3.6e-6 (the CFG Euler golden's bound, 1e-4,
// is kept). The tree seeded one off gives 0.67..0.85 (sidecar), per-step noise without the tree 0.68..0.86.
const TOLERANCE = 1e-4;

for (const [sampler, run] of Object.entries(sidecar.runs)) {
  test(`${sampler} end to end = k-diffusion + Brownian tree seeded as A1111 (karras, CFG)`, async (t) => {
    const sd = await model();
    const { prompt, negativePrompt, width, height, steps, scheduler, cfgScale, seed, rng, eta } = sidecar.options;
    const events: StepEvent[] = [];
    const [img] = await sd.generate({ prompt, negativePrompt, width, height, steps, scheduler, cfgScale, seed, rng, eta, sampler,
                                      onStep: (e) => events.push(e) });
    // the schedule first (3M SDE drops the next-to-last sigma): the tree spans its positive range
    const sigmas = f32(golden.get(`${run.key}.sigmas`), run.key);
    assert.equal(events.length, sigmas.length - 1);
    for (const [i, e] of events.entries())
      assert.ok(Math.abs(e.sigma - sigmas[i]!) <= 1e-6 * sigmas[i]!, `${sampler} step ${i + 1}: sigma ${e.sigma} vs golden ${sigmas[i]}`);
    const ref = f32(golden.get(`${run.key}.latent`), run.key);
    const rel = relL2(img!.latent!, ref);
    t.diagnostic(`${sampler}: latent rel L2 ${rel.toExponential(2)}, max abs ${maxAbs(img!.latent!, ref).toExponential(2)} ` +
                 `(other tree seed: rel L2 ${run.rel_l2_vs_tree_seed_plus_1.toFixed(2)})`);
    assert.ok(rel <= TOLERANCE, `${sampler}: latent rel L2 ${rel} vs golden`);
  });
}

test('the golden covers DPM++ SDE and DPM++ 2M SDE', () => {
  for (const s of ['DPM++ SDE', 'DPM++ 2M SDE', 'DPM++ 2M SDE Heun', 'DPM++ 3M SDE']) assert.ok(sidecar.runs[s], s);
});

const base = { prompt: 'a lighthouse at dusk', negativePrompt: 'blurry', width: 32, height: 32, steps: 4, cfgScale: 5, scheduler: 'karras' };

test('SDE samplers: image 2 of a batch equals the single image of its seed', async () => {
  const sd = await model();
  for (const sampler of ['DPM++ SDE', 'DPM++ 2M SDE', 'DPM++ 2M SDE Heun', 'DPM++ 3M SDE']) {
    const batch = await sd.generate({ ...base, sampler, seed: 11, batchSize: 2 });
    const [single] = await sd.generate({ ...base, sampler, seed: 12 });
    assert.deepEqual(batch[1]!.latent, single!.latent, `${sampler}: seed 12 alone = image 2 of the batch`);
    assert.notDeepEqual(batch[0]!.latent, single!.latent, `${sampler}: seeds 11 and 12 differ`);
  }
});
