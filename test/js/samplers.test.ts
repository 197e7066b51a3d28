// Sampler / scheduler name table: every alias users bring (A1111, ComfyUI, stable-diffusion.cpp,
// k-diffusion, diffusers) resolves to the canonical name the native core registers, and unknown
// names fail with the exact message.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  SAMPLER_NAMES,
  SCHEDULER_NAMES,
  defaultScheduler,
  foldName,
  resolveSampler,
  resolveSamplerSpec,
  resolveScheduler,
  samplers,
  schedulers,
} from '../../lib/options.js';

const KNOWN_SAMPLERS =
  'euler, euler_ancestral, heun, dpm_2, dpm_2_ancestral, lms, dpmpp_2m, dpmpp_2s_ancestral, dpmpp_2m_sde, ' +
  'dpmpp_2m_sde_heun, dpmpp_sde, dpmpp_3m_sde, ipndm, ipndm_v, ddim, lcm, uni_pc, uni_pc_bh2, plms, dpm_fast, ' +
  'dpm_adaptive, restart, ddim_cfgpp';

test('canonical names are the native registry (sd::sample::sampler_names / scheduler_names)', () => {
  assert.equal(SAMPLER_NAMES.join(', '), KNOWN_SAMPLERS);
  assert.deepEqual([...SCHEDULER_NAMES], [
    'normal', 'karras', 'exponential', 'sgm_uniform', 'simple', 'ddim_uniform',
    'align_your_steps', 'align_your_steps_gits', 'beta', 'kl_optimal',
  ]);
  for (const name of SAMPLER_NAMES) assert.equal(resolveSampler(name), name);
  for (const name of SCHEDULER_NAMES) assert.equal(resolveScheduler(name), name);
});

test('A1111 sampler labels', () => {
  const a1111: Record<string, string> = {
    Euler: 'euler',
    'Euler a': 'euler_ancestral',
    Heun: 'heun',
    DPM2: 'dpm_2',
    'DPM2 a': 'dpm_2_ancestral',
    'DPM++ 2M': 'dpmpp_2m',
    'DPM++ 2S a': 'dpmpp_2s_ancestral',
    'DPM++ 2M SDE': 'dpmpp_2m_sde',
    'DPM++ SDE': 'dpmpp_sde',
    'DPM++ 3M SDE': 'dpmpp_3m_sde',
    k_dpmpp_3m_sde: 'dpmpp_3m_sde',
    iPNDM: 'ipndm',
    iPNDM_v: 'ipndm_v',
    LMS: 'lms',
    DDIM: 'ddim',
    LCM: 'lcm',
    UniPC: 'uni_pc',
    PLMS: 'plms',
    'DPM++ 2M SDE Heun': 'dpmpp_2m_sde_heun',
    k_dpmpp_2m_sde_heun: 'dpmpp_2m_sde_heun',
    'DPM fast': 'dpm_fast',
    k_dpm_fast: 'dpm_fast',
    'DPM adaptive': 'dpm_adaptive',
    k_dpm_ad: 'dpm_adaptive',
    Restart: 'restart',
    'DDIM CFG++': 'ddim_cfgpp',
    k_euler_a: 'euler_ancestral',
    k_dpm_2_a: 'dpm_2_ancestral',
    k_dpmpp_2m: 'dpmpp_2m',
  };
  for (const [label, want] of Object.entries(a1111)) assert.equal(resolveSampler(label), want, label);
});

test('stable-diffusion.cpp, k-diffusion and diffusers sampler names', () => {
  const names: Record<string, string> = {
    euler: 'euler',
    euler_a: 'euler_ancestral',
    heun: 'heun',
    dpm2: 'dpm_2',
    'dpm++2s_a': 'dpmpp_2s_ancestral',
    'dpm++2m': 'dpmpp_2m',
    lms: 'lms',
    lcm: 'lcm',
    sample_euler_ancestral: 'euler_ancestral',
    sample_dpmpp_2m: 'dpmpp_2m',
    sample_lms: 'lms',
    EulerAncestralDiscreteScheduler: 'euler_ancestral',
    DPMSolverMultistepScheduler: 'dpmpp_2m',
    KDPM2AncestralDiscreteScheduler: 'dpm_2_ancestral',
    DDIMScheduler: 'ddim',
  };
  for (const [label, want] of Object.entries(names)) assert.equal(resolveSampler(label), want, label);
});

test('case, spaces, underscores and hyphens are ignored', () => {
  for (const s of ['euler a', 'EULER_A', 'Euler-A', ' euler  a ', 'eulerancestral', 'Euler Ancestral']) {
    assert.equal(resolveSampler(s), 'euler_ancestral', s);
  }
  for (const s of ['dpm++ 2m', 'DPM++2M', 'dpmpp-2m', 'DPMPP_2M']) assert.equal(resolveSampler(s), 'dpmpp_2m', s);
  assert.equal(resolveSampler('dpm 2'), 'dpm_2');
  assert.equal(resolveSampler('DPM2A'), 'dpm_2_ancestral');
  assert.equal(foldName(' DPM++ 2S_a '), 'dpm++2sa');
});

