// A1111's sd_vae over the server (lib/server/a1111-vae.ts): GET /options reports the VAE in use,
// /sd-vae lists --vae-dir as A1111 does, and POST /options (or override_settings) accepts the VAE in
// use, refuses another with the restart that gives it (409), and an unknown name with 404. The CLI
// --vae reaches the loader: a wrong file fails naming it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { createServer } from '../../lib/server/index.js';
import { run } from '../../lib/cli/main.js';
import { tempDir, tinyCheckpoint } from '../helpers/tiny-checkpoint.js';

const dir = join(tempDir(), 'vae-dir');
mkdirSync(dir, { recursive: true });
for (const f of ['b.safetensors', 'a.safetensors', 'notes.txt']) writeFileSync(join(dir, f), '');

const fake = (vae?: string) => ({
  info: { family: 'sd1' as const, defaultSize: 512, vaeDownscale: 8, clipLayers: 12 },
  path: '/models/fake-model.safetensors',
  ...(vae ? { vae } : {}),
  generate: async () => { throw new Error('not called'); },
});

test('GET /options and /sd-vae: the VAE in use and the --vae-dir files', async () => {
  const own = createServer(fake(), { vaeDir: dir });
  assert.equal((await own.inject({ method: 'GET', url: '/sdapi/v1/options' })).json().sd_vae, 'Automatic');
  assert.deepStrictEqual((await own.inject({ method: 'GET', url: '/sdapi/v1/sd-vae' })).json(),
    [{ model_name: 'a.safetensors', filename: join(dir, 'a.safetensors') }, { model_name: 'b.safetensors', filename: join(dir, 'b.safetensors') }]);
  await own.close();
  const ext = createServer(fake(join(dir, 'a.safetensors')));
  assert.equal((await ext.inject({ method: 'GET', url: '/sdapi/v1/options' })).json().sd_vae, 'a.safetensors');
  assert.deepStrictEqual((await ext.inject({ method: 'GET', url: '/sdapi/v1/sd-vae' })).json(), []);  // no --vae-dir
  await ext.close();
});

test('POST /options sd_vae: the one in use is accepted, another is 409 with the restart, unknown is 404', async () => {
  const own = createServer(fake(), { vaeDir: dir });
  const post = (app: ReturnType<typeof createServer>, sd_vae: unknown) => app.inject({ method: 'POST', url: '/sdapi/v1/options', payload: { sd_vae } });
  for (const v of ['Automatic', 'None']) assert.equal((await post(own, v)).statusCode, 200, v);
  const other = await post(own, 'b.safetensors');
  assert.equal(other.statusCode, 409);
  assert.equal(other.json().detail, `sd_vae "b.safetensors": this server keeps the VAE it was started with (the checkpoint's own); restart it with --vae ${JSON.stringify(join(dir, 'b.safetensors'))}`);
  const unknown = await post(own, 'missing.safetensors');
  assert.equal(unknown.statusCode, 404);
  assert.equal(unknown.json().detail, `sd_vae "missing.safetensors" not found in ${JSON.stringify(dir)}`);
  assert.equal((await post(own, 3)).statusCode, 422);
  // a txt2img override is checked the same way, before any job is queued
  const over = await own.inject({ method: 'POST', url: '/sdapi/v1/txt2img', payload: { prompt: 'x', override_settings: { sd_vae: 'b' } } });
  assert.equal(over.statusCode, 409);
  await own.close();
  const ext = createServer(fake(join(dir, 'a.safetensors')), { vaeDir: dir });
  for (const v of ['a.safetensors', 'a']) assert.equal((await post(ext, v)).statusCode, 200, v);
  const back = await post(ext, 'Automatic');
  assert.equal(back.statusCode, 409);
  assert.match(back.json().detail, /keeps the VAE it was started with \("a\.safetensors"\); restart it with no --vae/);
  assert.equal((await ext.inject({ method: 'GET', url: '/sdapi/v1/options' })).json().sd_vae, 'a.safetensors');  // not stored as a plain key
  await ext.close();
});

test('CLI --vae reaches the loader', async () => {
  const err: string[] = [];
  const io = { stdout: { write: () => true }, stderr: { write: (s: string) => err.push(s) } };
  const bad = join(dir, 'a.safetensors');  // empty: not a safetensors file
  const code = await run(['generate', 'x', '-m', tinyCheckpoint(), '--vae', bad, '-o', join(tempDir(), 'vae-cli.png'), '-q'], io as never);
  assert.equal(code, 1);
  assert.equal(err.join(''), `sd-native: ${JSON.stringify(bad)}: the file is 0 bytes long, too short for a safetensors file (which starts with an 8-byte header length); ` +
    'the download is incomplete or this is not a safetensors file\n');
});
