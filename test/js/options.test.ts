import { test } from 'node:test';
import assert from 'node:assert/strict';

import { SdError } from '../../lib/errors.js';
import {
  GENERATE_OPTIONS, LOAD_OPTIONS, checkValue, forModel, resolveGenerateOptions, resolveLoadOptions, suggest, type ModelLimits,
} from '../../lib/options.js';

const SD1: ModelLimits = { vaeDownscale: 8, clipLayers: 12, defaultSize: 512 };
const TINY: ModelLimits = { vaeDownscale: 2, clipLayers: 2, defaultSize: 512 };

function rejects(options: unknown, message: string, limits = SD1) {
  assert.throws(() => resolveGenerateOptions(options, limits), (e: unknown) => {
    assert.ok(e instanceof SdError, 'an SdError');
    assert.equal(e.code, 'ERR_SD_INVALID_OPTION');
    assert.equal(e.message, message);
    return true;
  });
}

test('generate options: exact messages', () => {
  rejects({ prompt: 'a', width: 500 }, 'width must be a multiple of 8 between 64 and 4096, got 500');
  rejects({ prompt: 'a', height: 4104 }, 'height must be a multiple of 8 between 64 and 4096, got 4104');
  rejects({ prompt: 'a', width: '512' }, 'width must be a multiple of 8 between 64 and 4096, got "512"');
  rejects({ prompt: 'a', steps: 0 }, 'steps must be an integer between 1 and 1000, got 0');
  rejects({ prompt: 'a', steps: 2.5 }, 'steps must be an integer between 1 and 1000, got 2.5');
  rejects({ prompt: 'a', cfgScale: NaN }, 'cfgScale must be a number between 0 and 100, got NaN');
  rejects({ prompt: 'a', cfgScale: Infinity }, 'cfgScale must be a number between 0 and 100, got Infinity');
  rejects({ prompt: 'a', strength: 2 }, 'strength must be a number between 0 and 1, got 2');
  rejects({ prompt: 'a', batchSize: 0 }, 'batchSize must be an integer between 1 and 16, got 0');
  rejects({ prompt: 'a', seed: 1.5 }, 'seed must be an integer between 0 and 2^53-1 (or -1 for random), got 1.5');
  rejects({ prompt: 'a', seed: -2 }, 'seed must be an integer between 0 and 2^53-1 (or -1 for random), got -2');
  rejects({ prompt: 'a', seed: 2 ** 53 }, 'seed must be an integer between 0 and 2^53-1 (or -1 for random), got 9007199254740992');
  rejects({ prompt: 'a', widht: 512 }, 'unknown option "widht"; did you mean "width"?');
  rejects({ prompt: 'a', cfg_scale: 7 }, 'unknown option "cfg_scale"; did you mean "cfgScale"?');
  rejects({ prompt: 'a', guidance: 7 }, 'unknown option "guidance"; generate() takes ' + GENERATE_OPTIONS.map((o) => o.name).join(', '));
  rejects({}, 'prompt must be a string, got undefined');
  rejects({ prompt: 42 }, 'prompt must be a string, got 42');
  rejects({ prompt: 'a', rng: 'gpu' }, 'rng must be one of "cpu", "cuda", "nv", got "gpu"');
  rejects({ prompt: 'a', onStep: 'x' }, 'onStep must be a function, got "x"');
  rejects({ prompt: 'a', signal: {} }, 'signal must be an AbortSignal, got an object');
  rejects({ prompt: 'a', initImage: 'cat.png' }, 'initImage must be PNG, JPEG or WebP bytes or { data, width, height, channels }, got "cat.png"');
  rejects({ prompt: 'a', sampler: 'Euler b' }, 'sampler: unknown sampler "Euler b"; known: euler, euler_ancestral, heun, dpm_2, dpm_2_ancestral, lms, dpmpp_2m, dpmpp_2s_ancestral, dpmpp_2m_sde, dpmpp_2m_sde_heun, dpmpp_sde, dpmpp_3m_sde, ipndm, ipndm_v, ddim, lcm, uni_pc, uni_pc_bh2, plms, dpm_fast, dpm_adaptive, restart, ddim_cfgpp');
  rejects({ prompt: 'a', scheduler: 'cosine' }, 'scheduler: unknown scheduler "cosine"; known: automatic, normal, karras, exponential, sgm_uniform, simple, ddim_uniform, align_your_steps, align_your_steps_gits, beta, kl_optimal');
  rejects(null, 'generate() options must be an object, got null');
});

