// The contract's TypeScript side: the native core's option tables (native/runtime/contract.cpp)
// and its sampler / scheduler names, with the one validator and the name matching. JS validates,
// the addon reads strictly: everything the core receives has been checked here, and every message
// says the rule and the value that broke it:
//
//   width must be a multiple of 8 between 64 and 4096, got 500
//   unknown option "widht"; did you mean "width"?
//
// Sizes are written for SD's 8× VAE; a model whose VAE downscales by f uses multiples of f between
// 8·f and 512·f (the tiny test VAE: f = 2, so 16..1024 in steps of 2).
import { native } from './binding.js';
import { SdError } from './errors.js';
import type { NativeContract, NativeOptionSpec } from './native.js';

export type OptionType = NativeOptionSpec['type'];

/** One option: name, type, range, default and meaning, as the native core's table defines it. */
export type OptionSpec = Readonly<NativeOptionSpec>;

const contract = native.contract();
/** generate()'s options (the native table: native/runtime/contract.cpp) */
export const GENERATE_OPTIONS: readonly OptionSpec[] = Object.freeze(contract.generateOptions.map((o) => Object.freeze(o)));
/** load()'s options (the native table) */
export const LOAD_OPTIONS: readonly OptionSpec[] = Object.freeze(contract.loadOptions.map((o) => Object.freeze(o)));
/** CLIP's start / end tokens and ids per chunk, as the core defines them */
export const CLIP_TOKENS: Readonly<NativeContract['tokens']> = Object.freeze(contract.tokens);

export interface ModelLimits {
  /** the VAE's downscale factor (8 for every released SD model) */
  vaeDownscale: number;
  /** the text encoder's layer count: the largest useful clipSkip */
  clipLayers: number;
  defaultSize: number;
  /** the model's own defaults for steps and cfgScale (recorded in its file), replacing the table's */
  defaultSteps?: number;
  defaultCfgScale?: number;
}

export interface GenerateSettings {
  prompt: string;
  negativePrompt: string;
  width: number;
  height: number;
  steps: number;
  cfgScale: number;
  cfgRescale: number;
  /** -1 resolved to a random seed */
  seed: number;
  sampler: SamplerName;
  /** the schedule the native core runs */
  scheduler: SchedulerName;
  /** 'automatic' when the caller left the choice to the sampler (for the infotext) */
  schedulerLabel: SchedulerName;
  rng: 'cpu' | 'cuda';
  eta: number;
  clipSkip: number;
  batchSize: number;
  strength: number;
  /** VAE passes in tiles: always, never, or when the whole image exceeds the load option vaeMemoryMB */
  vaeTiling: 'auto' | boolean;
  /** circular padding in every UNet / VAE conv: a seamlessly tiling image (A1111 'Tiling') */
  tiling: boolean;
  preview: 'cheap' | 'taesd' | 'off';
  decoder: 'vae' | 'taesd';
  /** SDXL size / crop conditioning (0: the output size, uncropped) */
  originalWidth: number;
  originalHeight: number;
  cropTop: number;
  cropLeft: number;
  targetWidth: number;
  targetHeight: number;
  initImage?: unknown;
  resizeMode: 'just_resize' | 'crop_and_resize' | 'resize_and_fill' | 'latent_upscale';
  mask?: unknown;
  maskBlur: number;
  maskInvert: boolean;
  inpaintingFill: 'fill' | 'original' | 'latent_noise' | 'latent_nothing';
  inpaintArea: 'whole' | 'masked';
  inpaintPadding: number;
  outpaintLeft: number;
  outpaintRight: number;
  outpaintTop: number;
  outpaintBottom: number;
  /** hires fix: the options as given, and hiresPlan (names resolved) when hires is on */
  hires: boolean;
  hiresScale: number;
  hiresWidth: number;
  hiresHeight: number;
  hiresUpscaler: HiresSettings['upscaler'];
  hiresSteps: number;
  hiresStrength: number;
  hiresSampler: string;
  hiresScheduler: string;
  hiresPrompt: string;
  hiresNegativePrompt: string;
  hiresPlan?: HiresSettings;
  /** LoRA files from the loras option, weights split per encoder (prompt tags are added later) */
  loras: LoraFile[];
  signal?: AbortSignal;
  onStep?: (event: never) => void;
}

