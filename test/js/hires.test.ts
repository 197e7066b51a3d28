// The hires fix: A1111's target-size rules (StableDiffusionProcessingTxt2Img.init), and the two
// passes on the tiny SD1 checkpoint — the second pass must be exactly an exact-steps img2img from
// the first pass's latent enlarged by torch's interpolate (checked bit for bit against the addon run
// by hand), with A1111's infotext.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { SdError, StableDiffusion, type StepEvent } from '../../lib/index.js';
import { native } from '../../lib/binding.js';
import { hiresTarget } from '../../lib/hires.js';
import { upscaleLatent } from '../../lib/latent-upscale.js';
import type { HiresSettings } from '../../lib/options.js';
import { ClipTokenizer } from '../../lib/tokenizer/index.js';
import { tinyCheckpoint } from '../helpers/tiny-checkpoint.js';

let shared: Promise<StableDiffusion> | undefined;
const model = () => (shared ??= StableDiffusion.load(tinyCheckpoint(), { threads: 2 }));

const hires = (o: Partial<HiresSettings>): HiresSettings =>
  ({ scale: 2, width: 0, height: 0, upscaler: 'latent', steps: 0, strength: 0.7, sampler: 'euler', scheduler: 'normal', samplerGiven: '', prompt: '', negativePrompt: '', ...o });

test('target sizes follow A1111: scale, one side, or both sides with the overhang cropped', () => {
  assert.deepEqual(hiresTarget(512, 512, hires({ scale: 2 }), 8), { upscaleWidth: 1024, upscaleHeight: 1024, truncateX: 0, truncateY: 0, width: 1024, height: 1024 });
  // int(520 · 1.3) = 676, whose latent is 84 columns: 672 pixels
  assert.deepEqual(hiresTarget(520, 512, hires({ scale: 1.3 }), 8), { upscaleWidth: 676, upscaleHeight: 665, truncateX: 0, truncateY: 0, width: 672, height: 664 });
  assert.deepEqual(hiresTarget(512, 768, hires({ width: 1024 }), 8), { upscaleWidth: 1024, upscaleHeight: 1536, truncateX: 0, truncateY: 0, width: 1024, height: 1536 });
  assert.deepEqual(hiresTarget(512, 768, hires({ height: 1152 }), 8), { upscaleWidth: 768, upscaleHeight: 1152, truncateX: 0, truncateY: 0, width: 768, height: 1152 });
  // 1000×600 from a square: fill to 1000×1000, cut (1000 − 600) // 8 = 50 latent rows
  assert.deepEqual(hiresTarget(512, 512, hires({ width: 1000, height: 600 }), 8), { upscaleWidth: 1000, upscaleHeight: 1000, truncateX: 0, truncateY: 50, width: 1000, height: 600 });
});

const base = { prompt: 'a lighthouse at dusk', negativePrompt: 'blurry', width: 32, height: 32, steps: 3, cfgScale: 5, seed: 11, sampler: 'euler', scheduler: 'normal' };

test('latent hires fix = first pass, torch-interpolated latent, exact-steps img2img at the target size', async () => {
  const sd = await model();
  const events: StepEvent[] = [];
  const [img] = await sd.generate({ ...base, hires: true, hiresScale: 2, hiresSteps: 2, hiresStrength: 0.6, onStep: (e) => events.push(e) });
  assert.deepEqual([img!.width, img!.height], [64, 64]);
  assert.deepEqual(events.map((e) => `${e.step}/${e.steps}`), ['1/5', '2/5', '3/5', '4/5', '5/5']);
  assert.match(img!.parameters, /Steps: 3, Sampler: Euler, Schedule type: Normal, CFG scale: 5, Seed: 11, Size: 32x32, Model: sd-tiny, Denoising strength: 0\.6, RNG: CPU, Hires upscale: 2, Hires steps: 2, Hires upscaler: Latent$/);

  // The same two passes by hand through the addon (empty prompts: plain token rows).
  const [viaHires] = await sd.generate({ ...empty, hires: true, hiresScale: 2, hiresSteps: 2, hiresStrength: 0.6 });
  assert.ok((await secondPassByHand(sd, '', '')).equals(viaHires!.data), 'the hires image is the hand-run second pass, byte for byte');
});

// Empty first-pass prompts, and hires prompts without weights or tags, so the hand-made token rows
// (SOT, the BPE ids, EOT padding) are exactly the pipeline's.
const empty = { ...base, prompt: '', negativePrompt: '' };
const tokenizer = ClipTokenizer.load();
const tokenRows = (text: string) => {
  const bpe = tokenizer.encode(text), ids = new Int32Array(77).fill(49407);
  ids[0] = 49406, ids.set(bpe, 1);
  return { ids, weights: new Float32Array(77).fill(1), eot: new Int32Array([bpe.length + 1]),
    embedPositions: new Int32Array(0), embedMain: new Float32Array(0), embedSecond: new Float32Array(0) };
};

