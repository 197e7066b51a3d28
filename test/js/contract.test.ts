// The contract is the native core's: the TS API reports the native table's options and defaults,
// and the addon reads strictly, so a key lib/ misspells or mistypes is an error, not a default.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { GENERATE_OPTIONS, LOAD_OPTIONS, StableDiffusion, samplers, schedulers } from '../../lib/index.js';
import { native } from '../../lib/binding.js';
import type { NativeModel } from '../../lib/native.js';
import { defaultOf, resolveGenerateOptions } from '../../lib/options.js';
import { tinyCheckpoint } from '../helpers/tiny-checkpoint.js';

const contract = native.contract();

test('every option and default the TS API reports is the native table’s', () => {
  assert.deepEqual(GENERATE_OPTIONS, contract.generateOptions);
  assert.deepEqual(LOAD_OPTIONS, contract.loadOptions);
  assert.deepEqual(samplers(), contract.samplers.map(({ name, aliases }) => ({ name, aliases })));
  assert.deepEqual(schedulers(), contract.schedulers.map(({ name, aliases }) => ({ name, aliases })));
  // The values SD users know, pinned so a change to the table is a visible decision.
  const defaults = Object.fromEntries(contract.generateOptions.filter((o) => 'default' in o).map((o) => [o.name, o.default]));
  assert.deepEqual(defaults, {
    negativePrompt: '', steps: 20, cfgScale: 7, cfgRescale: 0, seed: -1, sampler: 'euler_ancestral', scheduler: 'automatic', rng: 'cpu', eta: 1,
    clipSkip: 1, batchSize: 1, strength: 0.75, vaeTiling: 'auto', tiling: false, preview: 'cheap', decoder: 'vae', originalWidth: 0, originalHeight: 0, cropTop: 0, cropLeft: 0,
    targetWidth: 0, targetHeight: 0, loras: [], resizeMode: 'just_resize', maskBlur: 4, maskInvert: false, inpaintingFill: 'original',
    inpaintArea: 'whole', inpaintPadding: 32, outpaintLeft: 0, outpaintRight: 0, outpaintTop: 0, outpaintBottom: 0, hires: false, hiresScale: 2, hiresWidth: 0, hiresHeight: 0, hiresUpscaler: 'latent', hiresSteps: 0,
    hiresStrength: 0.7, hiresSampler: '', hiresScheduler: '', hiresPrompt: '', hiresNegativePrompt: '',
  });
  const loadDefaults = Object.fromEntries(contract.loadOptions.filter((o) => 'default' in o).map((o) => [o.name, o.default]));
  assert.deepEqual(loadDefaults, { threads: 0, dtype: 'f32', prediction: 'auto', vae: '', loraDir: '', loraCacheMB: 1024, vaeMemoryMB: 3072, maxPromptChunks: 16, embeddingsDir: '', taesd: '', device: 'auto' });
  assert.equal(defaultOf('sampler'), 'euler_ancestral');
  assert.deepEqual(contract.tokens, { start: 49406, end: 49407, perChunk: 77 });
});

test('resolved generate() settings carry the native defaults for everything not given', () => {
  const s = resolveGenerateOptions({ prompt: 'x', seed: 1 }, { vaeDownscale: 8, clipLayers: 12, defaultSize: 512 });
  for (const o of contract.generateOptions) {
    if (!('default' in o) || o.name === 'seed') continue;
    const got = (s as unknown as Record<string, unknown>)[o.name];
    if (o.name === 'scheduler') assert.equal(s.schedulerLabel, o.default);
    else assert.deepEqual(got, o.default, o.name);
  }
});

test('preview takes true/false as the cheap preview / none, and names the TAESD one', () => {
  const limits = { vaeDownscale: 8, clipLayers: 12, defaultSize: 512 };
  const preview = (v: unknown) => resolveGenerateOptions({ prompt: 'x', seed: 1, preview: v }, limits).preview;
  assert.equal(preview(true), 'cheap');
  assert.equal(preview(false), 'off');
  assert.equal(preview('TAESD'), 'taesd');
  assert.throws(() => preview('full'), /preview must be one of "cheap", "taesd", "off", got "full"/);
  assert.throws(() => resolveGenerateOptions({ prompt: 'x', seed: 1, rng: true }, limits), /rng must be one of/, 'booleans only where the table says what they mean');
  assert.equal(resolveGenerateOptions({ prompt: 'x', seed: 1, decoder: 'taesd' }, limits).decoder, 'taesd');
});

async function rawModel(): Promise<NativeModel> {
  return native.loadModel(tinyCheckpoint(), { threads: 1, compute: 'f32', prediction: '', vae: '', loraCacheMB: 64, vaeMemoryMB: 3072, taesd: '', device: 'cpu' });
}