test('generate defaults (SD1): 512², 20 steps, CFG 7, Euler a, automatic schedule, random seed, cpu rng', () => {
  const s = resolveGenerateOptions({ prompt: 'a cat' }, SD1);
  assert.equal(s.width, 512);
  assert.equal(s.height, 512);
  assert.equal(s.steps, 20);
  assert.equal(s.cfgScale, 7);
  assert.equal(s.sampler, 'euler_ancestral');
  assert.equal(s.scheduler, 'normal');
  assert.equal(s.schedulerLabel, 'automatic');
  assert.equal(s.rng, 'cpu');
  assert.equal(s.clipSkip, 1);
  assert.equal(s.batchSize, 1);
  assert.equal(s.strength, 0.75);
  assert.equal(s.vaeTiling, 'auto');
  assert.equal(resolveGenerateOptions({ prompt: 'a', vaeTiling: true }, SD1).vaeTiling, true);
  assert.equal(resolveGenerateOptions({ prompt: 'a', vaeTiling: false }, SD1).vaeTiling, false);
  assert.throws(() => resolveGenerateOptions({ prompt: 'a', vaeTiling: 'yes' }, SD1), { message: 'vaeTiling must be one of "auto", true, false, got "yes"' });
  assert.equal(s.negativePrompt, '');
  assert.ok(Number.isInteger(s.seed) && s.seed >= 0 && s.seed < 2 ** 32 - 1, `random seed ${s.seed}`);
  assert.equal(resolveGenerateOptions({ prompt: 'a', seed: 42 }, SD1).seed, 42);
  assert.equal(resolveGenerateOptions({ prompt: 'a', seed: 0 }, SD1).seed, 0);
  assert.equal(resolveGenerateOptions({ prompt: 'a' }, { ...SD1, defaultSize: 1024 }).width, 1024);
});

test("a model's recorded steps and CFG scale replace the defaults, never a given value", () => {
  const tiny = { ...SD1, defaultSteps: 40, defaultCfgScale: 4 };
  const s = resolveGenerateOptions({ prompt: 'a' }, tiny);
  assert.deepEqual([s.steps, s.cfgScale], [40, 4]);
  const given = resolveGenerateOptions({ prompt: 'a', steps: 12, cfgScale: 7.5 }, tiny);
  assert.deepEqual([given.steps, given.cfgScale], [12, 7.5]);
  const plain = resolveGenerateOptions({ prompt: 'a' }, SD1);
  assert.deepEqual([plain.steps, plain.cfgScale], [20, 7]);
});

test('sizes follow the VAE downscale factor; clipSkip follows the text encoder depth', () => {
  assert.equal(resolveGenerateOptions({ prompt: 'a', width: 32, height: 48 }, TINY).width, 32);
  rejects({ prompt: 'a', width: 33 }, 'width must be a multiple of 2 between 16 and 1024, got 33', TINY);
  rejects({ prompt: 'a', width: 8 }, 'width must be a multiple of 2 between 16 and 1024, got 8', TINY);
  rejects({ prompt: 'a', clipSkip: 3 }, 'clipSkip must be an integer between 1 and 2, got 3', TINY);
  rejects({ prompt: 'a', clipSkip: 13 }, 'clipSkip must be an integer between 1 and 12, got 13');
  assert.equal(resolveGenerateOptions({ prompt: 'a', clipSkip: 2 }, SD1).clipSkip, 2);
});

