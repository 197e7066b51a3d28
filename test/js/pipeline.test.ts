// The public API end to end on the tiny SD1 checkpoint assembled from the goldens.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { GeneratedImage, SdError, StableDiffusion, readPngText, type StepEvent } from '../../lib/index.js';
import { ClipTokenizer } from '../../lib/tokenizer/index.js';
import { f32, i64, maxAbs, readSafetensors, relL2 } from '../helpers/safetensors.js';
import { fixtures, tempDir, tinyCheckpoint } from '../helpers/tiny-checkpoint.js';

const golden = readSafetensors(join(fixtures, 'cfg_euler_sd1_tiny.safetensors')).tensors;
const g = (name: string) => f32(golden.get(name), name);

// The golden run: tiny CLIP + UNet + VAE, k-diffusion Euler, 4 steps, CFG 7.5, torch CPU noise seed 2024.
const GOLDEN_OPTIONS = {
  prompt: 'a photo of a cat', negativePrompt: '', width: 32, height: 32, steps: 4,
  sampler: 'euler', scheduler: 'normal', cfgScale: 7.5, seed: 2024, rng: 'cpu',
} as const;

let shared: Promise<StableDiffusion> | undefined;
const model = () => (shared ??= StableDiffusion.load(tinyCheckpoint(), { threads: 2 }));

test('the tiny checkpoint loads as SD1 with the golden configs', async () => {
  const sd = await model();
  assert.equal(sd.info.family, 'sd1');
  assert.equal(sd.info.prediction, 'eps');
  assert.equal(sd.info.vaeDownscale, 2);
  assert.equal(sd.info.unetModelChannels, 32);
  assert.equal(sd.info.unetContextDim, 64);
  assert.equal(sd.info.clipWidth, 64);
  assert.equal(sd.info.clipLayers, 2);
});

test('prompt tokens and text context match the golden inputs', async (t) => {
  const sd = await model();
  const tok = ClipTokenizer.load();
  const cond = tok.tokenizeWeighted('a photo of a cat', { padId: 49407 });
  const uncond = tok.tokenizeWeighted('', { padId: 49407 });
  assert.deepEqual([...cond.chunks[0]!.ids], i64(golden.get('golden.input.cond_token_ids')));
  assert.deepEqual([...uncond.chunks[0]!.ids], i64(golden.get('golden.input.uncond_token_ids')));
  const c = await sd.encodeText('a photo of a cat');
  assert.deepEqual(c.shape, [1, 77, 64]);
  const u = await sd.encodeText('');
  const rc = relL2(c.data, g('golden.input.cond_context')), ru = relL2(u.data, g('golden.input.uncond_context'));
  t.diagnostic(`context rel L2: cond ${rc.toExponential(2)}, uncond ${ru.toExponential(2)}`);
  assert.ok(rc <= 1e-5, `cond context rel L2 ${rc}`);
  assert.ok(ru <= 1e-5, `uncond context rel L2 ${ru}`);
});

test('CFG end-to-end golden through generate(): latent, pixels, step events', async (t) => {
  const sd = await model();
  const events: StepEvent[] = [];
  const [img, ...rest] = await sd.generate({ ...GOLDEN_OPTIONS, onStep: (e) => events.push(e) });
  assert.equal(rest.length, 0);
  assert.ok(img instanceof GeneratedImage);
  assert.equal(img.width, 32);
  assert.equal(img.height, 32);
  assert.equal(img.seed, 2024);
  const ref = g('golden.output.latent');
  const rel = relL2(img.latent!, ref), abs = maxAbs(img.latent!, ref);
  // Golden image: (x + 1) / 2 clamped to [0, 1], × 255, rounded; ours is RGBA.
  const image = g('golden.output.image');
  let pixelDiff = 0;
  for (let p = 0; p < 32 * 32; p++) {
    for (let c = 0; c < 3; c++) {
      const want = Math.round(Math.min(1, Math.max(0, (image[c * 1024 + p]! + 1) / 2)) * 255);
      pixelDiff = Math.max(pixelDiff, Math.abs(img.data[p * 4 + c]! - want));
    }
    assert.equal(img.data[p * 4 + 3], 255);
  }
  t.diagnostic(`latent rel L2 ${rel.toExponential(3)}, max abs ${abs.toExponential(3)} (|latent| max ${Math.max(...ref.map(Math.abs)).toFixed(1)}); pixels max abs diff ${pixelDiff}`);
  assert.ok(rel <= 1e-4, `latent rel L2 ${rel}`);
  assert.ok(pixelDiff <= 1, `pixel max abs diff ${pixelDiff}`);

  const sigmas = g('golden.input.sigmas');
  assert.deepEqual(events.map((e) => e.step), [1, 2, 3, 4]);
  for (const [i, e] of events.entries()) {
    assert.equal(e.steps, 4);
    assert.ok(Math.abs(e.sigma - sigmas[i]!) <= 1e-6 * sigmas[i]!, `step ${i + 1}: sigma ${e.sigma} vs golden ${sigmas[i]}`);
    assert.ok(e.elapsedMs >= 0 && (i === 0 || e.elapsedMs >= events[i - 1]!.elapsedMs));
    assert.deepEqual([e.preview?.width, e.preview?.height, e.preview?.channels, e.preview?.data.length], [16, 16, 3, 16 * 16 * 3]);
  }
  assert.equal(img.parameters,
    'a photo of a cat\nSteps: 4, Sampler: Euler, Schedule type: Normal, CFG scale: 7.5, Seed: 2024, Size: 32x32, Model: sd-tiny, RNG: CPU');
  assert.equal(readPngText(img.toPNG()).parameters, img.parameters);
});