/** A LoRA / LyCORIS file with its text-encoder and UNet strengths. */
export interface LoraFile {
  path: string;
  textWeight: number;
  unetWeight: number;
}

export interface LoadSettings {
  threads: number;
  dtype: 'f32' | 'bf16';
  prediction: 'auto' | 'eps' | 'v';
  vae: string;
  loraDir: string;
  loraCacheMB: number;
  vaeMemoryMB: number;
  embeddingsDir: string;
  maxPromptChunks: number;
  taesd: string;
  device: string;
  signal?: AbortSignal;
  onProgress?: (event: never) => void;
}

const invalid = (message: string) => new SdError(message, 'ERR_SD_INVALID_OPTION');

/** A value as a message shows it: numbers as written (NaN, Infinity), strings quoted. */
export function describe(v: unknown): string {
  if (typeof v === 'number') return Object.is(v, -0) ? '-0' : String(v);
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (v === null || v === undefined || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'function') return 'a function';
  return `an object`;
}

// Edit distance counting an adjacent transposition as one edit ("widht" → "width": 1).
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The closest known name within a third of its length (case-insensitive), if any. */
export function suggest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined, bestD = Infinity;
  for (const k of known) {
    const dist = editDistance(name.toLowerCase(), k.toLowerCase());
    if (dist < bestD) (best = k), (bestD = dist);
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(best.length / 3)) ? best : undefined;
}

/** The table entry with sizes scaled for a VAE that downscales by f. */
export function forModel(spec: OptionSpec, limits?: ModelLimits): OptionSpec {
  if (!limits) return spec;
  if ((spec.name === 'width' || spec.name === 'height') && limits.vaeDownscale !== 8) {
    const f = limits.vaeDownscale;
    return { ...spec, min: 8 * f, max: 512 * f, multipleOf: f };
  }
  if (spec.name === 'clipSkip' && limits.clipLayers > 0) return { ...spec, max: limits.clipLayers };
  if (spec.name === 'steps' && limits.defaultSteps !== undefined) return { ...spec, default: limits.defaultSteps };
  if (spec.name === 'cfgScale' && limits.defaultCfgScale !== undefined) return { ...spec, default: limits.defaultCfgScale };
  return spec;
}

