// Model families through the one loader: SD2 (OpenCLIP text, linear-projection UNet) assembled
// from its goldens generates and reports its family; mismatched files fail with clear errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';

import { StableDiffusion } from '../../lib/index.js';
import { readSafetensors, writeSafetensors } from '../helpers/safetensors.js';
import { assemble, fixtures, tempDir } from '../helpers/tiny-checkpoint.js';

test('an SD2 checkpoint (OpenCLIP + linear proj UNet) loads as sd2 and generates', async () => {
  const path = assemble('sd2-tiny.safetensors', [
    ['openclip_text_tiny_sd2.safetensors', 'cond_stage_model.', 'cond_stage_model.'],
    ['unet_sd2_tiny.safetensors', 'model.diffusion_model.', 'model.diffusion_model.'],
    ['vae_tiny.safetensors', 'first_stage_model.', 'first_stage_model.'],
  ], { 'sd_native.unet_head_dim': '16', 'sd_native.clip_heads': '2' });
  const sd = await StableDiffusion.load(path);
  try {
    assert.equal(sd.info.family, 'sd2');
    assert.equal(sd.info.prediction, 'eps');
    // SD2 context = ln_final(penultimate layer) of OpenCLIP: compare with the golden directly
    const golden = readSafetensors(join(fixtures, 'openclip_text_tiny_sd2.safetensors')).tensors.get('golden.output.sd2_context')!;
    const ctx = await sd.encodeText('a photo of a cat');
    const want = new Float32Array(golden.data.buffer, golden.data.byteOffset, 77 * 64);
    let num = 0, den = 0;
    for (let i = 0; i < want.length; i++) { num += (ctx.data[i] - want[i]) ** 2; den += want[i] ** 2; }
    assert.ok(Math.sqrt(num / den) < 1e-4, `SD2 context rel-L2 ${Math.sqrt(num / den)}`);
    const [img] = await sd.generate({ prompt: 'a photo of a cat', width: 32, height: 32, steps: 2, seed: 1, sampler: 'euler' });
    assert.equal(img.width, 32);
    assert.equal(img.data.length, 32 * 32 * 4);
    assert.equal(img.stats?.family, 'sd2');  // the family travels with every result
  } finally {
    sd.dispose();
  }
  const v = await StableDiffusion.load(path, { prediction: 'v' });
  assert.equal(v.info.prediction, 'v');  // a wrong override is allowed
  v.dispose();
});

test('an SDXL UNet without its second text encoder is a clear error', async () => {
  const path = assemble('sdxl-broken.safetensors', [
    ['clip_text_tiny.safetensors', 'cond_stage_model.transformer.', 'conditioner.embedders.0.transformer.'],
    ['unet_sdxl_tiny.safetensors', 'model.diffusion_model.', 'model.diffusion_model.'],
    ['vae_tiny.safetensors', 'first_stage_model.', 'first_stage_model.'],
  ], {});
  await assert.rejects(StableDiffusion.load(path), /looks like SDXL but lacks its second text encoder \(conditioner\.embedders\.1, OpenCLIP bigG\)/);
});

test('a checkpoint whose text width does not fit its UNet is a clear error', async () => {
  const path = assemble('mixed.safetensors', [
    ['openclip_text_tiny_sd2.safetensors', 'cond_stage_model.', 'cond_stage_model.'],
    ['unet_sdxl_tiny.safetensors', 'model.diffusion_model.', 'model.diffusion_model.'],
    ['vae_tiny.safetensors', 'first_stage_model.', 'first_stage_model.'],
  ], {});
  await assert.rejects(StableDiffusion.load(path), /looks like SDXL but lacks|mixes parts of different models/);
});

