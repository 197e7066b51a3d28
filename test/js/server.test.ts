// The HTTP server over a fake pipeline (same interface as StableDiffusion): routes, validation,
// auth, the bounded queue (429, timeout, disconnect), batching, SSE. Fast and deterministic:
// the fake makes solid-colour images and steps only when the test lets it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';

// Not lib/index.js: these tests do not need the native addon.
import { SdError } from '../../lib/errors.js';
import { GeneratedImage } from '../../lib/image.js';
import type { GenerateOptions } from '../../lib/pipeline.js';
import { decodePng, encodePng, readPngText } from '../../lib/png.js';
import { createServer, type SdServer, type ServerOptions } from '../../lib/server/index.js';

import { FakePipeline, deferred, setup, small, txt2img, waitFor } from '../helpers/fake-pipeline.js';


test('txt2img answers in A1111 shape: base64 PNGs with parameters, request echo, info as a JSON string', async () => {
  const { app, fake } = setup();
  const res = await txt2img(app, { ...small, seed: 42, batch_size: 2 });
  assert.equal(res.statusCode, 200, res.body);
  const body = res.json();
  assert.deepEqual(Object.keys(body).sort(), ['images', 'info', 'parameters']);
  assert.equal(body.images.length, 2);
  const png = Buffer.from(body.images[1], 'base64');
  const img = decodePng(png);
  assert.equal(img.width, 64);
  assert.equal(img.height, 64);
  assert.match(readPngText(png).parameters!, /Seed: 43/);
  assert.equal(typeof body.info, 'string');
  const info = JSON.parse(body.info);
  assert.equal(info.seed, 42);
  assert.deepEqual(info.all_seeds, [42, 43]);
  assert.equal(info.infotexts.length, 2);
  assert.equal(info.sampler_name, 'Euler');
  assert.equal(info.sd_model_name, 'fake-model');
  assert.equal(body.parameters.prompt, 'a red cube');
  assert.equal(body.parameters.cfg_scale, 7);
  assert.equal(body.parameters.sampler_index, 'Euler');
  assert.equal(res.headers['x-sd-job-id'] !== undefined, true);
  assert.equal(fake.calls.length, 1);
  assert.equal(fake.calls[0]!.batchSize, 2);
  assert.equal(fake.calls[0]!.seed, 42);
});

test('txt2img defaults are A1111 defaults: 50 steps, CFG 7, 512×512, sampler Euler, random seed', async () => {
  const { app, fake } = setup();
  const res = await txt2img(app, { prompt: 'x' });
  assert.equal(res.statusCode, 200, res.body);
  const c = fake.calls[0]!;
  assert.equal(c.steps, 50);
  assert.equal(c.cfgScale, 7);
  assert.equal(c.width, 512);
  assert.equal(c.height, 512);
  assert.equal(c.sampler, 'Euler');
  assert.equal(c.scheduler, 'automatic');
  assert.equal(c.negativePrompt, '');
  assert.ok(Number.isInteger(c.seed) && c.seed! >= 0 && c.seed! < 4294967294, `seed ${c.seed}`);
  assert.equal(JSON.parse(res.json().info).seed, c.seed);
});

