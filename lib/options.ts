// Option tables and the one validator. JS validates, C++ trusts: everything the native core
// receives has been checked here, and every message says the rule and the value that broke it:
//
//   width must be a multiple of 8 between 64 and 4096, got 500
//   unknown option "widht"; did you mean "width"?
//
// Sizes are written for SD's 8× VAE; a model whose VAE downscales by f uses multiples of f between
// 8·f and 512·f (the tiny test VAE: f = 2, so 16..1024 in steps of 2).
import { SdError } from './errors.js';
import { resolveSamplerSpec, resolveScheduler, type SamplerName, type SchedulerName } from './samplers.js';

export type OptionType = 'string' | 'integer' | 'number' | 'seed' | 'enum' | 'boolean' | 'function' | 'signal' | 'image';

export interface OptionSpec {
  name: string;
  type: OptionType;
  min?: number;
  max?: number;
  multipleOf?: number;
  values?: readonly string[];
  /** undefined: no default (optional, or required when `required`) */
  default?: unknown;
  required?: boolean;
  doc: string;
}

export const GENERATE_OPTIONS: readonly OptionSpec[] = [
  { name: 'prompt', type: 'string', required: true, doc: 'A1111 prompt syntax: (word:1.2), [word], BREAK' },
  { name: 'negativePrompt', type: 'string', default: '', doc: 'what to steer away from' },
  { name: 'width', type: 'integer', min: 64, max: 4096, multipleOf: 8, doc: "pixels; default: the family's size (SD1 512, SD2 768, SDXL 1024)" },
  { name: 'height', type: 'integer', min: 64, max: 4096, multipleOf: 8, doc: 'pixels; default as width' },
  { name: 'steps', type: 'integer', min: 1, max: 1000, default: 20, doc: "sampling steps (the model's recorded default if its file has one)" },
  { name: 'cfgScale', type: 'number', min: 0, max: 100, default: 7, doc: "classifier-free guidance scale (the model's recorded default if its file has one); 1 skips the negative pass" },
  { name: 'seed', type: 'seed', min: -1, max: Number.MAX_SAFE_INTEGER, default: -1, doc: '-1: random; image i of a batch uses seed + i' },
  { name: 'sampler', type: 'string', default: 'euler_ancestral', doc: 'any name samplers() lists ("Euler a", "DPM++ 2M Karras", "dpmpp_2m")' },
  { name: 'scheduler', type: 'string', default: 'automatic', doc: "any name schedulers() lists; 'automatic': the sampler's default" },
  { name: 'rng', type: 'enum', values: ['cpu', 'cuda', 'nv'], default: 'cpu', doc: "'cpu': torch CPU generator; 'cuda' (= A1111 'NV'): Philox, as on NVIDIA GPUs" },
  { name: 'eta', type: 'number', min: 0, max: 10, default: 1, doc: 'noise multiplier of ancestral samplers' },
  { name: 'clipSkip', type: 'integer', min: 1, max: 12, default: 1, doc: "1: last CLIP layer; 2: penultimate (A1111 'Clip skip')" },
  { name: 'batchSize', type: 'integer', min: 1, max: 16, default: 1, doc: 'images per call' },
  { name: 'initImage', type: 'image', doc: 'img2img input: PNG bytes or { data, width, height, channels } of the output size' },
  { name: 'strength', type: 'number', min: 0, max: 1, default: 0.75, doc: 'img2img denoising strength' },
  { name: 'preview', type: 'boolean', default: true, doc: 'send a small RGB preview with each onStep event' },
  { name: 'signal', type: 'signal', doc: 'AbortSignal: aborting stops within one step and rejects with signal.reason' },
  { name: 'onStep', type: 'function', doc: '({ step, steps, sigma, elapsedMs, preview }) => void' },
];

