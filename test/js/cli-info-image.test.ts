// sd-native info <image.png>, spawned as users run it (bin/sd-native.js → dist/, built by
// `npm run build:dist` before the tests): the A1111 parameters of an image, readable or JSON.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { encodePng } from '../../lib/png.js';
import { tempDir } from '../helpers/tiny-checkpoint.js';

const bin = join(resolve(import.meta.dirname, '..', '..'), 'bin', 'sd-native.js');
const cli = (...args: string[]) => {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: tempDir(), encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

// A1111 wiki's SDXL hero image, its parameters chunk verbatim (also in test/fixtures/infotext_a1111.json).
const HERO = 'Astronaut in a jungle, cold color palette, muted colors, detailed, 8k\nSteps: 50, Sampler: DPM++ 2M Karras, CFG scale: 5, ' +
  'Seed: 42, Size: 1024x1024, Model hash: 1f69731261, Model: sd_xl_base_0.9, Clip skip: 2, RNG: CPU, Version: v1.4.1-166-g21aec6f5, ENSD: 31337';

function image(name: string, text?: Record<string, string>): string {
  const path = join(tempDir(), name);
  writeFileSync(path, encodePng({ data: Buffer.alloc(12), width: 2, height: 2, channels: 3 }, { text }));
  return path;
}

test('info image.png --json prints the parameters in generate() names', () => {
  const r = cli('info', image('hero.png', { parameters: HERO }), '--json');
  assert.equal(r.code, 0, r.stderr);
  assert.deepStrictEqual(JSON.parse(r.stdout), {
    prompt: 'Astronaut in a jungle, cold color palette, muted colors, detailed, 8k', negativePrompt: '', clipSkip: 2, rng: 'cpu',
    steps: 50, sampler: 'dpmpp_2m', scheduler: 'karras', cfgScale: 5, seed: 42, width: 1024, height: 1024,
    model: 'sd_xl_base_0.9', modelHash: '1f69731261', version: 'v1.4.1-166-g21aec6f5', extra: { ENSD: '31337' },
  });
});

test('info image.png prints them readably; without a parameters chunk it fails with the reason', () => {
  const path = image('hero-text.png', { parameters: HERO });
  const r = cli('info', path);
  assert.equal(r.code, 0, r.stderr);
  assert.deepStrictEqual(r.stdout.trim().split('\n'), [
    `file             ${path}`,
    'prompt           Astronaut in a jungle, cold color palette, muted colors, detailed, 8k',
    'steps            50',
    'sampler          dpmpp_2m',
    'scheduler        karras',
    'cfg scale        5',
    'seed             42',
    'size             1024x1024',
    'model            sd_xl_base_0.9',
    'model hash       1f69731261',
    'clip skip        2',
    'rng              cpu',
    'version          v1.4.1-166-g21aec6f5',
    'other fields',
    '  ENSD           31337',
  ]);
  const bare = cli('info', image('bare.png'));
  assert.equal(bare.code, 1);
  assert.match(bare.stderr, /bare\.png has no "parameters" text chunk/);
  const help = cli('info', '--help');
  assert.match(help.stdout, /sd-native info <image\.png> \[--json\]/);
});