test('invalid bodies: 422 on A1111 routes, 400 on OpenAI ones, one sentence naming the field and value', async () => {
  const { app, fake } = setup();
  const cases: Array<[string, Record<string, unknown>, number, string | RegExp]> = [
    ['/sdapi/v1/txt2img', { prompt: 'x', width: 500 }, 422, 'width must be a multiple of 8 between 64 and 2048, got 500'],
    ['/sdapi/v1/txt2img', { prompt: 'x', height: 4096 }, 422, 'height must be a multiple of 8 between 64 and 2048, got 4096'],
    ['/sdapi/v1/txt2img', { prompt: 'x', steps: 0 }, 422, 'steps must be an integer between 1 and 150, got 0'],
    ['/sdapi/v1/txt2img', { prompt: 'x', batch_size: 9 }, 422, 'batch_size must be an integer between 1 and 8, got 9'],
    ['/sdapi/v1/txt2img', { prompt: 'x', batch_size: 4, n_iter: 3 }, 422, 'batch_size × n_iter must be at most 8, got 4 × 3 = 12'],
    ['/sdapi/v1/txt2img', { prompt: 'x', sampler_name: 'Eulr b' }, 422, /^sampler_name: unknown sampler "Eulr b"/],
    ['/sdapi/v1/txt2img', { prompt: 'x', enable_hr: true, hr_upscaler: 'R-ESRGAN 4x+' }, 422,
      'hr_upscaler "R-ESRGAN 4x+" is not available; sd-native has Latent, Latent (antialiased), Latent (bicubic), Latent (bicubic antialiased), Latent (nearest), Latent (nearest-exact), Lanczos, Nearest, None'],
    ['/sdapi/v1/txt2img', { prompt: 'x', override_settings: { sd_model_checkpoint: 'other.safetensors' } }, 404, /model "other.safetensors" not found/],
    ['/sdapi/v1/img2img', { prompt: 'x', init_images: ['/9j/4AAQSkZJRg=='] }, 422, 'init_images[0] is a truncated or unreadable JPEG (10 bytes, no complete header)'],
    ['/sdapi/v1/img2img', { prompt: 'x', init_images: ['R0lGODlh'] }, 422, 'init_images[0] is not a PNG, JPEG or WebP image (first bytes 474946383961)'],
    ['/sdapi/v1/img2img', { prompt: 'x' }, 422, 'init_images is required: a list with one base64 PNG, JPEG or WebP'],
    ['/v1/images/generations', { n: 1 }, 400, 'prompt is required'],
    ['/v1/images/generations', { prompt: 'x', n: 9 }, 400, 'n must be an integer between 1 and 8, got 9'],
    ['/v1/images/generations', { prompt: 'x', size: '100x100' }, 400, 'size "100x100": width must be a multiple of 8 between 64 and 2048, got 100'],
    ['/v1/images/generations', { prompt: 'x', size: 'big' }, 400, 'size must be "WIDTHxHEIGHT" (e.g. "512x512") or "auto", got "big"'],
    ['/v1/images/generations', { prompt: 'x', response_format: 'url' }, 400, /^response_format "url" is not supported: .*use "b64_json"$/],
  ];
  for (const [url, payload, status, detail] of cases) {
    const res = await app.inject({ method: 'POST', url, payload });
    assert.equal(res.statusCode, status, `${url} ${JSON.stringify(payload)}: ${res.body}`);
    const body = res.json();
    if (detail instanceof RegExp) assert.match(body.detail, detail);
    else assert.equal(body.detail, detail);
    if (url.startsWith('/v1/images')) {
      assert.equal(body.error.message, body.detail); // OpenAI's error object, which its clients read
      assert.equal(body.error.type, 'invalid_request_error');
    } else {
      assert.equal(typeof body.error, 'string');
    }
  }
  const bad = await app.inject({ method: 'POST', url: '/sdapi/v1/txt2img', payload: '{"prompt":', headers: { 'content-type': 'application/json' } });
  assert.equal(bad.statusCode, 400);
  assert.equal(bad.json().error, 'Bad Request');
  const missing = await app.inject({ method: 'GET', url: '/nope' });
  assert.equal(missing.statusCode, 404);
  assert.deepEqual(missing.json(), { error: 'Not Found', detail: 'no route GET /nope' });
  assert.equal(fake.calls.length, 0);
});

test('bearer auth: 401 with WWW-Authenticate without or with a wrong token; /health stays open', async () => {
  const { app } = setup({ token: 's3cret' });
  const none = await app.inject({ method: 'GET', url: '/sdapi/v1/sd-models' });
  assert.equal(none.statusCode, 401);
  assert.equal(none.headers['www-authenticate'], 'Bearer realm="sd-native"');
  assert.deepEqual(none.json(), { error: 'Unauthorized', detail: 'this server needs Authorization: Bearer <token>' });
  const wrong = await app.inject({ method: 'GET', url: '/sdapi/v1/sd-models', headers: { authorization: 'Bearer nope' } });
  assert.equal(wrong.statusCode, 401);
  const openai = await app.inject({ method: 'POST', url: '/v1/images/generations', payload: { prompt: 'x' } });
  assert.equal(openai.statusCode, 401);
  assert.equal(openai.json().error.type, 'authentication_error');
  const ok = await app.inject({ method: 'GET', url: '/sdapi/v1/sd-models', headers: { authorization: 'Bearer s3cret' } });
  assert.equal(ok.statusCode, 200);
  const basic = await app.inject({ method: 'GET', url: '/sdapi/v1/sd-models', headers: { authorization: `Basic ${Buffer.from('user:s3cret').toString('base64')}` } });
  assert.equal(basic.statusCode, 200);
  assert.equal((await app.inject({ method: 'GET', url: '/health' })).statusCode, 200);
});