test('the same seed gives the same bytes; a batch uses seed + i', async () => {
  const sd = await model();
  const opts = { prompt: 'a red circle', width: 32, height: 32, steps: 3, seed: 100 } as const;
  const [a] = await sd.generate(opts);
  const [b] = await sd.generate(opts);
  assert.ok(a!.data.equals(b!.data), 'same seed, same bytes');
  const batch = await sd.generate({ ...opts, batchSize: 3 });
  assert.deepEqual(batch.map((i) => i.seed), [100, 101, 102]);
  assert.ok(!batch[0]!.data.equals(batch[1]!.data) && !batch[1]!.data.equals(batch[2]!.data), 'batch images differ');
  assert.match(batch[2]!.parameters, /Seed: 102,/);
  // Image i of a batch is the image of seed + i alone (per-image noise streams, as A1111): same bytes.
  const [alone] = await sd.generate({ ...opts, seed: 101 });
  assert.ok(alone!.data.equals(batch[1]!.data), 'batch image 1 = seed 101 alone');
  assert.equal(maxAbs(alone!.latent!, batch[1]!.latent!), 0);
  const [random] = await sd.generate({ ...opts, seed: -1 });
  assert.ok(Number.isInteger(random!.seed) && random!.seed >= 0, 'the random seed used is reported');
  assert.match(random!.parameters, new RegExp(`Seed: ${random!.seed},`));
});

test('abort mid-generation stops within a step and rejects with signal.reason', async (t) => {
  const sd = await model();
  const controller = new AbortController();
  const reason = new Error('user pressed stop');
  const events: StepEvent[] = [];
  let abortedAt = 0;
  const p = sd.generate({
    prompt: 'a cat', width: 64, height: 64, steps: 60, seed: 1, signal: controller.signal,
    onStep: (e) => {
      events.push(e);
      if (e.step === 3) {
        abortedAt = performance.now();
        controller.abort(reason);
      }
    },
  });
  await assert.rejects(p, (e) => e === reason);
  const waited = performance.now() - abortedAt;
  const perStep = (events[2]!.elapsedMs - events[0]!.elapsedMs) / 2;
  t.diagnostic(`abort → reject ${waited.toFixed(1)} ms; one step ≈ ${perStep.toFixed(1)} ms`);
  assert.equal(events.length, 3, 'no events after the abort');
  // "within one step": allow the step in flight plus scheduling slack, far below the 57 steps left.
  assert.ok(waited < 3 * perStep + 250, `rejected ${waited.toFixed(0)} ms after abort (step ≈ ${perStep.toFixed(0)} ms)`);
  // The model is still usable.
  assert.equal((await sd.generate({ prompt: 'a cat', width: 32, height: 32, steps: 2, seed: 1 })).length, 1);
});

test('an already-aborted signal rejects at once without starting', async () => {
  const sd = await model();
  const reason = new Error('too late');
  let steps = 0;
  await assert.rejects(sd.generate({ prompt: 'a', width: 32, height: 32, steps: 2, signal: AbortSignal.abort(reason), onStep: () => steps++ }), (e) => e === reason);
  assert.equal(steps, 0);
  // Default reason: a DOMException AbortError.
  await assert.rejects(sd.generate({ prompt: 'a', width: 32, height: 32, steps: 2, signal: AbortSignal.abort() }), { name: 'AbortError' });
});

