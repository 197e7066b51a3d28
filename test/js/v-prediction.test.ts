// prediction: 'auto'. SD2 UNets get A1111's test run (is_using_v_parameterization_for_sd2): its
// decision, computed by A1111's own function on the tiny golden SD2 UNet with the last conv's bias
// shifted to put the mean 0.05 either side of the −1 threshold, must be ours. Markers in the file
// (a v_pred tensor, modelspec metadata) win over the test run; an explicit option wins over both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { StableDiffusion } from '../../lib/index.js';
import type { StTensor } from '../helpers/safetensors.js';
import { assemble, fixtures } from '../helpers/tiny-checkpoint.js';

interface ProbeCase { name: string; out_2_bias_shift: number; a1111_is_v: boolean }
const golden = JSON.parse(readFileSync(join(fixtures, 'v_prediction_a1111.json'), 'utf8')) as { cases: ProbeCase[] };

const SD2_META = { 'sd_native.unet_head_dim': '16', 'sd_native.clip_heads': '2' };
const BIAS = 'model.diffusion_model.out.2.bias';

function shifted(shift: number) {
  return (key: string, t: StTensor): StTensor => {
    if (key !== BIAS) return t;
    const a = new Float32Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength)).map((v) => v + shift);
    return { ...t, data: Buffer.from(a.buffer) };
  };
}

function sd2(name: string, shift: number, metadata: Record<string, string> = {}, extra: Array<[string, string, string]> = []): string {
  return assemble(name, [
    ['openclip_text_tiny_sd2.safetensors', 'cond_stage_model.', 'cond_stage_model.'],
    ['unet_sd2_tiny.safetensors', 'model.diffusion_model.', 'model.diffusion_model.'],
    ['vae_tiny.safetensors', 'first_stage_model.', 'first_stage_model.'],
    ...extra,
  ], { ...SD2_META, ...metadata }, shifted(shift));
}

async function prediction(path: string, options: { prediction?: 'auto' | 'eps' | 'v' } = {}): Promise<string> {
  const sd = await StableDiffusion.load(path, options);
  try {
    return sd.info.prediction;
  } finally {
    sd.dispose();
  }
}

test('SD2 without markers: the UNet test run decides as A1111 does on the golden cases', async () => {
  assert.equal(golden.cases.length, 3);
  assert.deepEqual(golden.cases.map((c) => c.a1111_is_v), [false, false, true]);  // both sides of the threshold are covered
  for (const [i, c] of golden.cases.entries())
    assert.equal(await prediction(sd2(`sd2-probe-${i}.safetensors`, c.out_2_bias_shift)), c.a1111_is_v ? 'v' : 'eps', c.name);
});

test('markers in the file win over the test run; the option wins over both', async () => {
  const vShift = golden.cases[2].out_2_bias_shift;  // a UNet the test run calls v
  assert.equal(await prediction(sd2('sd2-mspec-eps.safetensors', vShift, { 'modelspec.prediction_type': 'epsilon' })), 'eps');
  assert.equal(await prediction(sd2('sd2-mspec-v.safetensors', 0, { 'modelspec.prediction_type': 'v' })), 'v');
  assert.equal(await prediction(sd2('sd2-mspec-vp.safetensors', 0, { 'modelspec.prediction_type': 'v_prediction' })), 'v');
  assert.equal(await prediction(sd2('sd2-arch.safetensors', 0, { 'modelspec.architecture': 'stable-diffusion-v2-768-v' })), 'v');
  assert.equal(await prediction(sd2('sd2-own.safetensors', 0, { 'sd_native.prediction': 'v' })), 'v');
  // an unknown value says nothing: the test run decides
  assert.equal(await prediction(sd2('sd2-unknown.safetensors', vShift, { 'modelspec.prediction_type': 'flow' })), 'v');
  assert.equal(await prediction(sd2('sd2-vshift.safetensors', vShift), { prediction: 'eps' }), 'eps');
  assert.equal(await prediction(sd2('sd2-vshift2.safetensors', vShift), { prediction: 'auto' }), 'v');
});

test('a v_pred tensor marks v-prediction in any family; SD1 without one is eps (no test run)', async () => {
  const sd1 = (name: string, extra: Array<[string, string, string]>) => assemble(name, [
    ['clip_text_tiny.safetensors', 'cond_stage_model.', 'cond_stage_model.'],
    ['unet_sd1_tiny.safetensors', 'model.diffusion_model.', 'model.diffusion_model.'],
    ['vae_tiny.safetensors', 'first_stage_model.', 'first_stage_model.'],
    ...extra,
  ], { 'sd_native.unet_heads': '2', 'sd_native.clip_heads': '2' });
  // the v_pred marker is an empty-ish tensor in NoobAI-style files; any tensor of that name counts
  const marker: [string, string, string] = ['vae_tiny.safetensors', 'first_stage_model.decoder.conv_out.bias', 'v_pred'];
  assert.equal(await prediction(sd1('sd1-vpred.safetensors', [marker])), 'v');
  assert.equal(await prediction(sd1('sd1-plain.safetensors', [])), 'eps');
  // an SD1 UNet shifted like the v case is still eps: only SD2 is tested, as in A1111 and sd.cpp
  assert.equal(await prediction(assemble('sd1-shift.safetensors', [
    ['clip_text_tiny.safetensors', 'cond_stage_model.', 'cond_stage_model.'],
    ['unet_sd1_tiny.safetensors', 'model.diffusion_model.', 'model.diffusion_model.'],
    ['vae_tiny.safetensors', 'first_stage_model.', 'first_stage_model.'],
  ], { 'sd_native.unet_heads': '2', 'sd_native.clip_heads': '2' }, shifted(-50))), 'eps');
});
