// TAESD through generate(): full-size step previews from a decoder file or a folder picked by
// family, the final decode option, and the errors that name what is missing. The decoder is the
// golden one (test/fixtures/taesd_golden.safetensors, checked against taesd.py in test_taesd.cpp).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { StableDiffusion, type StepEvent } from '../../lib/index.js';
import { packageRoot } from '../../lib/package-root.js';
import { decoderFolder, tempDir, tinyCheckpoint } from '../helpers/tiny-checkpoint.js';

const OPTS = { prompt: 'a lighthouse', width: 32, height: 32, steps: 2, seed: 3, sampler: 'euler' } as const;

test('preview "taesd" sends full-size RGB previews (8x the latent) and leaves the image as it was', async () => {
  const sd = await StableDiffusion.load(tinyCheckpoint(), { threads: 2, taesd: decoderFolder('sd1', 'taesd_decoder.safetensors') });
  try {
    const taesd: StepEvent[] = [], cheap: StepEvent[] = [];
    const [a] = await sd.generate({ ...OPTS, preview: 'taesd', onStep: (e) => taesd.push(e) });
    const [b] = await sd.generate({ ...OPTS, preview: true, onStep: (e) => cheap.push(e) });
    assert.equal(taesd.length, 2);
    for (const e of taesd) {
      assert.deepEqual([e.preview!.width, e.preview!.height, e.preview!.channels, e.preview!.data.length], [128, 128, 3, 128 * 128 * 3]);
    }
    assert.deepEqual([cheap[0]!.preview!.width, cheap[0]!.preview!.height], [16, 16], 'true is still the latent-size cheap preview');
    assert.notDeepEqual(taesd[0]!.preview!.data, taesd[1]!.preview!.data, 'each step decodes its own estimate');
    assert.deepEqual(a!.data, b!.data, 'the preview kind does not change the generated image');
    const none: StepEvent[] = [];
    await sd.generate({ ...OPTS, preview: false, onStep: (e) => none.push(e) });
    assert.equal(none[0]!.preview, undefined);
  } finally {
    sd.dispose();
  }
});

test('TAESD errors name the file: the family\'s name in a folder, a decoder scale other than the VAE\'s', async () => {
  const sd = await StableDiffusion.load(tinyCheckpoint(), { threads: 2, taesd: decoderFolder('xl-only', 'taesdxl_decoder.safetensors') });
  try {
    await assert.rejects(sd.generate({ ...OPTS, preview: 'taesd', onStep: () => {} }),
      /TAESD decoder ".*xl-only[/\\]taesd_decoder\.safetensors" not found/, 'an SD1 model reads taesd_decoder, not taesdxl_decoder');
    const [img] = await sd.generate({ ...OPTS, preview: 'taesd' });
    assert.equal(img!.width, 32, 'without onStep there is nothing to preview and nothing is read');
  } finally {
    sd.dispose();
  }
  const file = join(decoderFolder('file', 'my_decoder.safetensors'), 'my_decoder.safetensors');
  const direct = await StableDiffusion.load(tinyCheckpoint(), { threads: 2, taesd: file });
  try {
    // The tiny checkpoint's VAE downsamples 2x, TAESD 8x: its decode would be the wrong size.
    await assert.rejects(direct.generate({ ...OPTS, decoder: 'taesd' }), /decoder 'taesd': the TAESD decoder upsamples 8x but this model's VAE 2x/);
  } finally {
    direct.dispose();
  }
});

test('the default TAESD is the package\'s models/taesd folder', async () => {
  const sd = await StableDiffusion.load(tinyCheckpoint(), { threads: 2 });
  try {
    const shipped = join(packageRoot, 'models', 'taesd', 'taesd_decoder.safetensors');
    const run = sd.generate({ ...OPTS, preview: 'taesd', onStep: () => {} });
    if (existsSync(shipped)) await run;
    else await assert.rejects(run, new RegExp(`TAESD decoder ".*models[/\\\\]taesd[/\\\\]taesd_decoder\\.safetensors" not found`));
  } finally {
    sd.dispose();
  }
});

test("the server's previews (serve --preview taesd): step events carry generate()'s full-size TAESD previews", async () => {
  const { JobQueue } = await import('../../lib/server/queue.js');
  const sd = await StableDiffusion.load(tinyCheckpoint(), { threads: 2, taesd: decoderFolder('server', 'taesd_decoder.safetensors') });
  try {
    const direct: StepEvent[] = [];
    await sd.generate({ ...OPTS, preview: 'taesd', onStep: (e) => direct.push(e) });
    for (const [mode, size] of [['taesd', 8 * 16], ['cheap', 16]] as const) {
      const queue = new JobQueue(sd, { preview: mode, batchWindowMs: 0 });
      const { prompt, ...settings } = OPTS;
      const job = queue.submit({ kind: 'txt2img', settings: { ...settings, prompt }, n: 1, seed: OPTS.seed });
      const previews: Array<NonNullable<StepEvent['preview']>> = [];
      job.subscribe((e) => void (e.type === 'step' && e.preview && previews.push(e.preview)));
      await job.done;
      assert.equal(previews.length, 2, `${mode}: a preview per step`);
      assert.deepEqual([previews[0]!.width, previews[0]!.height], [size, size], `${mode}: preview size`);
      if (mode === 'taesd') previews.forEach((p, i) => assert.ok(Buffer.from(p.data).equals(Buffer.from(direct[i]!.preview!.data)), `step ${i + 1}: generate()'s preview`));
      await queue.close();
    }
  } finally {
    sd.dispose();
  }
});