test('a full queue answers 429 with Retry-After; the others still finish', async () => {
  const { app, fake } = setup({ queueSize: 1 });
  fake.hold();
  const first = txt2img(app, small);
  await waitFor(() => fake.calls.length === 1, 'the first job to run');
  const second = txt2img(app, { ...small, prompt: 'waits' });
  await waitFor(() => app.sd.queue.waiting === 1, 'the second job to wait');
  const third = await txt2img(app, { ...small, prompt: 'refused' });
  assert.equal(third.statusCode, 429);
  assert.match(third.headers['retry-after'] as string, /^[1-9][0-9]*$/);
  assert.equal(third.json().error, 'Too Many Requests');
  assert.match(third.json().detail, /^the queue is full \(1 jobs waiting\); retry in \d+ s$/);
  const openai = await app.inject({ method: 'POST', url: '/v1/images/generations', payload: { prompt: 'refused too' } });
  assert.equal(openai.statusCode, 429);
  assert.equal(openai.json().error.code, 'rate_limit_exceeded');
  fake.release();
  assert.equal((await first).statusCode, 200);
  assert.equal((await second).statusCode, 200);
  assert.match((await app.inject({ method: 'GET', url: '/metrics' })).body, /^sd_jobs_rejected_total 2$/m);
});

test('a request that outlives timeoutMs gets 504 and its generation is aborted', async () => {
  const { app, fake } = setup({ timeoutMs: 80 });
  fake.hold();
  const res = await txt2img(app, small);
  assert.equal(res.statusCode, 504);
  assert.deepEqual(res.json(), { error: 'Gateway Timeout', detail: 'the job did not finish within 0.080 s (queue wait included); it was cancelled' });
  assert.equal(fake.calls[0]!.signal!.aborted, true);
  fake.release();
  assert.equal((await txt2img(app, small)).statusCode, 200); // the server goes on
});

test('a client that disconnects cancels its job: the abort signal fires and the server goes on', async () => {
  const { app, fake } = setup();
  await app.listen({ host: '127.0.0.1', port: 0 });
  try {
    const { port } = app.server.address() as AddressInfo;
    fake.hold();
    const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/sdapi/v1/txt2img', headers: { 'content-type': 'application/json' } });
    req.on('error', () => {});
    req.end(JSON.stringify(small));
    await waitFor(() => fake.calls.length === 1, 'the job to run');
    const signal = fake.calls[0]!.signal!;
    assert.equal(signal.aborted, false);
    req.destroy();
    await waitFor(() => signal.aborted, 'the abort signal');
    assert.equal(app.sd.queue.stats.cancelled, 1);
    fake.release();
    assert.equal((await txt2img(app, small)).statusCode, 200);
  } finally {
    await app.close();
  }
});

test('batching: two matching requests become one generate() call with batchSize 2, images split back', async () => {
  const { app, fake } = setup({ batchWindowMs: 300 });
  const [a, b] = await Promise.all([txt2img(app, small), txt2img(app, { ...small, batch_size: 2 })]);
  assert.equal(a.statusCode, 200, a.body);
  assert.equal(b.statusCode, 200, b.body);
  assert.equal(fake.calls.length, 1);
  assert.equal(fake.calls[0]!.batchSize, 3);
  const s = fake.calls[0]!.seed!;
  const seedsA = JSON.parse(a.json().info).all_seeds, seedsB = JSON.parse(b.json().info).all_seeds;
  assert.deepEqual([...seedsA, ...seedsB].sort(), [s, s + 1, s + 2]);
  assert.equal(a.json().images.length, 1);
  assert.equal(b.json().images.length, 2);
  // each response has its own images of the batch (the fake marks image i with red = i)
  const marks = [...a.json().images, ...b.json().images].map((x: string) => decodePng(Buffer.from(x, 'base64')).data[0]);
  assert.deepEqual(marks.sort(), [0, 1, 2]);
  assert.equal(app.sd.queue.stats.lastBatchSize, 3);
});

