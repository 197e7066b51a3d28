// Generated images and the pixels that go in: GeneratedImage (RGBA + its seed and A1111
// "parameters" text), the infotext formatter, and the conversion of init images to RGB.
//
//   const [img] = await sd.generate({ prompt: 'a cat' });
//   writeFileSync('cat.png', img.toPNG());                          // parameters chunk included
//   await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 4 } }).toFile('cat.webp');
import { decodePng, encodePng, isPng } from './png.js';
import { SdError } from './errors.js';
import { samplers, schedulers } from './options.js';

/** Raw pixels: RGBA (channels 4), RGB (3), gray+alpha (2) or gray (1), 8 bits each, row-major. */
export interface ImageLike {
  data: Uint8Array;
  width: number;
  height: number;
  channels?: number;
}

/** What produced an image, in the fields AUTOMATIC1111's infotext has. */
export interface GenerationParameters {
  prompt: string;
  negativePrompt: string;
  steps: number;
  /** canonical sampler name, e.g. 'euler_ancestral' */
  sampler: string;
  /** canonical scheduler name, or 'automatic' when the sampler's default was used */
  scheduler: string;
  cfgScale: number;
  seed: number;
  width: number;
  height: number;
  /** checkpoint file name without its extension */
  model: string;
  clipSkip: number;
  /** img2img only */
  strength?: number;
  rng: 'cpu' | 'cuda';
  /** seamless tiling: infotext "Tiling: True" (after RNG, as A1111's create_infotext) */
  tiling?: boolean;
  /** LoRA files applied: infotext "Lora hashes" (name: A1111's 12-digit addnet hash) */
  loras?: Array<{ name: string; hash: string }>;
  /** an external VAE: infotext "VAE hash" and "VAE" (its file name), as A1111 writes them */
  vae?: { name: string; hash: string };
  /** hires fix entries, in A1111's order and spelling ("Hires upscale", "Hires upscaler", …) */
  hires?: Array<[string, string | number]>;
  /** textual-inversion embeddings the prompts used: infotext "TI hashes" */
  embeddings?: Array<{ name: string; hash: string }>;
}

const label = (list: { name: string; aliases: readonly string[] }[], name: string): string =>
  list.find((s) => s.name === name)?.aliases[0] ?? name;

// infotext_utils.quote: values holding ',', ':' or a newline are written as JSON strings.
function quote(v: string | number): string {
  const s = String(v);
  return /[,:\n]/.test(s) ? JSON.stringify(s) : s;
}

/**
 * AUTOMATIC1111's "parameters" text (modules/processing.py create_infotext), field order kept:
 * `<prompt>\nNegative prompt: <neg>\nSteps: 20, Sampler: Euler a, Schedule type: Automatic,
 * CFG scale: 7, Seed: 42, Size: 512x512, Model: name, Denoising strength: 0.75, Clip skip: 2,
 * RNG: CPU`. The negative line only when there is one; Denoising strength only for img2img; Clip
 * skip only above 1. RNG follows A1111's meaning: its default ("GPU") writes nothing, so our torch
 * CPU generator is written "RNG: CPU" and our Philox generator "RNG: NV" (A1111's CPU replica of
 * NVIDIA's GPU generator) — pasting the text into A1111 then reproduces the noise.
 */
export function formatParameters(p: GenerationParameters): string {
  const fields: Array<[string, string | number | undefined]> = [
    ['Steps', p.steps],
    ['Sampler', label(samplers(), p.sampler)],
    ['Schedule type', p.scheduler === 'automatic' ? 'Automatic' : label(schedulers(), p.scheduler)],
    ['CFG scale', p.cfgScale],
    ['Seed', p.seed],
    ['Size', `${p.width}x${p.height}`],
    ['Model', p.model || undefined],
    ['VAE hash', p.vae?.hash],
    ['VAE', p.vae?.name],
    ['Denoising strength', p.strength],
    ['Clip skip', p.clipSkip > 1 ? p.clipSkip : undefined],
    ['RNG', p.rng === 'cuda' ? 'NV' : 'CPU'],
    ['Tiling', p.tiling ? 'True' : undefined],
    ...(p.hires ?? []),
    ['TI hashes', p.embeddings?.length ? p.embeddings.map((e) => `${e.name.replace(/[:,]/g, '')}: ${e.hash}`).join(', ') : undefined],
    ['Lora hashes', p.loras?.length ? p.loras.map((l) => `${l.name.replace(/[:,]/g, '')}: ${l.hash}`).join(', ') : undefined],
  ];
  const line = fields.filter(([, v]) => v !== undefined).map(([k, v]) => `${k}: ${quote(v!)}`).join(', ');
  const negative = p.negativePrompt ? `\nNegative prompt: ${p.negativePrompt}` : '';
  return `${p.prompt}${negative}\n${line}`.trim();
}