test('addNoise is the DDPM forward process with the SD schedule (vs the CompVis table)', async () => {
  const { tinyCheckpoint } = await import('../helpers/tiny-checkpoint.js');
  const sd = await StableDiffusion.load(tinyCheckpoint());
  try {
    const table = readSafetensors(join(fixtures, 'samplers.safetensors')).tensors;
    const sa = table.get('golden.schedule.sqrt_alphas_cumprod')!, sb = table.get('golden.schedule.sqrt_one_minus_alphas_cumprod')!;
    const sqrtA = new Float32Array(sa.data.buffer, sa.data.byteOffset, 1000), sqrtB = new Float32Array(sb.data.buffer, sb.data.byteOffset, 1000);
    const x0 = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i));
    const eps = Float32Array.from({ length: 64 }, (_, i) => Math.cos(3 * i));
    for (const t of [0, 1, 250, 500, 999]) {
      const xt = sd.addNoise(x0, t, eps);
      for (let i = 0; i < 64; i++) assert.ok(Math.abs(xt[i] - (sqrtA[t] * x0[i] + sqrtB[t] * eps[i])) < 1e-6, `t=${t} i=${i}`);
    }
    assert.throws(() => sd.addNoise(x0, 1000, eps), /t must be an integer between 0 and 999, got 1000/);
  } finally {
    sd.dispose();
  }
});

test('a checkpoint missing one UNet tensor names the tensor', async () => {
  const { tinyCheckpoint } = await import('../helpers/tiny-checkpoint.js');
  const all = readSafetensors(tinyCheckpoint()).tensors;
  const missing = 'model.diffusion_model.output_blocks.2.0.out_layers.3.weight';
  const path = join(tempDir(), 'missing-tensor.safetensors');
  writeSafetensors(path, [...all].filter(([k]) => k !== missing), { 'sd_native.unet_heads': '2', 'sd_native.clip_heads': '2' });
  // Every graph is recorded at load time, so the defect shows there, not mid-generation.
  await assert.rejects(StableDiffusion.load(path), (e: Error) =>
    e.message.includes(`is missing tensor "${missing}"`) && e.message.includes('not a complete Stable Diffusion checkpoint'));
  // the process and other models stay healthy
  const ok = await StableDiffusion.load(tinyCheckpoint());
  const [img] = await ok.generate({ prompt: 'a', width: 32, height: 32, steps: 1, seed: 3 });
  assert.equal(img.width, 32);
  ok.dispose();
});

test('generateBatch: per-image prompts and seeds in one UNet batch equal separate generate() calls', async () => {
  const { tinyCheckpoint } = await import('../helpers/tiny-checkpoint.js');
  const sd = await StableDiffusion.load(tinyCheckpoint());
  try {
    const shared = { width: 32, height: 32, steps: 3, sampler: 'euler', scheduler: 'normal', cfgScale: 7.5 } as const;
    const batch = await sd.generateBatch([
      { prompt: 'a photo of a cat', seed: 2024 },
      { prompt: 'a (red:1.3) dog on grass', negativePrompt: 'blurry', seed: 7 },
    ], shared);
    const [cat] = await sd.generate({ ...shared, prompt: 'a photo of a cat', seed: 2024 });
    const [dog] = await sd.generate({ ...shared, prompt: 'a (red:1.3) dog on grass', negativePrompt: 'blurry', seed: 7 });
    assert.equal(batch.length, 2);
    for (const [got, want] of [[batch[0]!, cat!], [batch[1]!, dog!]] as const) {
      let num = 0, den = 0;
      for (let i = 0; i < want.latent!.length; i++) { num += (got.latent![i] - want.latent![i]) ** 2; den += want.latent![i] ** 2; }
      assert.ok(Math.sqrt(num / den) < 1e-5, `batched vs alone rel-L2 ${Math.sqrt(num / den)}`);
      assert.equal(got.seed, want.seed);
    }
    assert.match(batch[1]!.parameters, /^a \(red:1\.3\) dog on grass\nNegative prompt: blurry\n/);
    // Prompts of different lengths (here 1 and 2 chunks) are padded with empty chunks to share
    // the batch, as A1111 does: that changes the shorter one's result, so only the shape is checked.
    const mixed = await sd.generateBatch([{ prompt: 'a cat', seed: 1 }, { prompt: 'a dog BREAK on grass', seed: 2 }], shared);
    assert.deepEqual(mixed.map((m) => m.seed), [1, 2]);
  } finally {
    sd.dispose();
  }
});