test('batching merges only identical settings, and fixed seeds only when consecutive', async () => {
  const { app, fake } = setup({ batchWindowMs: 200 });
  const rs = await Promise.all([
    txt2img(app, { ...small, seed: 10 }),
    txt2img(app, { ...small, seed: 11 }), // joins: 10 + 1
    txt2img(app, { ...small, seed: 50 }), // not consecutive: its own call
    txt2img(app, { ...small, prompt: 'a blue cube' }), // another prompt: its own call
    txt2img(app, { ...small, cfg_scale: 5 }), // another setting: its own call
  ]);
  for (const r of rs) assert.equal(r.statusCode, 200, r.body);
  assert.deepEqual(fake.calls.map((c) => [c.batchSize, c.prompt, c.cfgScale]).sort(), [
    [1, 'a blue cube', 7], [1, 'a red cube', 5], [1, 'a red cube', 7], [2, 'a red cube', 7],
  ].sort());
  assert.deepEqual(JSON.parse(rs[1]!.json().info).all_seeds, [11]);
  assert.deepEqual(JSON.parse(rs[2]!.json().info).all_seeds, [50]);
});

test('cancelling one job of a batch keeps the batch running for the other', async () => {
  const { app, fake } = setup({ batchWindowMs: 300 });
  fake.hold();
  const a = txt2img(app, small, { 'x-sd-job-id': 'job-a' });
  const b = txt2img(app, small, { 'x-sd-job-id': 'job-b' });
  await waitFor(() => fake.calls.length === 1, 'the batch to run');
  assert.equal(fake.calls[0]!.batchSize, 2);
  const del = await app.inject({ method: 'DELETE', url: '/v1/jobs/job-a' });
  assert.equal(del.json().status, 'cancelled');
  const ra = await a;
  assert.equal(ra.statusCode, 409);
  assert.equal(ra.json().detail, 'job job-a was cancelled by DELETE');
  assert.equal(fake.calls[0]!.signal!.aborted, false);
  fake.release();
  const rb = await b;
  assert.equal(rb.statusCode, 200);
  assert.equal(rb.headers['x-sd-job-id'], 'job-b');
});

test('OpenAI images: { created, data: [{ b64_json }] } with n images of the asked size', async () => {
  const { app, fake } = setup();
  const res = await app.inject({ method: 'POST', url: '/v1/images/generations', payload: { model: 'dall-e-3', prompt: 'a cat', n: 2, size: '64x128', response_format: 'b64_json' } });
  assert.equal(res.statusCode, 200, res.body);
  const body = res.json();
  assert.ok(Number.isInteger(body.created) && Math.abs(body.created - Date.now() / 1000) < 60);
  assert.equal(body.data.length, 2);
  const img = decodePng(Buffer.from(body.data[0].b64_json, 'base64'));
  assert.deepEqual([img.width, img.height], [64, 128]);
  assert.equal(fake.calls[0]!.steps, 20);
  assert.equal(fake.calls[0]!.batchSize, 2);
  const auto = await app.inject({ method: 'POST', url: '/v1/images/generations', payload: { prompt: 'a cat', size: 'auto', steps: 3, seed: 7 } });
  assert.equal(auto.statusCode, 200);
  assert.deepEqual([fake.calls[1]!.width, fake.calls[1]!.height, fake.calls[1]!.steps, fake.calls[1]!.seed], [512, 512, 3, 7]);
  assert.equal((await app.inject({ method: 'GET', url: '/v1/models' })).json().data[0].id, 'fake-model');
});

