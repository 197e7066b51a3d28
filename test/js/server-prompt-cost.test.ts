// What a prompt may cost: a cap on 75-token chunks (refused before the queue), text encoding that
// stops within one op of a cancel, and /health and /metrics that count native work still running
// after its request has been answered.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { StableDiffusion } from '../../lib/index.js';
import { GeneratedImage } from '../../lib/image.js';
import type { GenerateOptions } from '../../lib/pipeline.js';
import { createServer } from '../../lib/server/index.js';
import { deferred, small, txt2img, waitFor } from '../helpers/fake-pipeline.js';
import { tinyCheckpoint } from '../helpers/tiny-checkpoint.js';

let shared: Promise<StableDiffusion> | undefined;
// up to 1000 chunks: long enough prompts to time the text encoder on the tiny model
const model = () => (shared ??= StableDiffusion.load(tinyCheckpoint(), { threads: 2, maxPromptChunks: 1000 }));

const health = async (app: ReturnType<typeof createServer>) => (await app.inject({ method: 'GET', url: '/health' })).json();
const metric = async (app: ReturnType<typeof createServer>, name: string) =>
  Number(new RegExp(`^${name} (\\S+)$`, 'm').exec((await app.inject({ method: 'GET', url: '/metrics' })).body)![1]);

test('a request that timed out while the model still works shows as busy until the work ends', async () => {
  // native work that does not stop on abort (as text encoding was): it ends when the test says
  const finish = deferred();
  let calls = 0;
  const pipeline = {
    info: { family: 'sd1' as const, defaultSize: 512, vaeDownscale: 8 },
    async generate(o: GenerateOptions) {
      if (calls++ === 0) await finish.promise;
      return [new GeneratedImage(Buffer.alloc(64 * 64 * 4, 255), 64, 64, 1, 'x')];
    },
  };
  const app = createServer(pipeline, { batchWindowMs: 0, timeoutMs: 150 });
  await app.ready(); // schemas compiled: the time below is the request's
  const t0 = performance.now();
  const res = await txt2img(app, small);
  assert.equal(res.statusCode, 504);
  assert.ok(performance.now() - t0 < 1000);
  const h = await health(app);
  assert.deepEqual([h.queue.running, h.busy], [0, true], 'no job waits for the call, but the model is still in it');
  assert.equal(await metric(app, 'sd_generate_running'), 1);
  assert.equal(await metric(app, 'sd_jobs_running'), 0);
  const next = txt2img(app, small); // waits for the model, then runs
  await new Promise((r) => setTimeout(r, 50));
  assert.equal((await health(app)).queue.waiting, 1);
  finish.resolve();
  assert.equal((await next).statusCode, 200);
  await waitFor(() => app.sd.queue.running === undefined, 'the call to end');
  assert.deepEqual([(await health(app)).busy, await metric(app, 'sd_generate_running')], [false, 0]);
  await app.close();
});

test('text encoding stops within one op of a cancel (a 900-chunk prompt)', async () => {
  const sd = await model();
  const prompt = 'a red cube BREAK '.repeat(899);
  const o = { prompt, width: 32, height: 32, steps: 1, seed: 1 };
  const [image] = await sd.generate(o);
  const textSeconds = image!.stats!.textSeconds;
  assert.ok(textSeconds > 0.3, `the encoder needs ${textSeconds} s for 900 chunks`);
  const c = new AbortController();
  const run = sd.generate({ ...o, signal: c.signal });
  // tokenizing 900 chunks is quick: abort while the encoder runs
  await new Promise((r) => setTimeout(r, (textSeconds * 1000) / 3));
  const t0 = performance.now();
  c.abort(new Error('stop'));
  await assert.rejects(run, /stop/);
  const stopped = (performance.now() - t0) / 1000;
  assert.ok(stopped < textSeconds / 4, `stopped ${stopped.toFixed(3)} s after the abort; encoding takes ${textSeconds.toFixed(3)} s`);
  // and the model is free at once: a short prompt runs next
  const t1 = performance.now();
  await sd.generate({ ...o, prompt: 'a red cube' });
  assert.ok((performance.now() - t1) / 1000 < textSeconds, 'the next call did not wait for the abandoned encoding');
});

test('a 504 during text encoding leaves the server idle and serving at once', async () => {
  const sd = await model();
  const app = createServer(sd, { batchWindowMs: 0, timeoutMs: 400 });
  await app.ready();
  const t0 = performance.now();
  const res = await txt2img(app, { ...small, width: 32, height: 32, steps: 1, prompt: 'a red cube BREAK '.repeat(899) });
  assert.equal(res.statusCode, 504, res.body);
  assert.ok(performance.now() - t0 < 2500, 'the timeout (400 ms) plus slack for a loaded machine');
  await waitFor(() => app.sd.queue.running === undefined, 'the native call to stop', 1000);
  assert.deepEqual([(await health(app)).busy, await metric(app, 'sd_jobs_total{outcome="timeout"}')], [false, 1]);
  const ok = await txt2img(app, { ...small, width: 32, height: 32, steps: 1 });
  assert.equal(ok.statusCode, 200, ok.body);
  await app.close();
});

test('a prompt over the chunk cap is refused with the count before it is queued', async () => {
  const sd = await StableDiffusion.load(tinyCheckpoint(), { threads: 2 }); // the default cap, 16
  const app = createServer(sd, { batchWindowMs: 0 });
  await app.ready();
  const t0 = performance.now();
  const res = await txt2img(app, { ...small, prompt: 'a BREAK '.repeat(20) });
  assert.equal(res.statusCode, 422);
  assert.match(res.json().detail, /^a prompt uses 20 chunks of 75 tokens \(\d+ tokens\); this model takes at most 16 \(load option maxPromptChunks\)/);
  assert.ok(performance.now() - t0 < 1000);
  assert.equal(app.sd.queue.stats.submitted, 0, 'refused by admission, never queued');
  await app.close();
  sd.dispose();
});
