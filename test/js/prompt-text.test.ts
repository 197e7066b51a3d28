// Prompt text → UNet context, against the reference conditioners run on the same tiny weights from
// the same text (test/fixtures/prompt_text_*.json say how: CompVis FrozenCLIPEmbedder for SD1,
// stablediffusion FrozenOpenCLIPEmbedder for SD2, generative-models' GeneralConditioner for SDXL).
// This covers the tokenizer and each encoder's padding: OpenCLIP (SD2, SDXL's bigG) sees zeros after
// the end token, CLIP-L the end token repeated.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';

import { StableDiffusion } from '../../lib/index.js';
import { readSafetensors } from '../helpers/safetensors.js';
import { fixtures, tinyFamilyCheckpoint } from '../helpers/tiny-checkpoint.js';

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

for (const family of ['sd1', 'sd2', 'sdxl'] as const) {
  test(`${family}: prompt text → context equals the reference conditioner's`, async (t) => {
    const path = tinyFamilyCheckpoint(family);
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