test('progress shows the running job with a preview; interrupt ends it with 409', async () => {
  const { app, fake } = setup();
  const idle = (await app.inject({ method: 'GET', url: '/sdapi/v1/progress' })).json();
  assert.equal(idle.progress, 0);
  assert.equal(idle.current_image, null);
  assert.equal(idle.state.sampling_steps, 0);
  fake.hold();
  const pending = txt2img(app, { ...small, steps: 4 });
  await waitFor(() => fake.calls.length === 1, 'the job to run');
  fake.step(2);
  await waitFor(() => app.sd.queue.running?.step === 2, 'the second step');
  const p = (await app.inject({ method: 'GET', url: '/sdapi/v1/progress' })).json();
  assert.equal(p.progress, 0.5);
  assert.equal(p.state.sampling_step, 2);
  assert.equal(p.state.sampling_steps, 4);
  assert.equal(p.state.job, 'txt2img');
  assert.ok(p.eta_relative >= 0);
  assert.equal(decodePng(Buffer.from(p.current_image, 'base64')).width, 8);
  const skip = (await app.inject({ method: 'GET', url: '/sdapi/v1/progress?skip_current_image=true' })).json();
  assert.equal(skip.current_image, null);
  const int = await app.inject({ method: 'POST', url: '/sdapi/v1/interrupt' });
  assert.deepEqual(int.json(), {});
  const res = await pending;
  assert.equal(res.statusCode, 409);
  assert.equal(fake.calls[0]!.signal!.aborted, true);
  fake.release();
});

test('jobs: POST /v1/jobs returns an id at once; the SSE stream sends steps with previews, then the images', async () => {
  const { app } = setup();
  const sub = await app.inject({ method: 'POST', url: '/v1/jobs', payload: { ...small, steps: 3, seed: 5 } });
  assert.equal(sub.statusCode, 202, sub.body);
  const { id, events_url: events, status } = sub.json();
  assert.ok(['queued', 'running'].includes(status));
  const stream = await app.inject({ method: 'GET', url: events });
  assert.equal(stream.statusCode, 200);
  assert.match(stream.headers['content-type'] as string, /^text\/event-stream/);
  const parsed = stream.body.trim().split('\n\n').map((block) => {
    const event = /^event: (.*)$/m.exec(block)![1]!, data = JSON.parse(/^data: (.*)$/m.exec(block)![1]!);
    return { event, data };
  });
  assert.equal(parsed[0]!.event, 'status');
  const steps = parsed.filter((e) => e.event === 'step');
  assert.ok(steps.length >= 1, stream.body.slice(0, 500));
  assert.equal(steps.at(-1)!.data.step, 3);
  assert.equal(decodePng(Buffer.from(steps.at(-1)!.data.preview, 'base64')).width, 8);
  const done = parsed.at(-1)!;
  assert.equal(done.event, 'done');
  assert.deepEqual(done.data.seeds, [5]);
  assert.equal(decodePng(Buffer.from(done.data.images[0], 'base64')).width, 64);
  const job = (await app.inject({ method: 'GET', url: `/v1/jobs/${id}` })).json();
  assert.equal(job.status, 'succeeded');
  assert.equal(job.progress, 1);
  assert.equal(job.images.length, 1);
  assert.equal((await app.inject({ method: 'GET', url: '/v1/jobs/nope' })).statusCode, 404);
  // a finished job's stream: status and the result, then it ends
  const late = await app.inject({ method: 'GET', url: events });
  assert.match(late.body, /event: done/);
});

