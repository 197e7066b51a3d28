// AUTOMATIC1111's infotext read back (modules/infotext_utils.py parse_generation_parameters):
//
//   <prompt lines>
//   Negative prompt: <negative lines>
//   Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x512, Lora hashes: "a: 0123abcd", ...
//
// a1111Parameters(text) is A1111's own dict (keys as written, sizes split into "Size-1"/"Size-2",
// A1111's defaults for absent keys), the `parameters` of /sdapi/v1/png-info. parseParameters(text)
// and readParameters(png) map it onto sd-native's generate() option names; keys with no
// counterpart stay, as written, in `extra`.
import { readFileSync } from 'node:fs';

import { SdError } from './errors.js';
import { hiresUpscalerFromLabel } from './hires.js';
import type { GenerateOptions } from './pipeline.js';
import { isPng, readPngText } from './png.js';
import { isAutomaticScheduler, resolveSamplerSpec, resolveScheduler, schedulerFor } from './options.js';
import { parsePromptAttention } from './tokenizer/prompt.js';

/** One A1111 value: strings as written; the defaults A1111 adds are numbers and booleans. */
export type A1111Value = string | number | boolean;

/** What an infotext says, in sd-native's generate() option names. */
export interface ReadParameters {
  prompt: string;
  negativePrompt: string;
  steps?: number;
  /** canonical sampler name ('dpmpp_2m') when sd-native has it, else A1111's label as written */
  sampler?: string;
  /** canonical scheduler, 'automatic' (the sampler's default), or A1111's label as written */
  scheduler?: string;
  cfgScale?: number;
  seed?: number;
  width?: number;
  height?: number;
  /** checkpoint name ("Model") and A1111's short hash of it ("Model hash") */
  model?: string;
  modelHash?: string;
  /** A1111 writes Clip skip only above 1: absent reads as 1 */
  clipSkip: number;
  /** "RNG: CPU" → 'cpu'; "NV" and A1111's default "GPU" (absent) → 'cuda' (the same Philox numbers) */
  rng: 'cpu' | 'cuda';
  /** img2img "Denoising strength" (with hires fields present it is the hires pass's: hires.strength) */
  strength?: number;
  eta?: number;
  loras?: Array<{ name: string; hash: string }>;
  embeddings?: Array<{ name: string; hash: string }>;
  /** A1111's hires fix as written (generateOptions() turns it into hires options) */
  hires?: {
    scale?: number; width?: number; height?: number; steps?: number; upscaler?: string; strength?: number;
    sampler?: string; scheduler?: string; cfgScale?: number; prompt?: string; negativePrompt?: string; checkpoint?: string;
  };
  /** A1111 inpainting fields */
  inpaint?: { maskBlur?: number; onlyMasked?: boolean; padding?: number; invertMask?: boolean; maskedContent?: string };
  /** the A1111 version that wrote the text */
  version?: string;
  /** every other key, value as written (JSON quotes removed) */
  extra: Record<string, string>;
}

// infotext_utils.re_param_code; \w as Python's Unicode \w.
const PARAM_RE = /\s*([\p{L}\p{N}_][\p{L}\p{N}_ \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)/gu;
const SIZE_RE = /^(\p{Nd}+)x(\p{Nd}+)\n?$/u;

function unquote(v: string): string {
  if (v.length === 0 || v[0] !== '"' || v[v.length - 1] !== '"') return v;
  try {
    const s: unknown = JSON.parse(v);
    return typeof s === 'string' ? s : v;
  } catch {
    return v;
  }
}

interface Split {
  prompt: string;
  negativePrompt: string;
  /** the last line's pairs, unquoted, in order */
  pairs: Array<[string, string]>;
}

/** Prompt, negative prompt and key-value pairs, as parse_generation_parameters splits them. */
export function splitInfotext(text: string): Split {
  const lines = text.trim().split('\n');
  let last = lines.pop()!;
  // A last line with fewer than three pairs is prompt text.
  if ([...last.matchAll(PARAM_RE)].length < 3) {
    lines.push(last);
    last = '';
  }
  let prompt = '', negativePrompt = '', negative = false;
  for (let line of lines) {
    line = line.trim();
    if (line.startsWith('Negative prompt:')) {
      negative = true;
      line = line.slice(16).trim();
    }
    if (negative) negativePrompt += (negativePrompt === '' ? '' : '\n') + line;
    else prompt += (prompt === '' ? '' : '\n') + line;
  }
  const pairs: Array<[string, string]> = [...last.matchAll(PARAM_RE)].map((m) => [m[1]!, unquote(m[2]!)]);
  return { prompt, negativePrompt, pairs };
}

// packaging.version for the forms A1111 writes ("v1.10.1", "v1.7.0-225-g1234"): [major, minor, patch, post].
function parseVersion(v: A1111Value | undefined): number[] | undefined {
  if (typeof v !== 'string') return undefined;
  const two = /^([^-]+-[^-]+)-.*$/.exec(v);
  const m = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-(\d+))?$/i.exec((two ? two[1]! : v).trim());
  return m ? [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0), m[4] === undefined ? -1 : Number(m[4])] : undefined;
}
const older = (a: number[], b: number[]) => {
  for (let i = 0; i < 4; i++) if (a[i] !== b[i]) return a[i]! < b[i]!;
  return false;
};

