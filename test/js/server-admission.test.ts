// Memory admission on the real pipeline (tiny SD1 model): a request whose plan exceeds the
// server's budget is refused with 413 and the figure before it is queued; one whose VAE pass is
// what does not fit runs with VAE tiles; one that fits is served; matching requests are merged
// only into a UNet call within the budget. The figures are checked against a real run's own
// peak activation bytes, not against planMemory().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';

import { StableDiffusion, type GenerateOptions } from '../../lib/index.js';
import { createServer, type ServerOptions } from '../../lib/server/index.js';
import { tinyCheckpoint } from '../helpers/tiny-checkpoint.js';

let shared: Promise<StableDiffusion> | undefined;
const model = () => (shared ??= StableDiffusion.load(tinyCheckpoint(), { threads: 2 }));
const MiB = 2 ** 20;

// The model behind a server, with every generate() call's options recorded.
async function recorded(): Promise<{ pipeline: Parameters<typeof createServer>[0]; calls: GenerateOptions[] }> {
  const sd = await model();
  const calls: GenerateOptions[] = [];
  const pipeline = {
    info: sd.info, path: sd.path,
    planMemory: (o: GenerateOptions) => sd.planMemory(o),
    generate: (o: GenerateOptions) => (calls.push(o), sd.generate(o)),
  };
  return { pipeline, calls };
}

async function withServer(options: ServerOptions, fn: (app: ReturnType<typeof createServer>, calls: GenerateOptions[]) => Promise<void>): Promise<void> {
  const { pipeline, calls } = await recorded();
  const app = createServer(pipeline, options);
  await app.ready(); // schemas compiled before any request is timed
  try {
    await fn(app, calls);
  } finally {
    await app.close();
  }
}

const body = (extra: Record<string, unknown> = {}) => ({ prompt: 'a red cube', width: 64, height: 64, steps: 2, seed: 5, ...extra });

test('planMemory: the UNet figure is the peak a real run plans, the weights the checkpoint file', async () => {
  const sd = await model();
  const o = { prompt: 'a red cube', width: 64, height: 64, steps: 2, batchSize: 2, seed: 1 };
  const [image] = await sd.generate(o);
  const plan = sd.planMemory(o);
  assert.equal(plan.unetBytes, image!.stats!.peakActivationBytes);
  assert.equal(plan.weightsBytes, statSync(tinyCheckpoint()).size);
  assert.equal(plan.totalBytes, plan.weightsBytes + Math.max(plan.textBytes, plan.unetBytes, plan.vaeBytes));
  // twice the images, twice the UNet batch: its activations grow, the weights do not
  const four = sd.planMemory({ ...o, batchSize: 4 });
  assert.ok(four.unetBytes > plan.unetBytes, `${four.unetBytes} > ${plan.unetBytes}`);
  assert.equal(four.weightsBytes, plan.weightsBytes);
  assert.throws(() => sd.planMemory({ ...o, prompt: 'x BREAK '.repeat(40) }), /a prompt uses 40 chunks of 75 tokens/);
});

test('a request over the memory budget is refused fast with 413 and the figure; one under it is served', async () => {
  const sd = await model();
  // four images: the UNet batch is the largest stage (for one 64² image the VAE pass is)
  const [image] = await sd.generate({ prompt: 'a red cube', width: 64, height: 64, steps: 2, seed: 5, batchSize: 4 });
  const needMiB = Math.ceil((statSync(tinyCheckpoint()).size + image!.stats!.peakActivationBytes) / MiB);
  const four = body({ batch_size: 4 });
  await withServer({ batchWindowMs: 0, memoryBudgetMB: needMiB - 1 }, async (app, calls) => {
    const t0 = performance.now();
    const res = await app.inject({ method: 'POST', url: '/sdapi/v1/txt2img', payload: four });
    const ms = performance.now() - t0;
    assert.equal(res.statusCode, 413, res.body);
    assert.match(res.json().detail, new RegExp(`^this request needs ${needMiB} MiB \\(weights \\d+ MiB \\+ UNet \\d+ MiB\\) but the server's memory budget is ${needMiB - 1} MiB`));
    assert.ok(ms < 1000, `refused in ${ms.toFixed(0)} ms`);
    // refused before the queue: nothing submitted, nothing generated
    assert.equal(app.sd.queue.stats.submitted, 0);
    assert.equal(calls.length, 0);
    const job = await app.inject({ method: 'POST', url: '/v1/jobs', payload: four });
    assert.equal(job.statusCode, 413);
  });
  await withServer({ batchWindowMs: 0, memoryBudgetMB: needMiB }, async (app, calls) => {
    const res = await app.inject({ method: 'POST', url: '/sdapi/v1/txt2img', payload: four });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.vaeTiling, undefined);
  });
});

test('a request whose whole-image VAE pass is over the budget runs with VAE tiles instead', async () => {
  const sd = await model();
  process.env.SD_NATIVE_VAE_TILE = '4,1';
  try {
    // CFG scale 1: the UNet runs one image, the VAE is the largest stage at 64²
    const o = { prompt: 'a red cube', width: 64, height: 64, steps: 2, cfgScale: 1 };
    const whole = sd.planMemory(o), tiled = sd.planMemory({ ...o, vaeTiling: true });
    assert.ok(whole.vaeBytes > whole.unetBytes && tiled.vaeBytes < whole.vaeBytes, JSON.stringify({ whole, tiled }));
    const [image] = await sd.generate({ ...o, steps: 1, seed: 1, vaeTiling: true });
    assert.equal(tiled.vaeTiles, image!.stats!.decodeTiles); // the tiles a real decode ran
    assert.ok(tiled.vaeTiles > 1);
    // a fractional budget: on the tiny model the two plans are less than 1 MiB apart
    await withServer({ batchWindowMs: 0, memoryBudgetMB: tiled.totalBytes / MiB }, async (app, calls) => {
      const res = await app.inject({ method: 'POST', url: '/sdapi/v1/txt2img', payload: body({ cfg_scale: 1 }) });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(calls[0]!.vaeTiling, true);
    });
  } finally {
    delete process.env.SD_NATIVE_VAE_TILE;
  }
});

test('matching requests are merged only into a UNet batch that fits the budget', async () => {
  const sd = await model();
  const o = { prompt: 'a red cube', width: 64, height: 64, steps: 2 };
  const two = sd.planMemory({ ...o, batchSize: 2 }), three = sd.planMemory({ ...o, batchSize: 3 });
  const budget = Math.floor(three.totalBytes / MiB);
  assert.ok(budget * MiB >= two.totalBytes, 'the budget holds two images, not three');
  await withServer({ batchWindowMs: 200, memoryBudgetMB: budget }, async (app, calls) => {
    const send = () => app.inject({ method: 'POST', url: '/sdapi/v1/txt2img', payload: body({ seed: -1 }) });
    const results = await Promise.all([send(), send(), send()]);
    for (const r of results) assert.equal(r.statusCode, 200, r.body);
    assert.deepEqual(calls.map((c) => c.batchSize).sort(), [1, 2]);
  });
});