test('calls queue one after another; aborting a queued call rejects it without waiting', async () => {
  const sd = await model();
  const order: string[] = [];
  const opts = { prompt: 'a', width: 32, height: 32, steps: 3 } as const;
  const a = sd.generate({ ...opts, seed: 1, onStep: () => order.push('a') });
  const controller = new AbortController();
  const b = sd.generate({ ...opts, seed: 2, signal: controller.signal, onStep: () => order.push('b') });
  const c = sd.generate({ ...opts, seed: 3, onStep: () => order.push('c') });
  controller.abort(new Error('not needed'));
  await assert.rejects(b, { message: 'not needed' });
  const [ra, rc] = await Promise.all([a, c]);
  assert.equal(ra![0]!.seed, 1);
  assert.equal(rc![0]!.seed, 3);
  assert.deepEqual(order, ['a', 'a', 'a', 'c', 'c', 'c']);
});

test('an onStep that throws stops the generation and rejects with its error', async () => {
  const sd = await model();
  const boom = new Error('boom');
  let calls = 0;
  await assert.rejects(sd.generate({ prompt: 'a', width: 32, height: 32, steps: 20, onStep: () => { calls++; throw boom; } }), (e) => e === boom);
  assert.equal(calls, 1);
});

test('bad options reject with the exact messages', async () => {
  const sd = await model();
  await assert.rejects(sd.generate({ prompt: 'a', width: 33 }), { code: 'ERR_SD_INVALID_OPTION', message: 'width must be a multiple of 2 between 16 and 1024, got 33' });
  await assert.rejects(sd.generate({ prompt: 'a', steps: 0 }), { message: 'steps must be an integer between 1 and 1000, got 0' });
  await assert.rejects(sd.generate({ prompt: 'a', cfgScale: NaN }), { message: 'cfgScale must be a number between 0 and 100, got NaN' });
  await assert.rejects(sd.generate({ prompt: 'a', seed: 1.5 }), { message: 'seed must be an integer between 0 and 2^53-1 (or -1 for random), got 1.5' });
  await assert.rejects(sd.generate({ prompt: 'a', widht: 32 } as never), { message: 'unknown option "widht"; did you mean "width"?' });
  await assert.rejects(sd.generate({ prompt: 'a', clipSkip: 3 }), { message: 'clipSkip must be an integer between 1 and 2, got 3' });
  await assert.rejects(sd.encodeText('a', { clipSkip: 0 }), { message: 'clipSkip must be an integer between 1 and 2, got 0' });
});

test('img2img: initImage (PNG or raw) of any size, strength in the parameters', async () => {
  const sd = await model();
  const [src] = await sd.generate({ prompt: 'a cat', width: 32, height: 32, steps: 2, seed: 5 });
  const [fromRaw] = await sd.generate({ prompt: 'a dog', steps: 4, seed: 6, initImage: src!, strength: 0.5 });
  assert.equal(fromRaw!.width, 32); // size taken from the init image
  assert.match(fromRaw!.parameters, /Size: 32x32, Model: sd-tiny, Denoising strength: 0\.5, RNG: CPU$/);
  const [fromPng] = await sd.generate({ prompt: 'a dog', steps: 4, seed: 6, initImage: src!.toPNG(), strength: 0.5, width: 32, height: 32 });
  assert.ok(fromPng!.data.equals(fromRaw!.data), 'PNG and raw init images give the same result');
  // another size is fitted (A1111 'just resize' by default); without width/height the image's size, to the VAE's multiple
  const [fitted] = await sd.generate({ prompt: 'a', steps: 1, seed: 6, initImage: src!, width: 48, height: 40 });
  assert.deepEqual([fitted!.width, fitted!.height], [48, 40]);
  const [odd] = await sd.generate({ prompt: 'a', steps: 1, seed: 6, initImage: { data: new Uint8Array(35 * 32 * 3), width: 35, height: 32, channels: 3 } });
  assert.deepEqual([odd!.width, odd!.height], [36, 32]);
  await assert.rejects(sd.generate({ prompt: 'a', initImage: { data: new Uint8Array(8 * 8 * 3), width: 8, height: 8, channels: 3 } }),
    { code: 'ERR_SD_IMAGE', message: 'initImage is 8×8, which this model cannot use: width must be a multiple of 2 between 16 and 1024, got 8' });
});