// restore_old_hires_fix_params: an old "First pass size" makes Size the hires target.
function restoreOldHiresFix(res: Record<string, A1111Value>): void {
  const fw = res['First pass size-1'], fh = res['First pass size-2'];
  if (fw === undefined || fh === undefined) return;
  let w = Number(fw), h = Number(fh);
  const width = Number(res['Size-1'] ?? 512), height = Number(res['Size-2'] ?? 512);
  if (w === 0 || h === 0) {
    const scale = Math.sqrt((512 * 512) / (width * height));
    w = Math.ceil((scale * width) / 64) * 64;
    h = Math.ceil((scale * height) / 64) * 64;
  }
  Object.assign(res, { 'Size-1': w, 'Size-2': h, 'Hires resize-1': width, 'Hires resize-2': height });
}

const DEFAULTS: Array<[string, A1111Value]> = [
  ['Hires sampler', 'Use same sampler'], ['Hires schedule type', 'Use same scheduler'], ['Hires checkpoint', 'Use same checkpoint'],
  ['Hires prompt', ''], ['Hires negative prompt', ''], ['Mask mode', 'Inpaint masked'], ['Masked content', 'original'],
  ['Inpaint area', 'Whole picture'], ['Masked area padding', 32],
];
const LATE_DEFAULTS: Array<[string, A1111Value]> = [
  ['RNG', 'GPU'], ['Schedule type', 'Automatic'], ['Schedule max sigma', 0], ['Schedule min sigma', 0], ['Schedule rho', 0],
  ['VAE Encoder', 'Full'], ['VAE Decoder', 'Full'], ['FP8 weight', 'Disable'],
];

/**
 * A1111's parse_generation_parameters, with its default options and no styles file: the same
 * keys and values (including the defaults it adds and the "Version" compatibility flags).
 */
export function a1111Parameters(text: string): Record<string, A1111Value> {
  const { prompt, negativePrompt, pairs } = splitInfotext(text);
  const res: Record<string, A1111Value> = {};
  for (const [k, v] of pairs) {
    const m = SIZE_RE.exec(v);
    if (m) (res[`${k}-1`] = m[1]!), (res[`${k}-2`] = m[2]!);
    else res[k] = v;
  }
  // Styles: with no styles file only the hires prompts change (one equal to the main prompt empties).
  const version = parseVersion(res.Version);
  if (('Hires prompt' in res || 'Hires negative prompt' in res) && (!version || older([1, 8, 0, 139], version))) {
    const hp = res['Hires prompt'] ?? prompt, hn = res['Hires negative prompt'] ?? negativePrompt;
    res['Hires prompt'] = hp === prompt ? '' : hp;
    res['Hires negative prompt'] = hn === negativePrompt ? '' : hn;
  }
  res.Prompt = prompt;
  res['Negative prompt'] = negativePrompt;
  res['Clip skip'] ??= '1';
  if (res.Hypernet !== undefined) res.Prompt += `<hypernet:${res.Hypernet}:${res['Hypernet strength'] ?? '1.0'}>`;
  if (!('Hires resize-1' in res)) (res['Hires resize-1'] = 0), (res['Hires resize-2'] = 0);
  for (const [k, v] of DEFAULTS) res[k] ??= v;
  restoreOldHiresFix(res);
  for (const [k, v] of LATE_DEFAULTS) res[k] ??= v;
  if (!('Cache FP16 weight for LoRA' in res) && res['FP8 weight'] !== 'Disable') res['Cache FP16 weight for LoRA'] = false;
  const parts = [...parsePromptAttention(prompt), ...parsePromptAttention(negativePrompt)];
  if (!('Emphasis' in res) && parts.some((p) => p.weight !== 1 && p.text !== 'BREAK')) res.Emphasis = 'Original';
  res['Refiner switch by sampling steps'] ??= false;
  // infotext_versions.backcompat
  if (version) {
    if (older(version, [1, 6, 0, -1]) && String(res.Prompt).includes('[')) res['Old prompt editing timelines'] = true;
    if (older(version, [1, 6, 0, -1]) && (res.Sampler === 'DDIM' || res.Sampler === 'PLMS')) res['Pad conds v0'] = true;
    if (older(version, [1, 7, 0, 225])) res['Downcast alphas_cumprod'] = true;
    if (older(version, [1, 8, 0, -1]) && res.Refiner) res['Refiner switch by sampling steps'] = true;
  }
  return res;
}

