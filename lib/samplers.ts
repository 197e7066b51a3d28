// Sampler and scheduler names: the canonical (k-diffusion / ComfyUI) names the native core uses, and
// the names users bring from AUTOMATIC1111, ComfyUI, stable-diffusion.cpp, k-diffusion and diffusers.
// Matching ignores case, spaces, underscores and hyphens ("DPM++ 2M" = "dpm++2m" = "dpm++_2m"); the
// table test checks that no two names collide under that folding.
//
//   resolveSampler('Euler a')          // 'euler_ancestral'
//   resolveScheduler('Karras')         // 'karras'
//   resolveScheduler('Automatic', 'ddim')  // 'ddim_uniform' (the sampler's own default)
//   resolveSamplerSpec('DPM++ 2M Karras')  // { sampler: 'dpmpp_2m', scheduler: 'karras' } (old A1111 names)

export const SAMPLER_NAMES = [
  'euler',
  'euler_ancestral',
  'heun',
  'dpm_2',
  'dpm_2_ancestral',
  'lms',
  'dpmpp_2m',
  'dpmpp_2s_ancestral',
  'dpmpp_2m_sde',
  'ddim',
  'lcm',
] as const;
export type SamplerName = (typeof SAMPLER_NAMES)[number];

export const SCHEDULER_NAMES = ['normal', 'karras', 'exponential', 'sgm_uniform', 'simple', 'ddim_uniform'] as const;
export type SchedulerName = (typeof SCHEDULER_NAMES)[number];

export interface NameInfo<T extends string> {
  name: T;
  aliases: readonly string[];
}

// A1111 label first, then sd.cpp, k-diffusion / A1111 internal, diffusers.
const SAMPLER_ALIASES: Record<SamplerName, readonly string[]> = {
  euler: ['Euler', 'k_euler', 'sample_euler', 'EulerDiscreteScheduler'],
  euler_ancestral: ['Euler a', 'euler_a', 'k_euler_a', 'k_euler_ancestral', 'sample_euler_ancestral', 'EulerAncestralDiscreteScheduler'],
  heun: ['Heun', 'k_heun', 'sample_heun', 'HeunDiscreteScheduler'],
  dpm_2: ['DPM2', 'k_dpm_2', 'sample_dpm_2', 'KDPM2DiscreteScheduler'],
  dpm_2_ancestral: ['DPM2 a', 'dpm2_a', 'k_dpm_2_a', 'k_dpm_2_ancestral', 'sample_dpm_2_ancestral', 'KDPM2AncestralDiscreteScheduler'],
  lms: ['LMS', 'k_lms', 'sample_lms', 'LMSDiscreteScheduler'],
  dpmpp_2m: ['DPM++ 2M', 'dpm++2m', 'k_dpmpp_2m', 'sample_dpmpp_2m', 'DPMSolverMultistepScheduler'],
  dpmpp_2s_ancestral: ['DPM++ 2S a', 'dpm++2s_a', 'dpmpp_2s_a', 'k_dpmpp_2s_a', 'k_dpmpp_2s_ancestral', 'sample_dpmpp_2s_ancestral'],
  dpmpp_2m_sde: ['DPM++ 2M SDE', 'dpm++2m_sde', 'k_dpmpp_2m_sde', 'sample_dpmpp_2m_sde'],
  ddim: ['DDIM', 'DDIMScheduler'],
  lcm: ['LCM', 'sample_lcm'],
};

// A1111 "Uniform" and "Normal" both give k-diffusion get_sigmas(n); sd.cpp calls it "discrete".
// A1111's scheduler "DDIM" is ComfyUI's ddim_uniform.
const SCHEDULER_ALIASES: Record<SchedulerName, readonly string[]> = {
  normal: ['Normal', 'Uniform', 'discrete'],
  karras: ['Karras'],
  exponential: ['Exponential'],
  sgm_uniform: ['SGM Uniform'],
  simple: ['Simple'],
  ddim_uniform: ['DDIM'],
};

// "Automatic" (A1111), "default" (sd.cpp): the sampler's own default schedule.
const AUTOMATIC_ALIASES = ['automatic', 'auto', 'default'] as const;