/** Checks one value against its table entry; returns it (enums lower-cased) or throws the message. */
export function checkValue(spec: OptionSpec, v: unknown): unknown {
  const { name, min, max, multipleOf } = spec;
  switch (spec.type) {
    case 'string':
      if (typeof v !== 'string') throw invalid(`${name} must be a string, got ${describe(v)}`);
      return v;
    case 'boolean':
      if (typeof v !== 'boolean') throw invalid(`${name} must be true or false, got ${describe(v)}`);
      return v;
    case 'function':
      if (typeof v !== 'function') throw invalid(`${name} must be a function, got ${describe(v)}`);
      return v;
    case 'signal':
      if (!(v instanceof AbortSignal)) throw invalid(`${name} must be an AbortSignal, got ${describe(v)}`);
      return v;
    case 'image':
      if (!(v instanceof Uint8Array) && !(v && typeof v === 'object' && (v as { data?: unknown }).data instanceof Uint8Array)) {
        throw invalid(`${name} must be PNG, JPEG or WebP bytes or { data, width, height, channels }, got ${describe(v)}`);
      }
      return v;
    case 'enum': {
      // An enum with a boolean pair (preview: cheap / off, vaeTiling: true / false) takes true and false;
      // where the pair is literally "true" / "false" the setting stays a boolean.
      const bools = spec.booleans?.[0] === 'true';
      const s = typeof v === 'string' ? v.toLowerCase() : typeof v === 'boolean' && spec.booleans ? spec.booleans[v ? 0 : 1] : undefined;
      if (s === undefined || !spec.values!.includes(s)) {
        const list = spec.values!.map((x) => (bools && (x === 'true' || x === 'false') ? x : `"${x}"`)).join(', ');
        throw invalid(`${name} must be one of ${list}, got ${describe(v)}`);
      }
      return bools && (s === 'true' || s === 'false') ? s === 'true' : s;
    }
    case 'integer':
    case 'number': {
      const ok = typeof v === 'number' && Number.isFinite(v) && v >= min! && v <= max! &&
        (spec.type === 'number' || Number.isInteger(v)) && (multipleOf === undefined || v % multipleOf === 0);
      if (!ok) {
        const kind = multipleOf !== undefined ? `a multiple of ${multipleOf}` : spec.type === 'integer' ? 'an integer' : 'a number';
        throw invalid(`${name} must be ${kind} between ${min} and ${max}, got ${describe(v)}`);
      }
      return v;
    }
    case 'seed':
      if (typeof v !== 'number' || !(Number.isSafeInteger(v) && v >= 0) && v !== -1) {
        throw invalid(`${name} must be an integer between 0 and 2^53-1 (or -1 for random), got ${describe(v)}`);
      }
      return v;
    case 'loras':
      return checkLoras(name, v, max!);
  }
}

const LORA_WEIGHT_LIMIT = 100;

function loraWeight(where: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || Math.abs(v) > LORA_WEIGHT_LIMIT) {
    throw invalid(`${where} must be a number between -${LORA_WEIGHT_LIMIT} and ${LORA_WEIGHT_LIMIT}, got ${describe(v)}`);
  }
  return v;
}

// [{ path, weight? }] or [{ path, textWeight?, unetWeight? }]: weight sets both, as <lora:name:w> does.
function checkLoras(name: string, v: unknown, max: number): LoraFile[] {
  if (!Array.isArray(v)) throw invalid(`${name} must be an array of { path, weight }, got ${describe(v)}`);
  if (v.length > max) throw invalid(`${name}: at most ${max} LoRA files per generation, got ${v.length}`);
  return v.map((item, i) => {
    const where = `${name}[${i}]`;
    if (!item || typeof item !== 'object' || Array.isArray(item)) throw invalid(`${where} must be { path, weight }, got ${describe(item)}`);
    const { path, weight, textWeight, unetWeight, ...rest } = item as Record<string, unknown>;
    const extra = Object.keys(rest)[0];
    if (extra !== undefined) {
      const hint = suggest(extra, ['path', 'weight', 'textWeight', 'unetWeight']);
      throw invalid(`${where}: unknown key ${JSON.stringify(extra)}${hint ? `; did you mean "${hint}"?` : '; it takes path, weight, textWeight, unetWeight'}`);
    }
    if (typeof path !== 'string' || path === '') throw invalid(`${where}.path must be the path of a .safetensors file, got ${describe(path)}`);
    const both = weight === undefined ? 1 : loraWeight(`${where}.weight`, weight);
    return {
      path,
      textWeight: textWeight === undefined ? both : loraWeight(`${where}.textWeight`, textWeight),
      unetWeight: unetWeight === undefined ? both : loraWeight(`${where}.unetWeight`, unetWeight),
    };
  });
}

/**
 * Validates an options object against a table: unknown names are rejected (with a suggestion),
 * missing ones take their defaults. Returns a plain record of checked values.
 */