test('load errors are clear and the process stays healthy', async () => {
  const missing = join(tempDir(), 'nope.safetensors');
  await assert.rejects(StableDiffusion.load(missing), (e: unknown) => {
    assert.ok(e instanceof SdError);
    assert.equal(e.code, 'ERR_SD_LOAD');
    assert.equal(e.message, `"${missing}": cannot open the file: No such file or directory; check the path`);
    return true;
  });
  const rng = join(fixtures, 'rng.safetensors');
  await assert.rejects(StableDiffusion.load(rng), { message: new RegExp(`^"${rng}" is not a Stable Diffusion checkpoint: no UNet \\(model\\.diffusion_model\\.\\*\\) found among its \\d+ tensors`) });
  const truncated = join(tempDir(), 'truncated.safetensors');
  const full = readFileSync(tinyCheckpoint());
  writeFileSync(truncated, full.subarray(0, Math.floor(full.length / 2)));
  await assert.rejects(StableDiffusion.load(truncated), { message: /^".*truncated\.safetensors": tensor ".+" has data_offsets \[\d+, \d+\) outside the data section \(\d+ bytes\); the file is truncated or corrupt — re-download it$/ });
  await assert.rejects(StableDiffusion.load(''), { code: 'ERR_SD_INVALID_OPTION' });
  await assert.rejects(StableDiffusion.load(tinyCheckpoint(), { dtype: 'f16' as never }), { message: 'dtype must be one of "f32", "bf16", got "f16"' });
  // Healthy afterwards: a fresh load generates.
  const copy = join(tempDir(), 'copy.safetensors');
  copyFileSync(tinyCheckpoint(), copy);
  const sd = await StableDiffusion.load(copy, { threads: 1 });
  assert.equal((await sd.generate({ prompt: 'a', width: 32, height: 32, steps: 1, seed: 3 }))[0]!.width, 32);
  sd.dispose();
});

test('load: signal and onProgress', async () => {
  const reason = new Error('cancelled load');
  await assert.rejects(StableDiffusion.load(tinyCheckpoint(), { signal: AbortSignal.abort(reason) }), (e) => e === reason);
  const phases: string[] = [];
  const sd = await StableDiffusion.load(tinyCheckpoint(), { onProgress: (e) => phases.push(`${e.phase}:${e.fraction}`) });
  assert.deepEqual(phases, ['loading:0', 'ready:1']);
  sd.dispose();
});

test('dispose during generate rejects the running and queued calls; later calls say disposed', async () => {
  const sd = await StableDiffusion.load(tinyCheckpoint(), { threads: 2 });
  let started!: () => void;
  const running = new Promise<void>((r) => (started = r));
  const a = sd.generate({ prompt: 'a', width: 64, height: 64, steps: 60, onStep: (e) => e.step === 2 && started() });
  const b = sd.generate({ prompt: 'b', width: 32, height: 32, steps: 2 });
  await running;
  sd.dispose();
  await assert.rejects(a, { code: 'ERR_SD_DISPOSED', message: 'model disposed during generation' });
  await assert.rejects(b, { code: 'ERR_SD_DISPOSED', message: 'model disposed before the call started' });
  await assert.rejects(sd.generate({ prompt: 'c' }), { code: 'ERR_SD_DISPOSED', message: 'this model has been disposed; load it again with StableDiffusion.load()' });
  assert.equal(sd.disposed, true);
  sd.dispose(); // idempotent
});

test('Symbol.asyncDispose cancels the call in flight and waits until it has settled', async () => {
  const sd = await StableDiffusion.load(tinyCheckpoint(), { threads: 2 });
  let started!: () => void;
  const running = new Promise<void>((r) => (started = r));
  const p = sd.generate({ prompt: 'a', width: 32, height: 32, steps: 30, onStep: () => started() });
  const settled = p.then(() => 'resolved', (e: Error) => e.message);
  await running;
  await sd[Symbol.asyncDispose]();
  assert.equal(await Promise.race([settled, new Promise((r) => setImmediate(() => r('pending')))]), 'model disposed during generation');
});

test('noise(): forward diffusion strip (when the addon has noiseStrip)', async (t) => {
  const sd = await model();
  const [src] = await sd.generate({ prompt: 'a cat', width: 32, height: 32, steps: 2, seed: 5 });
  try {
    const frames = await sd.noise(src!, { timesteps: [0, 500, 999], seed: 1 });
    assert.equal(frames.length, 3);
    assert.deepEqual(frames.map((f) => [f.width, f.height, f.timestep, f.data.length]), [[32, 32, 0, 4096], [32, 32, 500, 4096], [32, 32, 999, 4096]]);
  } catch (e) {
    if ((e as SdError).code === 'ERR_SD_UNSUPPORTED') return t.skip('addon has no noiseStrip yet');
    throw e;
  }
});

