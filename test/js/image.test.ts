import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { GeneratedImage, formatParameters, toRgb, type GenerationParameters } from '../../lib/image.js';
import { decodePng, encodePng, readPngText } from '../../lib/png.js';
import { hasPil, python } from '../helpers/pil.js';
import { tempDir } from '../helpers/tiny-checkpoint.js';

const base: GenerationParameters = {
  prompt: 'a photo of a cat', negativePrompt: '', steps: 20, sampler: 'euler_ancestral', scheduler: 'automatic',
  cfgScale: 7, seed: 42, width: 512, height: 512, model: 'v1-5-pruned-emaonly', clipSkip: 1, rng: 'cpu',
};

test('parameters text: A1111 infotext, exact', () => {
  assert.equal(formatParameters(base),
    'a photo of a cat\nSteps: 20, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7, Seed: 42, Size: 512x512, Model: v1-5-pruned-emaonly, RNG: CPU');
  assert.equal(formatParameters({ ...base, negativePrompt: 'blurry, lowres', sampler: 'dpmpp_2m', scheduler: 'karras', cfgScale: 7.5, clipSkip: 2, rng: 'cuda', width: 768, height: 512 }),
    'a photo of a cat\nNegative prompt: blurry, lowres\nSteps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7.5, Seed: 42, Size: 768x512, Model: v1-5-pruned-emaonly, Clip skip: 2, RNG: NV');
  // img2img: Denoising strength sits after Model and before Clip skip, as in A1111's dict.
  assert.equal(formatParameters({ ...base, strength: 0.6, clipSkip: 2, sampler: 'euler', scheduler: 'normal' }),
    'a photo of a cat\nSteps: 20, Sampler: Euler, Schedule type: Normal, CFG scale: 7, Seed: 42, Size: 512x512, Model: v1-5-pruned-emaonly, Denoising strength: 0.6, Clip skip: 2, RNG: CPU');
  // Values holding ',', ':' or a newline are quoted as JSON (infotext_utils.quote).
  assert.equal(formatParameters({ ...base, model: 'my,model: v2' }).split('\n')[1],
    'Steps: 20, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7, Seed: 42, Size: 512x512, Model: "my,model: v2", RNG: CPU');
  // Empty prompt: the text starts with the fields (A1111 strips).
  assert.equal(formatParameters({ ...base, prompt: '' }).split('\n').length, 1);
});

test('GeneratedImage: RGBA bytes sharp can take, toPNG() with the parameters chunk', () => {
  const data = Buffer.alloc(16 * 8 * 4);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37) & 255;
  const img = new GeneratedImage(data, 16, 8, 42, formatParameters(base));
  assert.equal(img.channels, 4);
  assert.equal(img.data.length, img.width * img.height * img.channels); // sharp(img.data, { raw: { width, height, channels: 4 } })
  const png = img.toPNG();
  const back = decodePng(png);
  assert.ok(back.data.equals(data));
  assert.equal(readPngText(png).parameters, img.parameters);
});

test('toRgb: PNG bytes, RGBA (alpha onto white), RGB, gray; clear errors', () => {
  const rgba = { data: new Uint8Array([10, 20, 30, 255, 100, 100, 100, 0, 200, 0, 0, 128]), width: 3, height: 1, channels: 4 };
  assert.deepEqual([...toRgb(rgba).data], [10, 20, 30, 255, 255, 255, 227, 127, 127]);
  const rgb = { data: new Uint8Array([1, 2, 3, 4, 5, 6]), width: 2, height: 1 };
  assert.equal(toRgb(rgb).data, rgb.data); // no copy when already RGB
  assert.deepEqual([...toRgb({ data: new Uint8Array([7, 9]), width: 2, height: 1, channels: 1 }).data], [7, 7, 7, 9, 9, 9]);
  const png = encodePng({ data: rgba.data, width: 3, height: 1, channels: 4 });
  assert.deepEqual([...toRgb(png).data], [10, 20, 30, 255, 255, 255, 227, 127, 127]);
  assert.throws(() => toRgb(Buffer.from('GIF89a....')), /initImage must be PNG, JPEG or WebP bytes or raw pixels .*these bytes are none of those/);
  assert.throws(() => toRgb({ data: new Uint8Array(5), width: 2, height: 1 }), /initImage must have 1, 2, 3 or 4 channels, got 5 bytes for 2×1/);
  assert.throws(() => toRgb({ data: new Uint8Array(5), width: 2, height: 1, channels: 3 }), /initImage data is 5 bytes but 2×1×3 needs 6/);
});

test('A1111 reads our parameters back the way PNG Info does (Pillow image.info)', { skip: !hasPil() && 'python3 with PIL not installed' }, () => {
  const file = join(tempDir(), 'infotext.png');
  const text = formatParameters({ ...base, negativePrompt: 'ugly', prompt: 'a (red:1.2) cat, 猫' });
  writeFileSync(file, new GeneratedImage(Buffer.alloc(4 * 4 * 4, 255), 4, 4, 42, text).toPNG());
  const got = python(`
import sys
from PIL import Image
im = Image.open(sys.argv[1])
sys.stdout.buffer.write(im.info["parameters"].encode("utf8"))
`, [file]);
  assert.equal(got, text);
});