export function validate(table: readonly OptionSpec[], options: unknown, what: string, limits?: ModelLimits): Record<string, unknown> {
  if (options === undefined) options = {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw invalid(`${what} options must be an object, got ${describe(options)}`);
  }
  const given = options as Record<string, unknown>;
  const names = table.map((s) => s.name);
  for (const key of Object.keys(given)) {
    if (!names.includes(key)) {
      const hint = suggest(key, names);
      throw invalid(`unknown option ${JSON.stringify(key)}${hint ? `; did you mean "${hint}"?` : `; ${what} takes ${names.join(', ')}`}`);
    }
  }
  const out: Record<string, unknown> = {};
  for (const raw of table) {
    const spec = forModel(raw, limits);
    const v = given[spec.name];
    if (v === undefined) {
      if (spec.required) checkValue(spec, v); // throws "<name> must be …, got undefined"
      if (spec.default !== undefined) out[spec.name] = spec.default;
      continue;
    }
    out[spec.name] = checkValue(spec, v);
  }
  return out;
}

/** An option's default in the native table (throws for an option without one). */
export function defaultOf(name: string, table: readonly OptionSpec[] = GENERATE_OPTIONS): unknown {
  const spec = table.find((o) => o.name === name);
  if (spec?.default === undefined) throw new Error(`option ${name} has no default`);
  return spec.default;
}

/** A random seed as A1111 draws one (0 … 2^32-2). */
export function randomSeed(): number {
  return Math.floor(Math.random() * 4294967294);
}

/** Hires fix settings, names resolved (sampler and scheduler default to the first pass's). */
export interface HiresSettings {
  scale: number;
  width: number;
  height: number;
  upscaler: 'latent' | 'latent_antialiased' | 'latent_bicubic' | 'latent_bicubic_antialiased' | 'latent_nearest' | 'latent_nearest_exact' | 'lanczos' | 'nearest';
  /** 0: the first pass's */
  steps: number;
  strength: number;
  sampler: SamplerName;
  scheduler: SchedulerName;
  /** as given ('' when the same), for the infotext */
  samplerGiven: string;
  /** A1111's hr_prompt / hr_negative_prompt ('': the first pass's) */
  prompt: string;
  negativePrompt: string;
}

function resolveHires(o: Record<string, unknown>, sampler: SamplerName, scheduler: SchedulerName, schedulerLabel: SchedulerName): HiresSettings | undefined {
  if (!o.hires) return undefined;
  let names = { sampler, scheduler };
  if (o.hiresSampler || o.hiresScheduler) {
    try {
      // A1111's "Use same sampler / scheduler": an automatic schedule follows the hires sampler
      names = resolveNames((o.hiresSampler as string) || sampler, (o.hiresScheduler as string) || schedulerLabel);
    } catch (e) {
      throw invalid(`hiresSampler / hiresScheduler: ${(e as Error).message}`);
    }
  }
  return {
    scale: o.hiresScale as number, width: o.hiresWidth as number, height: o.hiresHeight as number,
    upscaler: o.hiresUpscaler as HiresSettings['upscaler'], steps: o.hiresSteps as number, strength: o.hiresStrength as number,
    sampler: names.sampler, scheduler: names.scheduler, samplerGiven: o.hiresSampler as string,
    prompt: o.hiresPrompt as string, negativePrompt: o.hiresNegativePrompt as string,
  };
}

/** generate() options → the settings the pipeline uses (defaults filled, names resolved). */
export function resolveGenerateOptions(options: unknown, limits: ModelLimits): GenerateSettings {
  const o = validate(GENERATE_OPTIONS, options, 'generate()', limits);
  let spec;
  try {
    spec = resolveSamplerSpec(o.sampler as string);
  } catch (e) {
    throw invalid(`sampler: ${(e as Error).message}`);
  }
  let schedule;
  try {
    schedule = schedulerFor(spec, o.scheduler as string);
  } catch (e) {
    throw invalid(`scheduler: ${(e as Error).message}`);
  }
  const size = limits.defaultSize;
  // Every option arrives under its contract name with its default filled in; only the values
  // derived here (resolved names, the model's default size, a drawn seed) are set one by one.
  return {
    ...(o as unknown as GenerateSettings),
    width: (o.width as number | undefined) ?? size,
    height: (o.height as number | undefined) ?? size,
    seed: o.seed === -1 ? randomSeed() : (o.seed as number),
    sampler: spec.sampler,
    scheduler: schedule.scheduler,
    schedulerLabel: schedule.schedulerLabel,
    rng: o.rng === 'cpu' ? 'cpu' : 'cuda',
    hiresPlan: resolveHires(o, spec.sampler, schedule.scheduler, schedule.schedulerLabel),
  };
}