const DEFAULT_SCHEDULER: Record<SamplerName, SchedulerName> = {
  euler: 'normal',
  euler_ancestral: 'normal',
  heun: 'normal',
  dpm_2: 'normal',
  dpm_2_ancestral: 'normal',
  lms: 'normal',
  dpmpp_2m: 'normal',
  dpmpp_2s_ancestral: 'normal',
  dpmpp_2m_sde: 'normal',
  ddim: 'ddim_uniform',
  lcm: 'normal',
};

/** Folding used for matching: lower case, without spaces, underscores and hyphens. */
export function foldName(name: string): string {
  return name.toLowerCase().replace(/[\s_-]+/g, '');
}

function buildIndex<T extends string>(names: readonly T[], aliases: Record<T, readonly string[]>): Map<string, T> {
  const index = new Map<string, T>();
  for (const name of names) {
    for (const spelling of [name, ...aliases[name]]) {
      const key = foldName(spelling);
      const prev = index.get(key);
      if (prev !== undefined && prev !== name) throw new Error(`name table: "${spelling}" is ambiguous (${prev}, ${name})`);
      index.set(key, name);
    }
  }
  return index;
}

const samplerIndex = buildIndex(SAMPLER_NAMES, SAMPLER_ALIASES);
const schedulerIndex = buildIndex(SCHEDULER_NAMES, SCHEDULER_ALIASES);
const automaticKeys = new Set<string>(AUTOMATIC_ALIASES.map(foldName));

export function samplers(): NameInfo<SamplerName>[] {
  return SAMPLER_NAMES.map((name) => ({ name, aliases: SAMPLER_ALIASES[name] }));
}

export function schedulers(): NameInfo<SchedulerName>[] {
  return SCHEDULER_NAMES.map((name) => ({ name, aliases: SCHEDULER_ALIASES[name] }));
}

export function isSamplerName(name: string): name is SamplerName {
  return (SAMPLER_NAMES as readonly string[]).includes(name);
}

/** Canonical sampler name for any known spelling; throws `unknown sampler "x"; known: …`. */
export function resolveSampler(name: string): SamplerName {
  const hit = samplerIndex.get(foldName(name));
  if (hit === undefined) throw new Error(`unknown sampler "${name}"; known: ${SAMPLER_NAMES.join(', ')}`);
  return hit;
}

/** The schedule "Automatic" means for a sampler (ddim: its own uniform timesteps; others: normal). */
export function defaultScheduler(sampler: string): SchedulerName {
  return DEFAULT_SCHEDULER[resolveSampler(sampler)];
}

/**
 * Canonical scheduler name; "Automatic"/"auto"/"default" resolve to the sampler's default
 * (`sampler` defaults to euler). Throws `unknown scheduler "x"; known: automatic, normal, …`.
 */
export function resolveScheduler(name: string, sampler: string = 'euler'): SchedulerName {
  const key = foldName(name);
  if (automaticKeys.has(key)) return defaultScheduler(sampler);
  const hit = schedulerIndex.get(key);
  if (hit === undefined) {
    throw new Error(`unknown scheduler "${name}"; known: automatic, ${SCHEDULER_NAMES.join(', ')}`);
  }
  return hit;
}

/**
 * Also accepts A1111's older combined names ("DPM++ 2M Karras", "LMS Karras", "DPM++ 2M SDE
 * Exponential"): the sampler part and the scheduler suffix. scheduler is undefined for a plain name.
 */
export function resolveSamplerSpec(name: string): { sampler: SamplerName; scheduler: SchedulerName | undefined } {
  const direct = samplerIndex.get(foldName(name));
  if (direct !== undefined) return { sampler: direct, scheduler: undefined };
  const m = /^(.*\S)\s+(karras|exponential)$/i.exec(name.trim());
  const base = m ? samplerIndex.get(foldName(m[1]!)) : undefined;
  if (m && base !== undefined) return { sampler: base, scheduler: resolveScheduler(m[2]!) };
  return { sampler: resolveSampler(name), scheduler: undefined };  // throws the usual message
}
