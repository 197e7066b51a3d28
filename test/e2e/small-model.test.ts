// The model we ship, run by the native runtime through the public API, against PyTorch's output
// for the same weights, prompt, noise and sampler (test/fixtures/small_model_reference.*, made by
// train/make_reference.py from the exported f16 file): training and inference agree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { StableDiffusion } from '../../lib/index.js';
import { f32, maxAbs, readSafetensors, relL2, writeSafetensors } from '../helpers/safetensors.js';

const root = resolve(import.meta.dirname, '..', '..');
const model = join(root, 'models', 'sd-native-tiny.safetensors');
const reference = readSafetensors(join(root, 'test', 'fixtures', 'small_model_reference.safetensors'));

test('shipped model: loads as SD1 with its recorded heads and 64×64 default size', async () => {
  assert.ok(existsSync(model), `${model} is missing`);
  const sd = await StableDiffusion.load(model);
  try {
    assert.equal(sd.info.family, 'sd1');
    assert.equal(sd.info.defaultSize, 64);
    assert.equal(sd.info.clipHeads, 2);
  } finally {
    sd.dispose();
  }
});

test("shipped model: generate() without steps or CFG uses the settings recorded in the file", async () => {
  const meta = readSafetensors(model).metadata;
  assert.ok(meta['sd_native.steps'] && meta['sd_native.cfg_scale'], 'the file records its sampling settings');
  const sd = await StableDiffusion.load(model);
  try {
    assert.equal(sd.info.defaultSteps, Number(meta['sd_native.steps']));
    assert.equal(sd.info.defaultCfgScale, Number(meta['sd_native.cfg_scale']));
    let steps = 0;
    await sd.generate({ prompt: 'a red circle', seed: 1, onStep: (e) => { steps = e.steps; } });
    assert.equal(steps, sd.info.defaultSteps);
  } finally {
    sd.dispose();
  }
});

test('a file whose recorded settings are not sane numbers gets the usual 20 steps at CFG 7 and 512²', async () => {
  const file = readSafetensors(model);
  const dir = mkdtempSync(join(tmpdir(), 'sd-native-meta-'));
  const path = join(dir, 'bad-settings.safetensors');
  try {
    // a resolution of 64.5 or 60 must not become 64 or a size generate() refuses
    const cases = [['40 steps', '1e9', '64.5'], ['40.5', 'nan', '60'], ['-3', '-1', '1e9']];
    for (const [steps, cfg, size] of cases) {
      const metadata = { ...file.metadata, 'sd_native.steps': steps, 'sd_native.cfg_scale': cfg, 'sd_native.resolution': size };
      writeSafetensors(path, file.tensors, metadata);
      const sd = await StableDiffusion.load(path);
      try {
        const got = [sd.info.defaultSteps, sd.info.defaultCfgScale, sd.info.defaultSize];
        assert.deepEqual(got, [20, 7, 512], `steps ${steps}, cfg ${cfg}, resolution ${size}`);
      } finally {
        sd.dispose();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a recorded head count that is not a count, or does not divide the width, is a load error', async () => {
  const file = readSafetensors(model);
  const dir = mkdtempSync(join(tmpdir(), 'sd-native-heads-'));
  const path = join(dir, 'bad-heads.safetensors');
  try {
    const cases: [string, RegExp][] = [['4.5', /sd_native\.unet\.num_heads = "4\.5", which is not a head count/],
      ['0', /not a head count/], ['four', /not a head count/], ['3', /3 heads/]];
    for (const [heads, message] of cases) {
      writeSafetensors(path, file.tensors, { ...file.metadata, 'sd_native.unet.num_heads': heads });
      await assert.rejects(StableDiffusion.load(path), message, `heads ${heads}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('shipped model: text context and final latent match PyTorch (CFG 7, euler, 8 steps, seed 42)', async () => {
  const sd = await StableDiffusion.load(model);
  try {
    const cond = await sd.encodeText('a red circle on a white background');
    const ctxErr = relL2(cond.data, f32(reference.tensors.get('output.context_cond')));
    assert.ok(ctxErr < 1e-4, `context rel-L2 ${ctxErr}`);
    const sigmas = f32(reference.tensors.get('input.sigmas'));
    const seen: number[] = [];
    const [img] = await sd.generate({
      prompt: 'a red circle on a white background', negativePrompt: '', width: 64, height: 64, steps: 8,
      sampler: 'euler', scheduler: 'normal', cfgScale: 7, seed: 42, rng: 'cpu',
      onStep: (e) => { seen.push(e.sigma); },
    });
    seen.forEach((s, i) => assert.ok(Math.abs(s - sigmas[i]) <= 1e-5 * sigmas[i], `sigma ${i}: ${s} vs ${sigmas[i]}`));
    const want = f32(reference.tensors.get('output.latent'));
    const err = relL2(img.latent!, want);
    console.log(`# small model vs PyTorch: final latent rel-L2 ${err.toExponential(2)}, max abs ${maxAbs(img.latent!, want).toExponential(2)}`);
    assert.ok(err <= 1e-3, `final latent rel-L2 ${err} > 1e-3`);
    // the decoded image agrees too ((x+1)/2·255 of the reference decode, ±2 levels)
    const ref = f32(reference.tensors.get('output.image'));
    let worst = 0;
    for (let p = 0; p < 64 * 64; p++)
      for (let c = 0; c < 3; c++) {
        const v = Math.round(Math.min(1, Math.max(0, (ref[c * 4096 + p] + 1) / 2)) * 255);
        worst = Math.max(worst, Math.abs(v - img.data[p * 4 + c]));
      }
    assert.ok(worst <= 2, `pixel difference ${worst}`);
  } finally {
    sd.dispose();
  }
});