test('schedulers: A1111, ComfyUI and stable-diffusion.cpp names', () => {
  const names: Record<string, string> = {
    Karras: 'karras',
    Exponential: 'exponential',
    'SGM Uniform': 'sgm_uniform',
    sgm_uniform: 'sgm_uniform',
    Simple: 'simple',
    Normal: 'normal',
    Uniform: 'normal',
    discrete: 'normal',
    DDIM: 'ddim_uniform',
    ddim_uniform: 'ddim_uniform',
    'ddim-uniform': 'ddim_uniform',
    'Align Your Steps': 'align_your_steps',
    AYS: 'align_your_steps',
    'Align Your Steps GITS': 'align_your_steps_gits',
    Beta: 'beta',
    'KL Optimal': 'kl_optimal',
  };
  for (const [label, want] of Object.entries(names)) assert.equal(resolveScheduler(label), want, label);
});

test('Automatic / default resolves per sampler', () => {
  assert.equal(resolveScheduler('Automatic'), 'normal');
  assert.equal(resolveScheduler('Automatic', 'Euler a'), 'normal');
  assert.equal(resolveScheduler('auto', 'DDIM'), 'ddim_uniform');
  assert.equal(resolveScheduler('default', 'ddim'), 'ddim_uniform');
  assert.equal(defaultScheduler('lcm'), 'normal');
  assert.equal(defaultScheduler('dpm++2m'), 'karras'); // A1111 v1.10: DPM++ 2M, 2S a, DPM2, DPM2 a → Karras; 2M SDE → Exponential
  // A1111 v1.10's own defaults for the samplers it added with a scheduler option
  assert.equal(defaultScheduler('DPM++ 2M SDE Heun'), 'exponential');
  assert.equal(defaultScheduler('Restart'), 'karras');
  assert.equal(defaultScheduler('DDIM CFG++'), 'ddim_uniform');
  assert.equal(defaultScheduler('DPM fast'), 'normal');
});

test('old A1111 combined names split into sampler + scheduler', () => {
  assert.deepEqual(resolveSamplerSpec('DPM++ 2M Karras'), { sampler: 'dpmpp_2m', scheduler: 'karras' });
  assert.deepEqual(resolveSamplerSpec('LMS Karras'), { sampler: 'lms', scheduler: 'karras' });
  assert.deepEqual(resolveSamplerSpec('DPM2 a Karras'), { sampler: 'dpm_2_ancestral', scheduler: 'karras' });
  assert.deepEqual(resolveSamplerSpec('DPM++ 2M SDE Exponential'), { sampler: 'dpmpp_2m_sde', scheduler: 'exponential' });
  assert.deepEqual(resolveSamplerSpec('DPM++ 2M SDE Heun Karras'), { sampler: 'dpmpp_2m_sde_heun', scheduler: 'karras' });
  assert.deepEqual(resolveSamplerSpec('DPM++ 2M SDE Heun'), { sampler: 'dpmpp_2m_sde_heun', scheduler: undefined });
  assert.deepEqual(resolveSamplerSpec('DDIM CFG++'), { sampler: 'ddim_cfgpp', scheduler: undefined });
  assert.deepEqual(resolveSamplerSpec('Euler a'), { sampler: 'euler_ancestral', scheduler: undefined });
  assert.throws(() => resolveSamplerSpec('Foo Karras'), {
    message: `unknown sampler "Foo Karras"; known: ${KNOWN_SAMPLERS}`,
  });
});

test('unknown names: exact messages', () => {
  assert.throws(() => resolveSampler('xyz'), { message: `unknown sampler "xyz"; known: ${KNOWN_SAMPLERS}` });
  // names of samplers we do not implement are not silently mapped to something close
  for (const s of ['ddim_trailing', 'dpm++2mv2', 'tcd', 'DPM adaptive 2', 'euler_cfgpp', '']) {
    assert.throws(() => resolveSampler(s), { message: `unknown sampler "${s}"; known: ${KNOWN_SAMPLERS}` }, s);
  }
  assert.throws(() => resolveScheduler('cosine'), {
    message: 'unknown scheduler "cosine"; known: automatic, normal, karras, exponential, sgm_uniform, simple, ddim_uniform, ' +
      'align_your_steps, align_your_steps_gits, beta, kl_optimal',
  });
  assert.throws(() => resolveScheduler('Automatic', 'nope'), { message: `unknown sampler "nope"; known: ${KNOWN_SAMPLERS}` });
});

test('samplers() / schedulers() list every name with its aliases, no alias shared', () => {
  const list = samplers();
  assert.equal(list.length, 23);
  assert.deepEqual(list.map((s) => s.name), [...SAMPLER_NAMES]);
  const euler = list.find((s) => s.name === 'euler_ancestral');
  assert.ok(euler && euler.aliases.includes('Euler a') && euler.aliases.includes('euler_a'));
  const seen = new Map<string, string>();
  for (const { name, aliases } of list) {
    for (const a of [name, ...aliases]) {
      const key = foldName(a);
      assert.ok(!seen.has(key) || seen.get(key) === name, `${a} collides`);
      seen.set(key, name);
      assert.equal(resolveSampler(a), name);
    }
  }
  const sch = schedulers();
  assert.deepEqual(sch.map((s) => s.name), [...SCHEDULER_NAMES]);
  for (const { name, aliases } of sch) for (const a of aliases) assert.equal(resolveScheduler(a), name);
});