test('img2img: the init image goes to generate() with denoising_strength, resized to width × height by resize_mode', async () => {
  const { app, fake } = setup();
  const png = encodePng({ data: Buffer.alloc(64 * 96 * 3, 90), width: 64, height: 96, channels: 3 }).toString('base64');
  const res = await app.inject({ method: 'POST', url: '/sdapi/v1/img2img', payload: { prompt: 'x', steps: 2, init_images: [`data:image/png;base64,${png}`], denoising_strength: 0.5 } });
  assert.equal(res.statusCode, 200, res.body);
  const c = fake.calls[0]!;
  assert.ok(Buffer.isBuffer(c.initImage));
  assert.deepEqual([c.width, c.height, c.strength], [64, 96, 0.5]);
  assert.equal(res.json().parameters.init_images, null);
  assert.equal(JSON.parse(res.json().info).denoising_strength, 0.5);
  const resized = await app.inject({ method: 'POST', url: '/sdapi/v1/img2img', payload: { prompt: 'x', init_images: [png], width: 128, height: 128, resize_mode: 1 } });
  assert.equal(resized.statusCode, 200, resized.body);
  assert.deepEqual([fake.calls[1]!.width, fake.calls[1]!.height, fake.calls[1]!.resizeMode], [128, 128, 'crop_and_resize']);
  const latent = await app.inject({ method: 'POST', url: '/sdapi/v1/img2img', payload: { prompt: 'x', init_images: [png], resize_mode: 3, width: 128, height: 192 } });
  assert.equal(latent.statusCode, 200, latent.body);
  assert.equal(fake.calls[2]!.resizeMode, 'latent_upscale');
});

test('model errors become JSON errors and the server keeps serving', async () => {
  const { app, fake } = setup();
  fake.failWith = new Error('native core exploded');
  const boom = await txt2img(app, small);
  assert.equal(boom.statusCode, 500);
  assert.deepEqual(boom.json(), { error: 'Internal Server Error', detail: 'native core exploded' });
  fake.failWith = new SdError('clipSkip must be an integer between 1 and 2, got 3', 'ERR_SD_INVALID_OPTION');
  const invalid = await txt2img(app, small);
  assert.equal(invalid.statusCode, 422);
  assert.equal(invalid.json().detail, 'clipSkip must be an integer between 1 and 2, got 3');
  fake.failWith = undefined;
  assert.equal((await txt2img(app, small)).statusCode, 200);
  const m = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  assert.match(m, /^sd_jobs_total\{outcome="failed"\} 2$/m);
});

test('model list, samplers, schedulers and options in A1111 shape', async () => {
  const { app, fake } = setup();
  const models = (await app.inject({ method: 'GET', url: '/sdapi/v1/sd-models' })).json();
  assert.deepEqual(models, [{ title: 'fake-model.safetensors', model_name: 'fake-model', hash: null, sha256: null, filename: '/models/fake-model.safetensors', config: null }]);
  const samplers = (await app.inject({ method: 'GET', url: '/sdapi/v1/samplers' })).json();
  assert.deepEqual(samplers.find((s: { name: string }) => s.name === 'Euler a').aliases.slice(0, 1), ['euler_ancestral']);
  assert.ok(samplers.every((s: object) => Object.keys(s).join() === 'name,aliases,options'));
  for (const label of ['DPM fast', 'DPM adaptive', 'DPM++ 2M SDE Heun', 'Restart', 'DDIM CFG++']) {
    assert.ok(samplers.some((s: { name: string }) => s.name === label), `A1111 label ${label}`);
  }
  const schedulers = (await app.inject({ method: 'GET', url: '/sdapi/v1/schedulers' })).json();
  assert.deepEqual(schedulers.find((s: { name: string }) => s.name === 'karras'), { name: 'karras', label: 'Karras', aliases: [], default_rho: 7, need_inner_model: null });
  const before = (await app.inject({ method: 'GET', url: '/sdapi/v1/options' })).json();
  assert.equal(before.sd_model_checkpoint, 'fake-model.safetensors');
  assert.equal(before.CLIP_stop_at_last_layers, 1);
  const set = await app.inject({ method: 'POST', url: '/sdapi/v1/options', payload: { CLIP_stop_at_last_layers: 2, randn_source: 'NV', sd_model_checkpoint: 'fake-model', some_ui_setting: true } });
  assert.equal(set.statusCode, 200, set.body);
  assert.equal((await app.inject({ method: 'GET', url: '/sdapi/v1/options' })).json().randn_source, 'NV');
  await txt2img(app, small);
  assert.equal(fake.calls[0]!.clipSkip, 2);
  assert.equal(fake.calls[0]!.rng, 'cuda');
  const other = await app.inject({ method: 'POST', url: '/sdapi/v1/options', payload: { sd_model_checkpoint: 'sdxl.safetensors' } });
  assert.equal(other.statusCode, 404);
});