// ---- onto sd-native's names ------------------------------------------------------------------

function hashList(v: string): Array<{ name: string; hash: string }> {
  return v.split(',').filter((s) => s.includes(':')).map((s) => {
    const i = s.indexOf(':');
    return { name: s.slice(0, i).trim(), hash: s.slice(i + 1).trim() };
  });
}

function samplerAndScheduler(sampler: string | undefined, schedule: string | undefined): { sampler?: string; scheduler?: string } {
  const automatic = schedule === undefined || isAutomaticScheduler(schedule);
  const ownScheduler = () => {
    if (schedule === undefined) return undefined;
    if (automatic) return 'automatic';
    try {
      return resolveScheduler(schedule);
    } catch {
      return schedule;
    }
  };
  if (sampler === undefined) return { scheduler: ownScheduler() };
  try {
    const spec = resolveSamplerSpec(sampler);
    return { sampler: spec.sampler, scheduler: schedulerFor(spec, schedule ?? 'automatic').schedulerLabel };
  } catch {
    return { sampler, scheduler: ownScheduler() ?? 'automatic' };
  }
}

/** An infotext in sd-native's option names (see ReadParameters). */
export function parseParameters(text: string): ReadParameters {
  const { prompt, negativePrompt, pairs } = splitInfotext(text);
  const given = new Map(pairs);
  const used = new Set<string>();
  const str = (k: string) => (given.has(k) ? (used.add(k), given.get(k)!) : undefined);
  // A number that does not parse stays in extra.
  const num = (k: string, integer = false) => {
    const v = given.get(k);
    if (v === undefined || v.trim() === '') return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) return undefined;
    used.add(k);
    return n;
  };
  const out: ReadParameters = { prompt, negativePrompt, clipSkip: 1, rng: 'cuda', extra: {} };
  const set = <K extends keyof ReadParameters>(k: K, v: ReadParameters[K] | undefined) => {
    if (v !== undefined) out[k] = v;
  };
  set('steps', num('Steps', true));
  const names = samplerAndScheduler(str('Sampler'), str('Schedule type'));
  set('sampler', names.sampler);
  set('scheduler', names.scheduler);
  set('cfgScale', num('CFG scale'));
  set('seed', num('Seed', true));
  const size = given.get('Size') !== undefined ? SIZE_RE.exec(given.get('Size')!) : null;
  if (size) (out.width = Number(size[1])), (out.height = Number(size[2])), used.add('Size');
  set('model', str('Model'));
  set('modelHash', str('Model hash'));
  out.clipSkip = num('Clip skip', true) ?? 1;
  const rng = str('RNG');
  if (rng !== undefined) {
    out.rng = rng.toUpperCase() === 'CPU' ? 'cpu' : 'cuda';
    if (!['CPU', 'GPU', 'NV'].includes(rng.toUpperCase())) used.delete('RNG');
  }
  const strength = num('Denoising strength');
  set('eta', num('Eta'));
  const loras = str('Lora hashes'), tis = str('TI hashes');
  if (loras) out.loras = hashList(loras);
  if (tis) out.embeddings = hashList(tis);

  const hiresKeys = [...given.keys()].filter((k) => k.startsWith('Hires ') || k === 'First pass size');
  if (hiresKeys.length > 0) {
    const d = a1111Parameters(text); // Size and hires size as A1111 settles an old "First pass size"
    out.width = Number(d['Size-1']) || out.width;
    out.height = Number(d['Size-2']) || out.height;
    const hires: NonNullable<ReadParameters['hires']> = {};
    const hset = <K extends keyof typeof hires>(k: K, v: (typeof hires)[K] | undefined) => {
      if (v !== undefined) hires[k] = v;
    };
    hset('scale', num('Hires upscale'));
    if (Number(d['Hires resize-1']) > 0) (hires.width = Number(d['Hires resize-1'])), (hires.height = Number(d['Hires resize-2']));
    for (const k of ['Hires resize', 'First pass size']) if (given.has(k) && SIZE_RE.test(given.get(k)!)) used.add(k);
    hset('steps', num('Hires steps', true));
    hset('upscaler', str('Hires upscaler'));
    hset('strength', strength);
    const hs = str('Hires sampler'), ht = str('Hires schedule type');
    const hn = samplerAndScheduler(hs === 'Use same sampler' ? undefined : hs, ht === 'Use same scheduler' ? undefined : ht);
    hset('sampler', hn.sampler);
    hset('scheduler', hn.scheduler === 'automatic' && ht === undefined ? undefined : hn.scheduler);
    hset('cfgScale', num('Hires CFG Scale'));
    hset('prompt', str('Hires prompt') || undefined);
    hset('negativePrompt', str('Hires negative prompt') || undefined);
    const ck = str('Hires checkpoint');
    hset('checkpoint', ck === 'Use same checkpoint' ? undefined : ck);
    out.hires = hires;
  } else {
    set('strength', strength);
  }

  if (['Mask blur', 'Inpaint area', 'Masked area padding', 'Mask mode', 'Masked content'].some((k) => given.has(k))) {
    const inpaint: NonNullable<ReadParameters['inpaint']> = {};
    const blur = num('Mask blur'), padding = num('Masked area padding'), area = str('Inpaint area'), mode = str('Mask mode'), content = str('Masked content');
    if (blur !== undefined) inpaint.maskBlur = blur;
    if (area !== undefined) inpaint.onlyMasked = area === 'Only masked';
    if (padding !== undefined) inpaint.padding = padding;
    if (mode !== undefined) inpaint.invertMask = mode === 'Inpaint not masked';
    if (content !== undefined) inpaint.maskedContent = content;
    out.inpaint = inpaint;
  }
  set('version', str('Version'));
  for (const [k, v] of pairs) if (!used.has(k)) out.extra[k] = v;
  return out;
}

