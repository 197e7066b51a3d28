// The `vae` load option: a VAE from its own file replaces the checkpoint's. A perturbed copy of the
// tiny golden VAE must change the images and give exactly what a checkpoint assembled with that VAE
// gives, whether its keys are bare (vae-ft-mse style) or under first_stage_model.; wrong files fail at
// load naming what is wrong.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { StableDiffusion } from '../../lib/index.js';
import { readSafetensors, writeSafetensors, type StTensor } from '../helpers/safetensors.js';
import { assemble, fixtures, tempDir, tinyCheckpoint, tinyFamilyCheckpoint } from '../helpers/tiny-checkpoint.js';

const OWN = 'first_stage_model.';
const gen = { prompt: 'a photo of a cat', width: 32, height: 32, steps: 2, seed: 7, sampler: 'euler' } as const;

// The golden VAE with every decoder tensor scaled by 1.05 (enough to move every pixel).
function perturbed(key: string, t: StTensor): StTensor {
  if (!key.includes('decoder.') || t.dtype !== 'F32') return t;
  const a = new Float32Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength)).map((v) => v * 1.05);
  return { ...t, data: Buffer.from(a.buffer) };
}

/** The tiny VAE's tensors, keys re-rooted under `prefix`, each passed through `edit` (null drops it). */
function vaeFile(name: string, prefix: string, edit: (key: string, t: StTensor) => StTensor | null = perturbed): string {
  const out: Array<[string, StTensor]> = [];
  for (const [key, t] of readSafetensors(join(fixtures, 'vae_tiny.safetensors')).tensors) {
    if (!key.startsWith(OWN)) continue;
    const e = edit(key.slice(OWN.length), t);
    if (e) out.push([prefix + key.slice(OWN.length), e]);
  }
  const path = join(tempDir(), name);
  writeSafetensors(path, out);
  return path;
}

async function image(path: string, options: { vae?: string } = {}): Promise<Buffer> {
  const sd = await StableDiffusion.load(path, options);
  try {
    const [img] = await sd.generate(gen);
    return Buffer.from(img.data);
  } finally {
    sd.dispose();
  }
}

test('an external VAE (bare or first_stage_model. keys) is used: same pixels as a checkpoint assembled with it', async () => {
  const base = tinyCheckpoint();
  const assembled = assemble('sd1-with-perturbed-vae.safetensors', [
    ['clip_text_tiny.safetensors', 'cond_stage_model.', 'cond_stage_model.'],
    ['unet_sd1_tiny.safetensors', 'model.diffusion_model.', 'model.diffusion_model.'],
    ['vae_tiny.safetensors', OWN, OWN],
  ], { 'sd_native.unet_heads': '2', 'sd_native.clip_heads': '2' }, (key, t) => key.startsWith(OWN) ? perturbed(key.slice(OWN.length), t) : t);
  const own = await image(base);
  const want = await image(assembled);
  assert.notDeepEqual(want, own, 'the perturbed VAE must change the image');
  assert.deepEqual(await image(base, { vae: vaeFile('vae-bare.safetensors', '') }), want);
  assert.deepEqual(await image(base, { vae: vaeFile('vae-prefixed.safetensors', OWN) }), want);
  assert.deepEqual(await image(base, { vae: '' }), own);  // '' is the checkpoint's own
});

test('the infotext names an external VAE as A1111 does (VAE hash = sha256[:10], VAE = file name, after Model)', async () => {
  const vae = vaeFile('vae-info.safetensors', '');
  const hash = createHash('sha256').update(readFileSync(vae)).digest('hex').slice(0, 10);
  for (const [options, want] of [[{ vae }, `Model: sd-tiny, VAE hash: ${hash}, VAE: vae-info.safetensors, RNG`], [{}, 'Model: sd-tiny, RNG']] as const) {
    const sd = await StableDiffusion.load(tinyCheckpoint(), options);
    try {
      const [img] = await sd.generate(gen);
      assert.ok(img.parameters.includes(want), img.parameters);
    } finally {
      sd.dispose();
    }
  }
});

test('a checkpoint without a VAE loads with an external one, and SDXL keeps its 0.13025 scale', async () => {
  const noVae = assemble('sd1-no-vae.safetensors', [
    ['clip_text_tiny.safetensors', 'cond_stage_model.', 'cond_stage_model.'],
    ['unet_sd1_tiny.safetensors', 'model.diffusion_model.', 'model.diffusion_model.'],
  ], { 'sd_native.unet_heads': '2', 'sd_native.clip_heads': '2' });
  await assert.rejects(StableDiffusion.load(noVae), /no VAE \(first_stage_model\.\*; give one with the vae option\)/);
  const vae = vaeFile('vae-plain.safetensors', '', (_k, t) => t);
  assert.deepEqual(await image(noVae, { vae }), await image(tinyCheckpoint()));
  const xl = await StableDiffusion.load(tinyFamilyCheckpoint('sdxl'), { vae });
  try {
    assert.equal(xl.info.vaeScaleFactor, Math.fround(0.13025));  // the family's scale, not the VAE file's
  } finally {
    xl.dispose();
  }
});

test('wrong VAE files fail at load, naming the file and the tensor', async () => {
  const ckpt = tinyCheckpoint();
  const unet = join(fixtures, 'unet_sd1_tiny.safetensors');
  await assert.rejects(StableDiffusion.load(ckpt, { vae: unet }), (e: Error) =>
    e.message.includes(`vae "${unet}" is not a VAE: neither decoder.conv_in.weight nor first_stage_model.decoder.conv_in.weight`));
  const missing = vaeFile('vae-missing.safetensors', '', (k, t) => (k === 'decoder.mid.attn_1.q.bias' ? null : t));
  await assert.rejects(StableDiffusion.load(ckpt, { vae: missing }), (e: Error) =>
    e.message.includes(`vae "${missing}" is missing tensor "decoder.mid.attn_1.q.bias" that the checkpoint's VAE has`));
  const wide = vaeFile('vae-shape.safetensors', '', (k, t) => (k === 'decoder.conv_out.bias' ? { dtype: 'F32', shape: [4], data: Buffer.alloc(16) } : t));
  await assert.rejects(StableDiffusion.load(ckpt, { vae: wide }), (e: Error) =>
    e.message.includes(`tensor "decoder.conv_out.bias" has shape [4], the checkpoint's VAE has [3]`));
  const diffusers = join(tempDir(), 'diffusers-vae.safetensors');
  const t: StTensor = { dtype: 'F32', shape: [1], data: Buffer.alloc(4) };
  writeSafetensors(diffusers, [['decoder.conv_in.weight', t], ['decoder.up_blocks.0.resnets.0.conv1.weight', t]]);
  await assert.rejects(StableDiffusion.load(ckpt, { vae: diffusers }), /is a diffusers-format VAE \(decoder\.up_blocks\.\*\)/);
  await assert.rejects(StableDiffusion.load(ckpt, { vae: join(tempDir(), 'absent.safetensors') }), /absent\.safetensors/);
  await assert.rejects(StableDiffusion.load(ckpt, { vae: 3 as never }), /vae must be a string/);
});
