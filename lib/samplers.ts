// Sampler and scheduler names. The names, their aliases and each sampler's default schedule come
// from the native core's contract (native/include/sd_contract.h); this file only matches what users
// type against them. Matching ignores case, spaces, underscores and hyphens ("DPM++ 2M" = "dpm++2m"
// = "dpm++_2m"); building the index rejects two names that collide under that folding.
//
//   resolveSampler('Euler a')              // 'euler_ancestral'
//   resolveScheduler('Karras')             // 'karras'
//   resolveScheduler('Automatic', 'ddim')  // 'ddim_uniform' (the sampler's own default)
//   resolveSamplerSpec('DPM++ 2M Karras')  // { sampler: 'dpmpp_2m', scheduler: 'karras' } (old A1111 names)
//   resolveNames('DPM++ 2M Karras', 'automatic')  // { sampler, scheduler: 'karras', schedulerLabel: 'karras' }
import { native } from './binding.js';

/** a canonical sampler name: one of samplers().map((s) => s.name) */
export type SamplerName = string;
/** a canonical scheduler name: one of schedulers().map((s) => s.name) */
export type SchedulerName = string;

export interface NameInfo {
  name: string;
  aliases: readonly string[];
}

const contract = native.contract();

export const SAMPLER_NAMES: readonly SamplerName[] = Object.freeze(contract.samplers.map((s) => s.name));
export const SCHEDULER_NAMES: readonly SchedulerName[] = Object.freeze(contract.schedulers.map((s) => s.name));
const DEFAULT_SCHEDULER = new Map(contract.samplers.map((s) => [s.name, s.defaultScheduler!]));

/** Folding used for matching: lower case, without spaces, underscores and hyphens. */
export function foldName(name: string): string {
  return name.toLowerCase().replace(/[\s_-]+/g, '');
}

function buildIndex(entries: ReadonlyArray<{ name: string; aliases: readonly string[] }>): Map<string, string> {
  const index = new Map<string, string>();
  for (const { name, aliases } of entries) {
    for (const spelling of [name, ...aliases]) {
      const key = foldName(spelling);
      const prev = index.get(key);
      if (prev !== undefined && prev !== name) throw new Error(`name table: "${spelling}" is ambiguous (${prev}, ${name})`);
      index.set(key, name);
    }
  }
  return index;
}

const samplerIndex = buildIndex(contract.samplers);
const schedulerIndex = buildIndex(contract.schedulers);
const automaticKeys = new Set(contract.automaticScheduler.map(foldName));

export function samplers(): NameInfo[] {
  return contract.samplers.map(({ name, aliases }) => ({ name, aliases }));
}

export function schedulers(): NameInfo[] {
  return contract.schedulers.map(({ name, aliases }) => ({ name, aliases }));
}

/** Canonical sampler name for any known spelling; throws `unknown sampler "x"; known: …`. */
export function resolveSampler(name: string): SamplerName {
  const hit = samplerIndex.get(foldName(name));
  if (hit === undefined) throw new Error(`unknown sampler "${name}"; known: ${SAMPLER_NAMES.join(', ')}`);
  return hit;
}

/** The schedule "Automatic" means for a sampler (ddim: its own uniform timesteps; others: normal). */
export function defaultScheduler(sampler: string): SchedulerName {
  return DEFAULT_SCHEDULER.get(resolveSampler(sampler))!;
}

/** Whether a scheduler spelling means "the sampler's default" (A1111 "Automatic", sd.cpp "default"). */
export function isAutomaticScheduler(name: string): boolean {
  return automaticKeys.has(foldName(name));
}

/**
 * Canonical scheduler name; "Automatic"/"auto"/"default" resolve to the sampler's default
 * (`sampler` defaults to euler). Throws `unknown scheduler "x"; known: automatic, normal, …`.
 */
export function resolveScheduler(name: string, sampler: string = 'euler'): SchedulerName {
  if (isAutomaticScheduler(name)) return defaultScheduler(sampler);
  const hit = schedulerIndex.get(foldName(name));
  if (hit === undefined) throw new Error(`unknown scheduler "${name}"; known: automatic, ${SCHEDULER_NAMES.join(', ')}`);
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
  return { sampler: resolveSampler(name), scheduler: undefined }; // throws the usual message
}

/**
 * A sampler and a scheduler as users give them → what the core runs. A schedule carried by an
 * old combined name ("DPM++ 2M Karras") applies when the scheduler is automatic; an explicit
 * scheduler wins. schedulerLabel is 'automatic' when the choice was left to the sampler (infotext).
 */
export function resolveNames(sampler: string, scheduler: string): { sampler: SamplerName; scheduler: SchedulerName; schedulerLabel: SchedulerName } {
  const spec = resolveSamplerSpec(sampler);
  const automatic = isAutomaticScheduler(scheduler);
  const resolved = automatic && spec.scheduler ? spec.scheduler : resolveScheduler(scheduler, spec.sampler);
  return { sampler: spec.sampler, scheduler: resolved, schedulerLabel: automatic && !spec.scheduler ? 'automatic' : resolved };
}