function params(): Record<string, unknown> {
  const prompt = () => ({ ids: new Int32Array(77).fill(49407).fill(49406, 0, 1), weights: new Float32Array(77).fill(1), eot: new Int32Array([1]),
    embedPositions: new Int32Array(0), embedMain: new Float32Array(0), embedSecond: new Float32Array(0) });
  return {
    cond: prompt(), uncond: prompt(), width: 32, height: 32, steps: 1, batch: 1, clipSkip: 1, cfgScale: 7, cfgRescale: 0, seed: 1,
    sampler: 'euler', scheduler: 'normal', rng: 'cpu', eta: 1, strength: 0.75, exactSteps: false, decode: true, vaeTiling: 'auto', tiling: false, preview: 'off', decoder: 'vae',
    originalWidth: 0, originalHeight: 0, cropTop: 0, cropLeft: 0, targetWidth: 0, targetHeight: 0, adapters: [],
  };
}

test('the addon reads its parameters strictly: unknown, missing and mistyped keys are errors', async () => {
  const model = await rawModel();
  try {
    const cancel = new Int32Array(1);
    const ok = await model.generate(params(), undefined, cancel);
    assert.equal(ok.images.length, 1, 'the complete parameter set generates');
    assert.throws(() => model.generate({ ...params(), widht: 32 }, undefined, cancel), /generate\(\): unknown key "widht"/);
    const { steps: _steps, ...missing } = params();
    assert.throws(() => model.generate(missing, undefined, cancel), /generate\(\): missing key "steps"/);
    assert.throws(() => model.generate({ ...params(), cfgScale: '7' }, undefined, cancel), /generate\(\): key "cfgScale" must be a number/);
    assert.throws(() => model.generate({ ...params(), steps: 2.5 }, undefined, cancel), /generate\(\): steps must be an integer/);
    assert.throws(() => model.generate({ ...params(), sampler: 'Euler a' }, undefined, cancel),
      /generate\(\): key "sampler": unknown sampler "Euler a"; known: euler, euler_ancestral/, 'the addon takes canonical names only');
    assert.throws(() => model.generate({ ...params(), scheduler: 'automatic' }, undefined, cancel), /generate\(\): key "scheduler": unknown scheduler "automatic"/);
    assert.throws(() => model.generate({ ...params(), preview: true }, undefined, cancel), /generate\(\): key "preview" must be a string/, 'booleans are lib/options.ts\'s to map');
    assert.throws(() => model.generate({ ...params(), decoder: 'tiny' }, undefined, cancel), /generate\(\): key "decoder": must be "vae" or "taesd", got "tiny"/);
    await assert.rejects(model.generate({ ...params(), decoder: 'taesd' }, undefined, cancel), /TAESD was asked for but no decoder is set/);
    const cond = { ...(params().cond as object), extra: 1 };
    assert.throws(() => model.generate({ ...params(), cond }, undefined, cancel), /prompt tokens: unknown key "extra"/);
  } finally {
    model.dispose();
  }
  assert.throws(() => native.loadModel(tinyCheckpoint(), { threads: 1, compute: 'f32', prediction: '', vae: '', loraCacheMB: 64, vaeMemoryMB: 3072, taesd: '', device: 'cpu', dtype: 'bf16' } as never), /loadModel\(\): unknown key "dtype"/);
  assert.throws(() => native.loadModel(tinyCheckpoint(), { threads: '1', compute: 'f32', prediction: '', vae: '', loraCacheMB: 64, vaeMemoryMB: 3072, taesd: '', device: 'cpu' } as never), /loadModel\(\): key "threads" must be a number/);
  assert.throws(() => native.loadModel(tinyCheckpoint(), { threads: 1, compute: 'f16', prediction: '', vae: '', loraCacheMB: 64, vaeMemoryMB: 3072, taesd: '', device: 'cpu' } as never), /compute must be "f32" or "bf16"/);
  assert.throws(() => native.loadModel(tinyCheckpoint(), { threads: 1, compute: 'f32', prediction: '', vae: '', loraCacheMB: 64, vaeMemoryMB: 3072, taesd: '' } as never), /loadModel\(\): missing key "device"/);
  // an unusable device is refused before the load starts, with its own code
  assert.throws(() => native.loadModel(tinyCheckpoint(), { threads: 1, compute: 'f32', prediction: '', vae: '', loraCacheMB: 64, vaeMemoryMB: 3072, taesd: '', device: 'cuda' }),
    (e: Error & { code?: string }) => e.code === 'ERR_SD_DEVICE' && /no CUDA backend/.test(e.message));
});

test('SDXL size conditioning options are validated from the table', async () => {
  const sd = await StableDiffusion.load(tinyCheckpoint());
  try {
    await assert.rejects(sd.generate({ prompt: 'x', cropTop: -1 }), /cropTop must be an integer between 0 and 16384, got -1/);
    await assert.rejects(sd.generate({ prompt: 'x', originalWidth: 1.5 }), /originalWidth must be an integer between 0 and 16384, got 1.5/);
  } finally {
    sd.dispose();
  }
});