// The spellings device takes; whether that device exists here is the native load's question (ERR_SD_DEVICE).
const DEVICE = /^(auto|cpu|emulated|cuda(:\d{1,3})?)$/;
function device(value: string): string {
  if (!DEVICE.test(value)) throw invalid(`device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'emulated', got ${JSON.stringify(value)}`);
  return value;
}

export function resolveLoadOptions(options: unknown): LoadSettings {
  const o = validate(LOAD_OPTIONS, options, 'load()');
  return {
    threads: o.threads as number,
    dtype: o.dtype as LoadSettings['dtype'],
    prediction: o.prediction as LoadSettings['prediction'],
    vae: o.vae as string,
    loraDir: o.loraDir as string,
    loraCacheMB: o.loraCacheMB as number,
    vaeMemoryMB: o.vaeMemoryMB as number,
    embeddingsDir: o.embeddingsDir as string,
    maxPromptChunks: o.maxPromptChunks as number,
    taesd: o.taesd as string,
    device: device(o.device as string),
    signal: o.signal as AbortSignal | undefined,
    onProgress: o.onProgress as LoadSettings['onProgress'],
  };
}

// ---- sampler and scheduler names ----------------------------------------------------------
// The names, their aliases and each sampler's default schedule come
// from the native core's contract (native/include/sd_contract.h); the functions below match what users
// type against them. Matching ignores case, spaces, underscores and hyphens ("DPM++ 2M" = "dpm++2m"
// = "dpm++_2m"); building the index rejects two names that collide under that folding.
//
//   resolveSampler('Euler a')              // 'euler_ancestral'
//   resolveScheduler('Karras')             // 'karras'
//   resolveScheduler('Automatic', 'ddim')  // 'ddim_uniform' (the sampler's own default)
//   resolveSamplerSpec('DPM++ 2M Karras')  // { sampler: 'dpmpp_2m', scheduler: 'karras' } (old A1111 names)
//   resolveNames('DPM++ 2M Karras', 'automatic')  // { sampler, scheduler: 'karras', schedulerLabel: 'karras' }

/** a canonical sampler name: one of samplers().map((s) => s.name) */
export type SamplerName = string;
/** a canonical scheduler name: one of schedulers().map((s) => s.name) */
export type SchedulerName = string;

export interface NameInfo {
  name: string;
  aliases: readonly string[];
}

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
 * The schedule for a resolved sampler spec and the scheduler a user gave. A schedule carried by
 * an old combined name ("DPM++ 2M Karras") applies when the scheduler is automatic; an explicit
 * scheduler wins. schedulerLabel is 'automatic' when the choice was left to the sampler (infotext).
 */
export function schedulerFor(spec: { sampler: SamplerName; scheduler: SchedulerName | undefined }, scheduler: string): { scheduler: SchedulerName; schedulerLabel: SchedulerName } {
  const automatic = isAutomaticScheduler(scheduler);
  const resolved = automatic && spec.scheduler ? spec.scheduler : resolveScheduler(scheduler, spec.sampler);
  return { scheduler: resolved, schedulerLabel: automatic && !spec.scheduler ? 'automatic' : resolved };
}

/** A sampler and a scheduler as users give them → what the core runs (see schedulerFor). */
export function resolveNames(sampler: string, scheduler: string): { sampler: SamplerName; scheduler: SchedulerName; schedulerLabel: SchedulerName } {
  const spec = resolveSamplerSpec(sampler);
  return { sampler: spec.sampler, ...schedulerFor(spec, scheduler) };
}