test('health and Prometheus metrics', async () => {
  const { app } = setup();
  await txt2img(app, { ...small, batch_size: 3 });
  const health = (await app.inject({ method: 'GET', url: '/health' })).json();
  assert.deepEqual(health.queue, { waiting: 0, running: 0, capacity: 16 });
  assert.equal(health.status, 'ok');
  const res = await app.inject({ method: 'GET', url: '/metrics' });
  assert.match(res.headers['content-type'] as string, /^text\/plain; version=0\.0\.4/);
  const m = res.body;
  for (const line of [
    /^sd_queue_depth 0$/m, /^sd_jobs_running 0$/m, /^sd_images_generated_total 3$/m, /^sd_iterations_per_second [0-9.e+-]+$/m,
    /^# TYPE sd_http_request_duration_seconds histogram$/m,
    /^sd_http_request_duration_seconds_count\{method="POST",route="\/sdapi\/v1\/txt2img",status="200"\} 1$/m,
    /^sd_http_request_duration_seconds_bucket\{method="POST",route="\/sdapi\/v1\/txt2img",status="200",le="\+Inf"\} 1$/m,
    /^process_resident_memory_bytes \d+$/m,
  ]) assert.match(m, line);
});

test('closing the server answers waiting and running requests with 503', async () => {
  const { app, fake } = setup();
  fake.hold();
  const running = txt2img(app, small);
  await waitFor(() => fake.calls.length === 1, 'the job to run');
  const waiting = txt2img(app, { ...small, prompt: 'later' });
  await waitFor(() => app.sd.queue.waiting === 1, 'the second job to wait');
  const closed = app.close();
  const [r1, r2] = await Promise.all([running, waiting]);
  await closed;
  assert.equal(r1.statusCode, 503);
  assert.equal(r2.statusCode, 503);
  assert.equal(r2.json().detail, 'the server is shutting down; the job was not finished');
});

test('serve command: --help, and flag errors as usage errors', async () => {
  const { serveCommand, SERVE_USAGE } = await import('../../lib/cli/serve.js');
  const { UsageError } = await import('../../lib/cli/args.js');
  let out = '';
  const io = { stdout: { write: (s: string) => (out += s) }, stderr: { write: () => true } };
  assert.equal(await serveCommand(['--help'], io), 0);
  assert.equal(out, `${SERVE_USAGE}\n`);
  for (const [args, message] of [
    [['--port', 'x'], '--port expects a number, got "x"'],
    [['--queue', '0'], '--queue must be an integer between 1 and 10000, got 0'],
    [['--batch-window-ms=-5'], '--batch-window-ms must be an integer between 0 and 60000, got -5'],
    [['--dtype', 'f16'], '--dtype must be f32 or bf16, got f16'],
    [['model.safetensors'], 'serve takes no positional arguments, got "model.safetensors"'],
  ] as const) {
    await assert.rejects(serveCommand([...args], io), (e: Error) => e instanceof UsageError && e.message === message, args.join(' '));
  }
});

// A pipeline that also batches different prompts (as StableDiffusion.generateBatch does).
class MixingPipeline extends FakePipeline {
  batchCalls: Array<{ items: Array<{ prompt: string; negativePrompt?: string; seed?: number }>; cfgScale?: number }> = [];
  async generateBatch(items: Array<{ prompt: string; negativePrompt?: string; seed?: number }>, o: Omit<GenerateOptions, 'prompt' | 'seed' | 'batchSize'>): Promise<GeneratedImage[]> {
    this.batchCalls.push({ items, cfgScale: o.cfgScale });
    const w = o.width ?? 512, h = o.height ?? 512;
    return items.map((it, i) => {
      const px = Buffer.alloc(w * h * 4, 255);
      px[0] = i;
      return new GeneratedImage(px, w, h, it.seed!, `${it.prompt}\nSteps: ${o.steps}, Seed: ${it.seed}, Size: ${w}x${h}`);
    });
  }
}