test('sampler and scheduler names resolve through the contract in lib/options.ts', () => {
  const a = resolveGenerateOptions({ prompt: 'a', sampler: 'DPM++ 2M Karras' }, SD1);
  assert.deepEqual([a.sampler, a.scheduler, a.schedulerLabel], ['dpmpp_2m', 'karras', 'karras']);
  const b = resolveGenerateOptions({ prompt: 'a', sampler: 'DPM++ 2M Karras', scheduler: 'Exponential' }, SD1);
  assert.deepEqual([b.sampler, b.scheduler], ['dpmpp_2m', 'exponential']);
  const c = resolveGenerateOptions({ prompt: 'a', sampler: 'DDIM' }, SD1);
  assert.deepEqual([c.sampler, c.scheduler, c.schedulerLabel], ['ddim', 'ddim_uniform', 'automatic']);
  const d = resolveGenerateOptions({ prompt: 'a', sampler: 'Euler', scheduler: 'Uniform' }, SD1);
  assert.deepEqual([d.sampler, d.scheduler, d.schedulerLabel], ['euler', 'normal', 'normal']);
  assert.equal(resolveGenerateOptions({ prompt: 'a', rng: 'NV' }, SD1).rng, 'cuda');
  assert.equal(resolveGenerateOptions({ prompt: 'a', rng: 'cuda' }, SD1).rng, 'cuda');
});

test('load options', () => {
  assert.deepEqual(resolveLoadOptions(undefined), { threads: 0, dtype: 'f32', prediction: 'auto', vae: '', loraDir: '', loraCacheMB: 1024, vaeMemoryMB: 3072, embeddingsDir: '', maxPromptChunks: 16, taesd: '', device: 'auto', signal: undefined, onProgress: undefined });
  assert.throws(() => resolveLoadOptions({ loraCacheMB: -1 }), { message: 'loraCacheMB must be an integer between 0 and 1048576, got -1' });
  assert.throws(() => resolveLoadOptions({ dtype: 'f16' }), { message: 'dtype must be one of "f32", "bf16", got "f16"' });
  assert.throws(() => resolveLoadOptions({ threads: -1 }), { message: 'threads must be an integer between 0 and 1024, got -1' });
  assert.throws(() => resolveLoadOptions({ dtpye: 'bf16' }), { message: 'unknown option "dtpye"; did you mean "dtype"?' });
  assert.throws(() => resolveLoadOptions({ prediction: 'x' }), { message: 'prediction must be one of "auto", "eps", "v", got "x"' });
  assert.equal(resolveLoadOptions({ device: 'cuda:1' }).device, 'cuda:1');
  for (const device of ['gpu', 'cuda:', 'cuda:x', 'CPU']) {
    assert.throws(() => resolveLoadOptions({ device }), { code: 'ERR_SD_INVALID_OPTION', message: `device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'emulated', got "${device}"` });
  }
});

test('the tables are consistent: every default passes its own check', () => {
  for (const table of [GENERATE_OPTIONS, LOAD_OPTIONS]) {
    const names = new Set<string>();
    for (const spec of table) {
      assert.ok(!names.has(spec.name), `duplicate ${spec.name}`);
      names.add(spec.name);
      assert.ok(spec.doc.length > 0, `${spec.name} documented`);
      if (spec.default !== undefined) assert.deepEqual(checkValue(forModel(spec, SD1), spec.default), spec.default, spec.name);
      if (spec.type === 'integer' || spec.type === 'number') assert.ok(spec.min! <= spec.max!, spec.name);
    }
  }
  assert.equal(suggest('stesp', ['steps', 'seed']), 'steps');
  assert.equal(suggest('zzzzzz', ['steps', 'seed']), undefined);
});