export const LOAD_OPTIONS: readonly OptionSpec[] = [
  { name: 'threads', type: 'integer', min: 0, max: 1024, default: 0, doc: 'worker threads; 0: all hardware threads' },
  { name: 'dtype', type: 'enum', values: ['f32', 'bf16'], default: 'f32', doc: "compute precision of products; 'bf16' needs AVX512-BF16 to be fast" },
  { name: 'prediction', type: 'enum', values: ['auto', 'eps', 'v'], default: 'auto', doc: "what the UNet predicts; 'auto': the checkpoint's metadata or eps (SD2-768 needs 'v')" },
  { name: 'signal', type: 'signal', doc: 'AbortSignal: rejects with signal.reason (the file is released once the load ends)' },
  { name: 'onProgress', type: 'function', doc: "({ phase: 'loading' | 'ready', fraction }) => void" },
];

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
  /** -1 resolved to a random seed */
  seed: number;
  sampler: SamplerName;
  /** the schedule the native core runs */
  scheduler: SchedulerName;
  /** 'automatic' when the caller left the choice to the sampler (for the infotext) */
  schedulerLabel: SchedulerName | 'automatic';
  rng: 'cpu' | 'cuda';
  eta: number;
  clipSkip: number;
  batchSize: number;
  strength: number;
  preview: boolean;
  initImage?: unknown;
  signal?: AbortSignal;
  onStep?: (event: never) => void;
}

export interface LoadSettings {
  threads: number;
  dtype: 'f32' | 'bf16';
  prediction: 'auto' | 'eps' | 'v';
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
        throw invalid(`${name} must be PNG bytes or { data, width, height, channels }, got ${describe(v)}`);
      }
      return v;
    case 'enum': {
      const s = typeof v === 'string' ? v.toLowerCase() : undefined;
      if (s === undefined || !spec.values!.includes(s)) {
        throw invalid(`${name} must be one of ${spec.values!.map((x) => `"${x}"`).join(', ')}, got ${describe(v)}`);
      }
      return s;
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
  }
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

/** A random seed as A1111 draws one (0 … 2^32-2). */
export function randomSeed(): number {
  return Math.floor(Math.random() * 4294967294);
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
  let scheduler: SchedulerName;
  let schedulerLabel: SchedulerName | 'automatic';
  try {
    const given = resolveScheduler(o.scheduler as string, spec.sampler);
    const automatic = /^(auto(matic)?|default)$/i.test((o.scheduler as string).trim());
    // "DPM++ 2M Karras" carries its schedule; an explicit scheduler option wins over it.
    scheduler = automatic && spec.scheduler ? spec.scheduler : given;
    schedulerLabel = automatic && !spec.scheduler ? 'automatic' : scheduler;
  } catch (e) {
    throw invalid(`scheduler: ${(e as Error).message}`);
  }
  const size = limits.defaultSize;
  return {
    prompt: o.prompt as string,
    negativePrompt: o.negativePrompt as string,
    width: (o.width as number | undefined) ?? size,
    height: (o.height as number | undefined) ?? size,
    steps: o.steps as number,
    cfgScale: o.cfgScale as number,
    seed: o.seed === -1 ? randomSeed() : (o.seed as number),
    sampler: spec.sampler,
    scheduler,
    schedulerLabel,
    rng: o.rng === 'cpu' ? 'cpu' : 'cuda',
    eta: o.eta as number,
    clipSkip: o.clipSkip as number,
    batchSize: o.batchSize as number,
    strength: o.strength as number,
    preview: o.preview as boolean,
    initImage: o.initImage,
    signal: o.signal as AbortSignal | undefined,
    onStep: o.onStep as GenerateSettings['onStep'],
  };
}

export function resolveLoadOptions(options: unknown): LoadSettings {
  const o = validate(LOAD_OPTIONS, options, 'load()');
  return {
    threads: o.threads as number,
    dtype: o.dtype as LoadSettings['dtype'],
    prediction: o.prediction as LoadSettings['prediction'],
    signal: o.signal as AbortSignal | undefined,
    onProgress: o.onProgress as LoadSettings['onProgress'],
  };
}
