// Prompt text → UNet context, against the reference conditioners run on the same tiny weights from
// the same text (test/fixtures/prompt_text_*.json say how: CompVis FrozenCLIPEmbedder for SD1,
// stablediffusion FrozenOpenCLIPEmbedder for SD2, generative-models' GeneralConditioner for SDXL).
// This covers the tokenizer and each encoder's padding: OpenCLIP (SD2, SDXL's bigG) sees zeros after
// the end token, CLIP-L the end token repeated.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';

import { StableDiffusion } from '../../lib/index.js';
import { readSafetensors, type StTensor } from '../helpers/safetensors.js';
import { assemble, fixtures } from '../helpers/tiny-checkpoint.js';

const PROMPTS = ['a photo of a cat', 'a red circle on a white background', ''];

function floats(file: string, key: string): Float32Array {
  const t = readSafetensors(join(fixtures, file)).tensors.get(key);
  assert.ok(t, `${file} lacks ${key}`);
  return new Float32Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength));
}

function relL2(got: Float32Array, want: Float32Array, columns?: { width: number; from: number; to: number }): number {
  let num = 0, den = 0;
  for (let i = 0; i < want.length; i++) {
    if (columns && (i % columns.width < columns.from || i % columns.width >= columns.to)) continue;
    num += (got[i]! - want[i]!) ** 2;
    den += want[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

const vae: [string, string, string] = ['vae_tiny.safetensors', 'first_stage_model.', 'first_stage_model.'];
const families = {
  sd1: {
    parts: [['clip_text_tiny.safetensors', 'cond_stage_model.', 'cond_stage_model.'], ['unet_sd1_tiny.safetensors', 'model.diffusion_model.', 'model.diffusion_model.'], vae],
    metadata: { 'sd_native.unet_heads': '2', 'sd_native.clip_heads': '2' },
  },
  sd2: {
    parts: [['openclip_text_tiny_sd2.safetensors', 'cond_stage_model.', 'cond_stage_model.'], ['unet_sd2_tiny.safetensors', 'model.diffusion_model.', 'model.diffusion_model.'], vae],
    metadata: { 'sd_native.unet_head_dim': '16', 'sd_native.clip_heads': '2' },
  },
  sdxl: {
    parts: [
      ['clip_text_tiny.safetensors', 'cond_stage_model.transformer.', 'conditioner.embedders.0.transformer.'],
      ['openclip_text_tiny_sdxl.safetensors', 'conditioner.embedders.1.', 'conditioner.embedders.1.'],
      ['unet_sdxl_tiny.safetensors', 'model.diffusion_model.', 'model.diffusion_model.'], vae,
    ],
    metadata: { 'sd_native.unet_head_dim': '16', 'sd_native.clip_heads': '2', 'sd_native.clip_g_heads': '2' },
  },
} as const;

// The tiny SDXL UNet reads 64-wide context; its text encoders give 64 + 64. Its cross-attention
// keys and values get zero columns for the second half, so the checkpoint loads (the UNet's
// output is not under test here).
function widenCrossAttention(key: string, t: StTensor): StTensor {
  if (!/attn2\.to_[kv]\.weight$/.test(key) || t.dtype !== 'F32' || t.shape[1] !== 64) return t;
  const [rows, cols] = t.shape as [number, number];
  const from = new Float32Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength));
  const to = new Float32Array(rows * cols * 2);
  for (let r = 0; r < rows; r++) to.set(from.subarray(r * cols, (r + 1) * cols), r * cols * 2);
  return { dtype: 'F32', shape: [rows, cols * 2], data: Buffer.from(to.buffer) };
}

for (const [family, { parts, metadata }] of Object.entries(families)) {
  test(`${family}: prompt text → context equals the reference conditioner's`, async (t) => {
    const path = assemble(`${family}-prompt-text.safetensors`, parts as unknown as Array<[string, string, string]>, metadata,
      family === 'sdxl' ? widenCrossAttention : undefined);
    const file = `prompt_text_${family}.safetensors`;
    const sd = await StableDiffusion.load(path);
    try {
      assert.equal(sd.info.family, family);
      for (const [i, prompt] of PROMPTS.entries()) {
        const ctx = await sd.encodeText(prompt);
        const want = floats(file, `prompt${i}.context`);
        assert.equal(ctx.data.length, want.length, `${JSON.stringify(prompt)}: context size`);
        const err = relL2(ctx.data, want);
        t.diagnostic(`${JSON.stringify(prompt)}: rel-L2 ${err.toExponential(2)}`);
        assert.ok(err < 1e-5, `${family} ${JSON.stringify(prompt)}: context rel-L2 ${err}`);
        if (family === 'sdxl') {
          // bigG's half with end-token padding (the reference's wrong variant) is far from ours.
          const wrong = floats(file, `prompt${i}.bug.context_bigg_pad49407`);
          const half = new Float32Array(77 * 64);
          for (let r = 0; r < 77; r++) half.set(ctx.data.subarray(r * 128 + 64, r * 128 + 128), r * 64);
          assert.ok(relL2(half, wrong) > 0.5, 'the end-token-padded bigG context is not distinguishable');
        }
      }
    } finally {
      sd.dispose();
    }
  });
}