test('dispose the shared model', async () => {
  (await model()).dispose();
});

test('cfgRescale 0 is plain CFG; φ > 0 changes the image (the formula is golden-tested in test_samplers)', async () => {
  const sd = await StableDiffusion.load(tinyCheckpoint(), { threads: 2 });
  after(() => sd.dispose());
  const run = async (cfgRescale?: number) =>
    (await sd.generate({ prompt: 'a cat', width: 32, height: 32, steps: 3, seed: 4, cfgScale: 9, ...(cfgRescale === undefined ? {} : { cfgRescale }) }))[0]!.data;
  const plain = await run();
  assert.ok((await run(0)).equals(plain));
  assert.ok(!(await run(0.7)).equals(plain));
  await assert.rejects(run(1.5), { code: 'ERR_SD_INVALID_OPTION', message: /cfgRescale must be .*between 0 and 1/ });
});

test('tiling: with circular padding the VAE decoder commutes with a wrap-around shift (A1111 "Tiling")', async () => {
  const { native } = await import('../../lib/binding.js');
  const raw = await native.loadModel(tinyCheckpoint(), { threads: 2, compute: 'f32', prediction: '', vae: '', loraCacheMB: 0, vaeMemoryMB: 3072, taesd: '', device: 'cpu' });
  after(() => raw.dispose());
  const prompt = () => ({ ids: new Int32Array(77).fill(49407).fill(49406, 0, 1), weights: new Float32Array(77).fill(1), eot: new Int32Array([1]),
    embedPositions: new Int32Array(0), embedMain: new Float32Array(0), embedSecond: new Float32Array(0) });
  const generate = (tiling: boolean) => raw.generate({
    cond: prompt(), uncond: prompt(), width: 32, height: 32, steps: 2, batch: 1, clipSkip: 1, cfgScale: 7, cfgRescale: 0, seed: 1,
    sampler: 'euler', scheduler: 'normal', rng: 'cpu', eta: 1, strength: 0.75, exactSteps: false, decode: true, vaeTiling: 'auto', preview: 'off', decoder: 'vae',
    originalWidth: 0, originalHeight: 0, cropTop: 0, cropLeft: 0, targetWidth: 0, targetHeight: 0, adapters: [], tiling,
  }, undefined, new Int32Array(1));
  // a latent shifted 3 columns right, wrapping (16×16 latent → 32×32 image: 6 pixels)
  const shiftedBy = (z: Float32Array) => z.map((_, i) => z[Math.floor(i / 16) * 16 + ((i % 16) + 13) % 16]!);
  const shiftErrors = async () => {
    const z = (await generate(true)).latent;
    const a = (await raw.decodeLatent(z, 1, 16, 16, 'false')).images[0]!, b = (await raw.decodeLatent(shiftedBy(z), 1, 16, 16, 'false')).images[0]!;
    let worst = 0;
    for (let y = 0; y < 32; ++y) for (let x = 0; x < 32; ++x) for (let c = 0; c < 3; ++c)
      worst = Math.max(worst, Math.abs(b[(y * 32 + x) * 4 + c]! - a[(y * 32 + (x + 26) % 32) * 4 + c]!));
    return worst;
  };
  assert.ok((await shiftErrors()) <= 1, 'tiled: decode(shift(z)) = shift(decode(z)) within a grey level');
  await generate(false); // the padding follows the last generation
  const z = (await generate(false)).latent;
  const a = (await raw.decodeLatent(z, 1, 16, 16, 'false')).images[0]!, b = (await raw.decodeLatent(shiftedBy(z), 1, 16, 16, 'false')).images[0]!;
  let edge = 0;
  for (let y = 0; y < 32; ++y) for (let c = 0; c < 3; ++c) edge = Math.max(edge, Math.abs(b[(y * 32) * 4 + c]! - a[(y * 32 + 26) * 4 + c]!));
  assert.ok(edge > 1, 'zero padding: the wrapped column differs at the border');
  const sd = await StableDiffusion.load(tinyCheckpoint(), { threads: 2 });
  after(() => sd.dispose());
  const [img] = await sd.generate({ prompt: 'a brick wall', width: 32, height: 32, steps: 2, seed: 2, tiling: true });
  assert.match(img!.parameters, /RNG: CPU, Tiling: True/);
});