test('batching with generateBatch: different prompts and fixed seeds share one UNet batch, settings still must match', async () => {
  const fake = new MixingPipeline();
  const app = createServer(fake, { batchWindowMs: 200 });
  const rs = await Promise.all([
    txt2img(app, { ...small, seed: 10 }),
    txt2img(app, { ...small, prompt: 'a blue cube', seed: 50, batch_size: 2 }),
    txt2img(app, { ...small, prompt: 'a green cube', negative_prompt: 'blur' }),
    txt2img(app, { ...small, cfg_scale: 5 }), // another setting: its own call
  ]);
  for (const r of rs) assert.equal(r.statusCode, 200, r.body);
  assert.equal(fake.batchCalls.length, 1);
  const items = fake.batchCalls[0]!.items;
  assert.deepEqual(items.map((i) => i.prompt), ['a red cube', 'a blue cube', 'a blue cube', 'a green cube']);
  assert.deepEqual(items.slice(0, 3).map((i) => i.seed), [10, 50, 51]);
  assert.equal(items[3]!.negativePrompt, 'blur');
  assert.deepEqual(fake.calls.map((c) => c.cfgScale), [5]);
  // each response gets its own images back, with its own prompt in the infotext
  assert.deepEqual(JSON.parse(rs[1]!.json().info).all_seeds, [50, 51]);
  assert.match(JSON.parse(rs[2]!.json().info).infotexts[0], /^a green cube/);
  assert.equal(app.sd.queue.stats.lastBatchSize >= 1, true);
});

test('Retry-After follows the running batch\'s measured progress, not a fixed second', async () => {
  const { app, fake } = setup({ queueSize: 1 });
  fake.hold();
  const first = txt2img(app, { ...small, steps: 10 });
  await waitFor(() => fake.calls.length === 1, 'the first job to run');
  fake.step(1);
  await waitFor(() => app.sd.queue.running?.jobs[0]?.step === 1, 'one step of ten');
  await new Promise((r) => setTimeout(r, 400));
  const second = txt2img(app, { ...small, prompt: 'waits' });
  await waitFor(() => app.sd.queue.waiting === 1, 'the second job to wait');
  const refused = await txt2img(app, { ...small, prompt: 'refused' });
  assert.equal(refused.statusCode, 429);
  // ≥ 0.4 s for 1 step of 10: the other 9 take ≥ 3.6 s
  assert.ok(Number(refused.headers['retry-after']) >= 4, `Retry-After ${refused.headers['retry-after']}`);
  fake.release();
  assert.equal((await first).statusCode, 200);
  assert.equal((await second).statusCode, 200);
});

test('hostile bodies: nesting 5000 deep is refused before anything runs', async () => {
  const { app, fake } = setup();
  const deep = '{"a":'.repeat(5000) + '1' + '}'.repeat(5000); // as text: a JS object this deep would not stringify
  const t0 = performance.now();
  const res = await app.inject({
    method: 'POST', url: '/sdapi/v1/txt2img', headers: { 'content-type': 'application/json' },
    payload: JSON.stringify(small).replace(/}$/, `,"extra":${deep}}`),
  });
  assert.equal(res.statusCode, 422, res.body);
  assert.match(res.json().detail, /the body nests deeper than 32 levels/);
  assert.ok(performance.now() - t0 < 1000);
  assert.equal(fake.calls.length, 0, 'nothing was generated');
  assert.equal((await txt2img(app, small)).statusCode, 200, 'the server goes on');
});

test('a body trickled byte by byte gets 408 after requestTimeoutMs and its connection closes', async () => {
  const { app } = setup({ requestTimeoutMs: 400 });
  await app.listen({ host: '127.0.0.1', port: 0 });
  try {
    const { port } = app.server.address() as { port: number };
    const { connect } = await import('node:net');
    const socket = connect(port, '127.0.0.1');
    const t0 = performance.now();
    let answer = '';
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.on('data', (d) => (answer += d.toString()));
    socket.on('error', () => {});
    socket.write('POST /sdapi/v1/txt2img HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{');
    const trickle = setInterval(() => socket.write(' '), 100);
    await closed;
    clearInterval(trickle);
    const seconds = (performance.now() - t0) / 1000;
    assert.match(answer, /^HTTP\/1\.1 408/, answer);
    assert.ok(seconds < 2.5, `closed after ${seconds.toFixed(2)} s`);
  } finally {
    await app.close();
  }
});
