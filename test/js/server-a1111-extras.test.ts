// The A1111 routes of lib/server/a1111-extras.ts over fastify inject: png-info against A1111's own
// parse (test/fixtures/infotext_a1111.json), the start-up lists in A1111's shapes, and the options
// memory with its bounds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

import { encodePng } from '../../lib/png.js';
import { createServer } from '../../lib/server/index.js';
import { MAX_STORED_OPTIONS } from '../../lib/server/a1111-extras.js';

const golden = JSON.parse(readFileSync(resolve(import.meta.dirname, '..', 'fixtures', 'infotext_a1111.json'), 'utf8')) as {
  cases: Array<{ text: string; parameters: Record<string, unknown> }>;
};

// Only what these routes read: no generation happens here.
const pipeline = {
  info: { family: 'sd1' as const, defaultSize: 512, vaeDownscale: 8, clipLayers: 12 },
  path: '/models/fake-model.safetensors',
  generate: async () => { throw new Error('not called'); },
  loras: () => [{ name: 'cute', path: '/loras/cute.safetensors' }],
};

const server = (token?: string) => createServer(pipeline, { token });
const png = (text?: Record<string, string>) => encodePng({ data: Buffer.alloc(12), width: 2, height: 2, channels: 3 }, { text }).toString('base64');

test('png-info answers { info, items, parameters } with parameters as A1111 parses them', async () => {
  const app = server();
  for (const c of golden.cases) {
    const r = await app.inject({ method: 'POST', url: '/sdapi/v1/png-info', payload: { image: png({ parameters: c.text, Software: 'sd-native' }) } });
    assert.equal(r.statusCode, 200, r.body);
    assert.deepStrictEqual(r.json(), { info: c.text, items: { Software: 'sd-native' }, parameters: c.parameters });
  }
  const bare = (await app.inject({ method: 'POST', url: '/sdapi/v1/png-info', payload: { image: `data:image/png;base64,${png()}` } })).json();
  assert.deepStrictEqual([bare.info, bare.items, bare.parameters.Prompt, bare.parameters['Clip skip'], bare.parameters.RNG], ['', {}, '', '1', 'GPU']);
  const jpeg = await app.inject({ method: 'POST', url: '/sdapi/v1/png-info', payload: { image: Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2]).toString('base64') } });
  assert.equal(jpeg.statusCode, 422);
  assert.match(jpeg.json().detail, /image is a JPEG; png-info reads the text chunks of PNG images only/);
  assert.equal((await app.inject({ method: 'POST', url: '/sdapi/v1/png-info', payload: {} })).statusCode, 422);
  await app.close();
});

test('the start-up lists have A1111 shapes', async () => {
  const app = server();
  const get = async (path: string) => (await app.inject({ method: 'GET', url: `/sdapi/v1/${path}` })).json();
  assert.deepStrictEqual(await get('upscalers'), ['None', 'Lanczos', 'Nearest'].map((name) => ({ name, model_name: null, model_path: null, model_url: null, scale: 4 })));
  assert.deepStrictEqual(await get('latent-upscale-modes'), [
    { name: 'Latent' }, { name: 'Latent (antialiased)' }, { name: 'Latent (bicubic)' }, { name: 'Latent (bicubic antialiased)' },
    { name: 'Latent (nearest)' }, { name: 'Latent (nearest-exact)' },
  ]);
  for (const path of ['hypernetworks', 'face-restorers', 'realesrgan-models', 'prompt-styles']) assert.deepStrictEqual(await get(path), [], path);
  assert.deepStrictEqual(await get('scripts'), { txt2img: [], img2img: [] });
  await app.close();
});

test('cmd-flags: A1111 flag names with this server\'s values, never the token', async () => {
  const app = server('s3cret');
  const r = await app.inject({ method: 'GET', url: '/sdapi/v1/cmd-flags', headers: { authorization: 'Bearer s3cret' } });
  const f = r.json();
  assert.deepStrictEqual([f.api, f.nowebui, f.ckpt, f.ckpt_dir, f.lora_dir, f.embeddings_dir, f.api_auth, f.timeout_keep_alive],
    [true, true, '/models/fake-model.safetensors', '/models', '/loras', null, null, 5]);
  assert.doesNotMatch(r.body, /s3cret/);
  await app.close();
});

test('a face restoration request is refused with the reason', async () => {
  const app = server();
  const r = await app.inject({ method: 'POST', url: '/sdapi/v1/txt2img', payload: { prompt: 'x', restore_faces: true } });
  assert.equal(r.statusCode, 422);
  assert.match(r.json().detail, /restore_faces \(face restoration\) is not supported by sd-native, got true/);
  await app.close();
});

test('options: unknown keys are kept and returned; validated ones still checked; bounded', async () => {
  const app = server();
  const post = (payload: Record<string, unknown>) => app.inject({ method: 'POST', url: '/sdapi/v1/options', payload });
  const get = async () => (await app.inject({ method: 'GET', url: '/sdapi/v1/options' })).json();
  assert.equal((await post({ send_seed: false, theme: 'dark', CLIP_stop_at_last_layers: 2, live_previews_enable: false })).statusCode, 200);
  let o = await get();
  assert.deepStrictEqual([o.send_seed, o.theme, o.CLIP_stop_at_last_layers, o.live_previews_enable], [false, 'dark', 2, false]);
  const bad = await post({ send_size: false, CLIP_stop_at_last_layers: 99 });
  assert.equal(bad.statusCode, 422);
  o = await get();
  assert.deepStrictEqual([o.send_size, o.CLIP_stop_at_last_layers], [undefined, 2]); // a refused post changes nothing
  const many = Object.fromEntries(Array.from({ length: MAX_STORED_OPTIONS }, (_, i) => [`k${i}`, i]));
  const tooMany = await post(many);
  assert.equal(tooMany.statusCode, 422);
  assert.match(tooMany.json().detail, /at most 1024 keys, the post would make 1027/); // 3 kept before + 1024
  const big = await post({ notes: 'x'.repeat(300 * 1024) });
  assert.equal(big.statusCode, 422);
  assert.match(big.json().detail, /at most 262144 bytes/);
  assert.deepStrictEqual(Object.keys(await get()).filter((k) => /^k\d+$|^notes$/.test(k)), []);
  await app.close();
});