/** Where the time of a generate() call went (shared by the images of one batch). */
export interface GenerationStats {
  /** the model family that made the image ('sd1' | 'sd2' | 'sdxl') and its prediction type */
  family: string;
  prediction: string;
  textSeconds: number;
  samplingSeconds: number;
  decodeSeconds: number;
  peakActivationBytes: number;
  /** VAE tiles per image for the decode and img2img's encode (0: the whole image at once) */
  decodeTiles: number;
  encodeTiles: number;
  /** the LoRA set: modules merged, seconds spent merging (0: it was already merged) */
  loras?: { files: number; modulesApplied: number; modulesUnmatched: number; mergedBytes: number; mergeSeconds: number; cached: boolean };
}

/** One generated image: RGBA bytes (`sharp(img.data, { raw: { width, height, channels: 4 } })`). */
export class GeneratedImage {
  readonly channels = 4 as const;

  constructor(
    /** RGBA, 8 bits per channel, row-major, width × height × 4 bytes */
    readonly data: Buffer,
    readonly width: number,
    readonly height: number,
    /** the seed this image was made with (batch image i: seed + i) */
    readonly seed: number,
    /** A1111 infotext, also written into toPNG()'s "parameters" chunk */
    readonly parameters: string,
    /** the final latent [4, height/f, width/f] before the VAE (f = the VAE's downscale factor) */
    readonly latent?: Float32Array,
    readonly stats?: GenerationStats,
  ) {}

  /** PNG bytes (8-bit RGBA) with a tEXt/iTXt "parameters" chunk, readable by A1111's PNG Info. */
  toPNG(): Buffer {
    return encodePng({ data: this.data, width: this.width, height: this.height, channels: 4 }, { text: { parameters: this.parameters } });
  }
}

export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** Decoded, checked pixels of any channel count (PNG bytes or raw pixels, as toRgb takes them). */
export function toImage8(image: ImageLike | Uint8Array, what = 'initImage'): { data: Uint8Array; width: number; height: number; channels: 1 | 2 | 3 | 4 } {
  let src: ImageLike;
  if (image instanceof Uint8Array) {
    if (!isPng(image)) throw new SdError(`${what} must be PNG, JPEG or WebP bytes or raw pixels { data, width, height, channels }; these bytes are none of those`, 'ERR_SD_IMAGE');
    src = decodePng(image, what);
  } else if (image && typeof image === 'object' && image.data instanceof Uint8Array) {
    src = image;
  } else {
    throw new SdError(`${what} must be PNG bytes or raw pixels { data, width, height, channels }, got ${image === null ? 'null' : typeof image}`, 'ERR_SD_IMAGE');
  }
  const { data, width, height } = src;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new SdError(`${what} must have positive integer width and height, got ${width}×${height}`, 'ERR_SD_IMAGE');
  }
  const channels = src.channels ?? data.length / (width * height);
  if (channels !== 1 && channels !== 2 && channels !== 3 && channels !== 4) {
    throw new SdError(`${what} must have 1, 2, 3 or 4 channels, got ${src.channels === undefined ? `${data.length} bytes for ${width}×${height}` : channels}`, 'ERR_SD_IMAGE');
  }
  if (data.length !== width * height * channels) {
    throw new SdError(`${what} data is ${data.length} bytes but ${width}×${height}×${channels} needs ${width * height * channels}`, 'ERR_SD_IMAGE');
  }
  return { data, width, height, channels };
}

/**
 * An init image as RGB bytes: PNG bytes (any PNG decodePng reads), or raw pixels with 1–4
 * channels (inferred from the byte count when `channels` is absent). Alpha is composited onto
 * white, as A1111 flattens img2img inputs.
 */
export function toRgb(image: ImageLike | Uint8Array, what = 'initImage'): RgbImage {
  const { data, width, height, channels } = toImage8(image, what);
  if (channels === 3) return { data, width, height };
  const n = width * height;
  const rgb = new Uint8Array(n * 3);
  for (let p = 0; p < n; p++) {
    const hasAlpha = channels === 2 || channels === 4;
    const a = hasAlpha ? data[p * channels + channels - 1]! : 255;
    for (let c = 0; c < 3; c++) {
      const v = data[p * channels + (channels >= 3 ? c : 0)]!;
      rgb[p * 3 + c] = a === 255 ? v : Math.round((v * a + 255 * (255 - a)) / 255);
    }
  }
  return { data: rgb, width, height };
}