// The first pass of `empty`, its latent enlarged 2× as torch does, then a 2-step exact img2img at
// 64² conditioned on the given prompts, run through the addon directly.
async function secondPassByHand(sd: StableDiffusion, prompt: string, negativePrompt: string): Promise<Buffer> {
  const [plain] = await sd.generate({ ...empty });
  const big = upscaleLatent(plain!.latent, [1, 4, 16, 16], 32, 32, 'latent');
  const raw = await native.loadModel(tinyCheckpoint(), { threads: 2, compute: 'f32', prediction: '', vae: '', loraCacheMB: 0, vaeMemoryMB: 3072, taesd: '', device: 'cpu' });
  try {
    const r = await raw.generate({
      cond: tokenRows(prompt), uncond: tokenRows(negativePrompt), width: 64, height: 64, steps: 2, batch: 1, clipSkip: 1, cfgScale: 5, cfgRescale: 0, seed: 11,
      sampler: 'euler', scheduler: 'normal', rng: 'cpu', eta: 1, strength: 0.6, exactSteps: true, decode: true, vaeTiling: 'auto', tiling: false, preview: 'off', decoder: 'vae',
      originalWidth: 0, originalHeight: 0, cropTop: 0, cropLeft: 0, targetWidth: 0, targetHeight: 0, adapters: [], initLatent: big,
    }, undefined, new Int32Array(1));
    return Buffer.from(r.images[0]!);
  } finally {
    raw.dispose();
  }
}

test("hiresPrompt / hiresNegativePrompt condition the second pass only (A1111's hr_prompt), and read back from the infotext", async () => {
  const { generateOptions, readParameters } = await import('../../lib/index.js');
  const sd = await model();
  const own = { hiresPrompt: 'a lighthouse', hiresNegativePrompt: 'fog' };
  const [img] = await sd.generate({ ...empty, hires: true, hiresScale: 2, hiresSteps: 2, hiresStrength: 0.6, ...own });
  assert.ok((await secondPassByHand(sd, own.hiresPrompt, own.hiresNegativePrompt)).equals(img!.data), 'the second pass is conditioned on the hires prompts, byte for byte');
  assert.match(img!.parameters, /Hires upscaler: Latent, Hires prompt: a lighthouse, Hires negative prompt: fog$/);
  const read = generateOptions(readParameters(img!.toPNG()));
  assert.deepEqual([read.hiresPrompt, read.hiresNegativePrompt], [own.hiresPrompt, own.hiresNegativePrompt]);
  // A hires prompt equal to the first is the same prompt: no infotext entry, the same image.
  const [same] = await sd.generate({ ...base, hires: true, hiresSteps: 2, hiresPrompt: base.prompt });
  const [plain] = await sd.generate({ ...base, hires: true, hiresSteps: 2 });
  assert.ok(same!.data.equals(plain!.data));
  assert.doesNotMatch(same!.parameters, /Hires prompt/);
});

test('image upscalers run a second pass per image; bad hires settings are clear errors', async () => {
  const sd = await model();
  const imgs = await sd.generate({ ...base, batchSize: 2, hires: true, hiresUpscaler: 'lanczos', hiresWidth: 48, hiresHeight: 40, hiresSampler: 'DPM++ 2M' });
  assert.deepEqual(imgs.map((i) => [i.width, i.height, i.seed]), [[48, 40, 11], [48, 40, 12]]);
  assert.match(imgs[1]!.parameters, /Size: 32x32, .*Denoising strength: 0\.7, RNG: CPU, Hires resize: 48x40, Hires upscaler: Lanczos, Hires sampler: DPM\+\+ 2M$/);
  const rejects = (o: object, re: RegExp) => assert.rejects(sd.generate({ ...base, hires: true, ...o } as never), (e: unknown) => e instanceof SdError && re.test(e.message));
  await rejects({ hiresScale: 0 }, /hiresScale must be .*between 1 and 8/);
  await rejects({ hiresScale: 100 }, /hiresScale must be .*between 1 and 8/);
  await rejects({ hiresScale: 8, width: 256, height: 256 }, /the hires fix target is 2048×2048, which this model cannot use/);
  await rejects({ initImage: { data: new Uint8Array(32 * 32 * 3), width: 32, height: 32, channels: 3 } }, /hires is a txt2img option/);
  await rejects({ hiresSampler: 'Euler z' }, /hiresSampler \/ hiresScheduler: unknown sampler "Euler z"/);
});

test('a hires image reproduces from its own infotext: readParameters → generateOptions → generate', async () => {
  const { generateOptions, readParameters } = await import('../../lib/index.js');
  const sd = await model();
  const [img] = await sd.generate({ ...base, hires: true, hiresScale: 1.5, hiresSteps: 2, hiresStrength: 0.55, hiresUpscaler: 'latent_bicubic', hiresSampler: 'DPM++ 2M' });
  const options = generateOptions(readParameters(img!.toPNG()));
  assert.deepEqual({ ...options, prompt: undefined }, {
    prompt: undefined, negativePrompt: 'blurry', clipSkip: 1, rng: 'cpu', steps: 3, sampler: 'euler', scheduler: 'normal', cfgScale: 5, seed: 11, width: 32, height: 32,
    hires: true, hiresScale: 1.5, hiresSteps: 2, hiresStrength: 0.55, hiresUpscaler: 'latent_bicubic', hiresSampler: 'dpmpp_2m',
  });
  const [again] = await sd.generate(options);
  assert.ok(again!.data.equals(img!.data), 'the same bytes');
});
