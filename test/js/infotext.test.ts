// Reading A1111 infotext back: A1111's own dict (checked against what its parse_generation_parameters
// returns, test/fixtures/infotext_a1111.json from generators/infotext_golden.py), the mapping onto
// generate() option names, and the round trip through our writer and a PNG chunk.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { a1111Parameters, parseParameters, readParameters } from '../../lib/infotext.js';
import { formatParameters, type GenerationParameters } from '../../lib/image.js';
import { encodePng } from '../../lib/png.js';
import { tempDir } from '../helpers/tiny-checkpoint.js';

interface Case { source: string; text: string; parameters: Record<string, unknown> }
const golden = JSON.parse(readFileSync(resolve(import.meta.dirname, '..', 'fixtures', 'infotext_a1111.json'), 'utf8')) as { cases: Case[] };
const byStart = (s: string) => golden.cases.find((c) => c.text.startsWith(s))!.text;

test('a1111Parameters returns what A1111 parse_generation_parameters returns, key for key', () => {
  assert.equal(golden.cases.length, 10);
  for (const c of golden.cases) assert.deepStrictEqual(a1111Parameters(c.text), c.parameters, c.source);
});

test('A1111 wiki SDXL image: old combined sampler name, Clip skip, RNG, Version', () => {
  const p = parseParameters(byStart('Astronaut'));
  assert.deepStrictEqual(p, {
    prompt: 'Astronaut in a jungle, cold color palette, muted colors, detailed, 8k', negativePrompt: '',
    steps: 50, sampler: 'dpmpp_2m', scheduler: 'karras', cfgScale: 5, seed: 42, width: 1024, height: 1024,
    model: 'sd_xl_base_0.9', modelHash: '1f69731261', clipSkip: 2, rng: 'cpu', version: 'v1.4.1-166-g21aec6f5', extra: {},
  });
});

test('A1111 wiki hires images: Denoising strength belongs to the hires pass; unknown keys stay in extra', () => {
  const a = parseParameters(byStart('(cords'));
  assert.equal(a.strength, undefined);
  assert.deepStrictEqual(a.hires, { scale: 2, steps: 1, upscaler: 'Latent (antialiased)', strength: 0 });
  assert.deepStrictEqual([a.sampler, a.scheduler, a.rng, a.clipSkip], ['dpmpp_2m', 'karras', 'cuda', 1]); // no RNG: A1111's GPU
  assert.match(a.negativePrompt, /^lowres, bad anatomy, .* \[green background\]$/);
  const b = parseParameters(byStart('hakurei'));
  assert.deepStrictEqual(b.hires, { scale: 2, steps: 30, upscaler: '4x-UltraSharp', strength: 0.45 });
  assert.deepStrictEqual(b.extra, { 'VAE hash': 'c6a580b13a', 'Image noise multiplier': '0.2' });
  assert.deepStrictEqual([b.sampler, b.scheduler], ['euler_ancestral', 'automatic']);
});

test('A1111 1.10 fields: quoted values, hashes, hires resize and sampler, inpaint, old First pass size', () => {
  const p = parseParameters(byStart('a cat, <lora'));
  assert.equal(p.prompt, 'a cat, <lora:cute:0.8>, by "someone"\nsecond prompt line');
  assert.equal(p.negativePrompt, 'blurry, easynegative\nlowres');
  assert.deepStrictEqual(p.loras, [{ name: 'cute', hash: '8a1b2c3d4e5f' }, { name: 'other', hash: '001122334455' }]);
  assert.deepStrictEqual(p.embeddings, [{ name: 'easynegative', hash: 'c74b4e810b03' }]);
  assert.deepStrictEqual(p.hires, { width: 1664, height: 2432, steps: 10, upscaler: 'Lanczos', strength: 0.35, sampler: 'euler_ancestral', scheduler: 'exponential', prompt: 'a cat, detailed' });
  assert.equal(p.rng, 'cuda'); // NV
  assert.deepStrictEqual(p.extra, { Emphasis: 'No norm' });
  const i = parseParameters(byStart('a red door'));
  assert.deepStrictEqual([i.strength, i.inpaint], [0.6, { maskBlur: 4, onlyMasked: true, padding: 64, invertMask: true, maskedContent: 'latent noise' }]);
  const old = parseParameters(byStart('a [dog'));
  // A1111 turns Size 1024x768 with "First pass size: 0x0" into a 640x448 first pass + 1024x768 hires target.
  assert.deepStrictEqual([old.width, old.height, old.hires], [640, 448, { width: 1024, height: 768, strength: 0.7 }]);
  assert.deepStrictEqual(parseParameters(byStart('x\n')).extra, { Template: 'a, "b"\nc', 'Tile size': '32x16' });
  assert.deepStrictEqual(parseParameters('just a prompt\nSteps: 20, Seed: 1'), { prompt: 'just a prompt\nSteps: 20, Seed: 1', negativePrompt: '', clipSkip: 1, rng: 'cuda', extra: {} });
});

const base: GenerationParameters = {
  prompt: 'a photo of a cat', negativePrompt: '', steps: 20, sampler: 'euler_ancestral', scheduler: 'automatic', cfgScale: 7,
  seed: 42, width: 512, height: 768, model: 'v1-5-pruned-emaonly', clipSkip: 1, rng: 'cpu',
};

test('round trip: formatParameters → PNG parameters chunk → readParameters gives the same parameters', () => {
  const cases: GenerationParameters[] = [
    base,
    { ...base, negativePrompt: 'blurry, lowres', sampler: 'dpmpp_2m', scheduler: 'karras', clipSkip: 2, rng: 'cuda', cfgScale: 6.5, seed: 4294967295 },
    { ...base, prompt: 'line one, "quoted": yes\nline two (x:1.2)', negativePrompt: 'a\nb', strength: 0.6, sampler: 'ddim', scheduler: 'ddim_uniform',
      loras: [{ name: 'cute', hash: '8a1b2c3d4e5f' }], embeddings: [{ name: 'badhand', hash: '1a2b3c4d5e6f' }, { name: 'easyneg', hash: 'c74b4e810b03' }] },
    { ...base, prompt: 'ünïcödé 猫', sampler: 'lcm', scheduler: 'sgm_uniform', width: 64, height: 1024 },
  ];
  for (const p of cases) {
    const png = encodePng({ data: Buffer.alloc(4 * 4 * 3, 9), width: 4, height: 4, channels: 3 }, { text: { parameters: formatParameters(p) } });
    const { extra, ...read } = readParameters(png);
    assert.deepStrictEqual(read, p, formatParameters(p));
    assert.deepStrictEqual(extra, {});
  }
  const file = join(tempDir(), 'infotext-roundtrip.png');
  writeFileSync(file, encodePng({ data: Buffer.alloc(3), width: 1, height: 1, channels: 3 }, { text: { parameters: formatParameters(base) } }));
  assert.equal(readParameters(file).seed, 42);
});

test('readParameters explains a PNG without parameters and a file that is not a PNG', () => {
  const bare = encodePng({ data: Buffer.alloc(3), width: 1, height: 1, channels: 3 });
  assert.throws(() => readParameters(bare), { code: 'ERR_SD_IMAGE', message: /has no "parameters" text chunk/ });
  assert.throws(() => readParameters(Buffer.from('GIF89a....')), { code: 'ERR_SD_IMAGE', message: /not a PNG file/ });
  assert.throws(() => readParameters(join(tempDir(), 'missing.png')), { code: 'ERR_SD_IMAGE', message: /cannot read the file/ });
});