/**
 * The generation parameters of a PNG (bytes, or a file path): its "parameters" text chunk, as
 * A1111 and sd-native write it, in sd-native's option names. Throws when the PNG has none.
 */
export function readParameters(png: Uint8Array | string): ReadParameters {
  const name = typeof png === 'string' ? png : 'PNG';
  let bytes: Uint8Array;
  try {
    bytes = typeof png === 'string' ? readFileSync(png) : png;
  } catch (e) {
    throw new SdError(`${name}: cannot read the file (${(e as Error).message})`, 'ERR_SD_IMAGE');
  }
  if (!isPng(bytes)) throw new SdError(`${name}: not a PNG file; A1111 parameters are read from PNG "parameters" chunks`, 'ERR_SD_IMAGE');
  const text = readPngText(bytes, name).parameters;
  if (text === undefined) throw new SdError(`${name} has no "parameters" text chunk: it was not written by A1111 or sd-native, or the chunk was stripped`, 'ERR_SD_IMAGE');
  return parseParameters(text);
}

/**
 * The generate() options an infotext describes, as far as sd-native runs them: the base settings,
 * and the hires fix and inpainting settings when the text has them (a hires checkpoint of its own,
 * and model upscalers, have no counterpart and are left out).
 */
export function generateOptions(p: ReadParameters): GenerateOptions {
  const o: GenerateOptions = { prompt: p.prompt, negativePrompt: p.negativePrompt, clipSkip: p.clipSkip, rng: p.rng };
  const copy = <K extends 'steps' | 'sampler' | 'scheduler' | 'cfgScale' | 'seed' | 'width' | 'height' | 'strength' | 'eta'>(k: K) => {
    if (p[k] !== undefined) (o as unknown as Record<string, unknown>)[k] = p[k];
  };
  for (const k of ['steps', 'sampler', 'scheduler', 'cfgScale', 'seed', 'width', 'height', 'strength', 'eta'] as const) copy(k);
  const h = p.hires;
  if (h) {
    o.hires = true;
    if (h.width || h.height) (o.hiresWidth = h.width ?? 0), (o.hiresHeight = h.height ?? 0);
    else if (h.scale !== undefined) o.hiresScale = h.scale;
    if (h.steps !== undefined) o.hiresSteps = h.steps;
    if (h.strength !== undefined) o.hiresStrength = h.strength;
    const upscaler = h.upscaler === undefined ? undefined : hiresUpscalerFromLabel(h.upscaler);
    if (upscaler) o.hiresUpscaler = upscaler;
    if (h.sampler !== undefined) o.hiresSampler = h.sampler;
    if (h.scheduler !== undefined) o.hiresScheduler = h.scheduler;
    if (h.prompt !== undefined) o.hiresPrompt = h.prompt;
    if (h.negativePrompt !== undefined) o.hiresNegativePrompt = h.negativePrompt;
  }
  const i = p.inpaint;
  if (i) {
    if (i.maskBlur !== undefined) o.maskBlur = i.maskBlur;
    if (i.onlyMasked !== undefined) o.inpaintArea = i.onlyMasked ? 'masked' : 'whole';
    if (i.padding !== undefined) o.inpaintPadding = i.padding;
    if (i.invertMask !== undefined) o.maskInvert = i.invertMask;
    const fill = ({ fill: 'fill', original: 'original', 'latent noise': 'latent_noise', 'latent nothing': 'latent_nothing' } as const)[i.maskedContent as 'fill'];
    if (fill) o.inpaintingFill = fill;
  }
  return o;
}
