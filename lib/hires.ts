// A1111's hires fix, the parts around the two native passes (modules/processing.py
// StableDiffusionProcessingTxt2Img.init / sample_hr_pass): the target size from a scale or a
// resize (with its centre crop when both sides are given), and the enlarging of the first pass —
// its latent with a torch interpolate mode, or its image with a non-model upscaler.
//
//   const t = hiresTarget(512, 512, settings.hiresPlan, 8);   // { width: 1024, height: 1024, … }
import { SdError } from './errors.js';
import type { HiresSettings } from './options.js';
import { LATENT_UPSCALERS, upscaleLatent, type LatentUpscaler } from './latent-upscale.js';
import type { Image8 } from './resample.js';
import { hiresImageUpscale } from './resize-modes.js';

export interface HiresTarget {
  /** A1111's hr_upscale_to_x / _y: the enlarged size before the crop */
  upscaleWidth: number;
  upscaleHeight: number;
  /** latent columns / rows cut off (A1111's truncate_x / _y), half on each side */
  truncateX: number;
  truncateY: number;
  /** what the second pass generates: a multiple of the VAE's factor */
  width: number;
  height: number;
}

const floorDiv = (a: number, b: number) => Math.floor(a / b);

export function isLatentUpscaler(name: HiresSettings['upscaler']): name is LatentUpscaler {
  return name in LATENT_UPSCALERS;
}

const UPSCALER_LABELS: Record<HiresSettings['upscaler'], string> = {
  latent: 'Latent', latent_antialiased: 'Latent (antialiased)', latent_bicubic: 'Latent (bicubic)',
  latent_bicubic_antialiased: 'Latent (bicubic antialiased)', latent_nearest: 'Latent (nearest)', latent_nearest_exact: 'Latent (nearest-exact)',
  lanczos: 'Lanczos', nearest: 'Nearest',
};

/** Our hiresUpscaler for an A1111 label ("Latent (bicubic)", "Lanczos"; "None" resizes with Lanczos), or undefined. */
export function hiresUpscalerFromLabel(label: string): HiresSettings['upscaler'] | undefined {
  if (label.toLowerCase() === 'none') return 'lanczos';
  return (Object.keys(UPSCALER_LABELS) as Array<HiresSettings['upscaler']>).find((k) => UPSCALER_LABELS[k].toLowerCase() === label.toLowerCase());
}

/** The labels hiresUpscalerFromLabel knows, for error messages. */
export const HIRES_UPSCALER_LABELS: readonly string[] = [...Object.values(UPSCALER_LABELS), 'None'];

/** What A1111 writes to the infotext for a hires fix (its extra_generation_params); the hires
 * prompts only where they differ from the image's own. */
export function hiresInfo(h: HiresSettings, prompt: string, negativePrompt: string): Array<[string, string | number]> {
  const out: Array<[string, string | number]> = [];
  if (h.width || h.height) out.push(['Hires resize', `${h.width}x${h.height}`]);
  else out.push(['Hires upscale', h.scale]);
  if (h.steps) out.push(['Hires steps', h.steps]);
  out.push(['Hires upscaler', UPSCALER_LABELS[h.upscaler]]);
  if (h.samplerGiven) out.push(['Hires sampler', h.samplerGiven]);
  if (h.prompt && h.prompt !== prompt) out.push(['Hires prompt', h.prompt]);
  if (h.negativePrompt && h.negativePrompt !== negativePrompt) out.push(['Hires negative prompt', h.negativePrompt]);
  return out;
}

/** The second pass's size for a first pass of width × height (downscale: the VAE's factor). */
export function hiresTarget(width: number, height: number, h: HiresSettings, downscale: number): HiresTarget {
  let upscaleWidth: number, upscaleHeight: number, truncateX = 0, truncateY = 0;
  if (h.width === 0 && h.height === 0) {
    upscaleWidth = Math.trunc(width * h.scale);
    upscaleHeight = Math.trunc(height * h.scale);
  } else if (h.height === 0) {
    upscaleWidth = h.width;
    upscaleHeight = floorDiv(h.width * height, width);
  } else if (h.width === 0) {
    upscaleWidth = floorDiv(h.height * width, height);
    upscaleHeight = h.height;
  } else {
    // both given: fill the box keeping the aspect, then crop the overhang from the latent
    if (width / height < h.width / h.height) {
      upscaleWidth = h.width;
      upscaleHeight = floorDiv(h.width * height, width);
    } else {
      upscaleWidth = floorDiv(h.height * width, height);
      upscaleHeight = h.height;
    }
    truncateX = floorDiv(upscaleWidth - h.width, downscale);
    truncateY = floorDiv(upscaleHeight - h.height, downscale);
  }
  const latentW = floorDiv(upscaleWidth, downscale) - truncateX, latentH = floorDiv(upscaleHeight, downscale) - truncateY;
  if (latentW < 1 || latentH < 1) throw new SdError(`hires fix target ${upscaleWidth}×${upscaleHeight} is smaller than one latent pixel`, 'ERR_SD_INVALID_OPTION');
  return { upscaleWidth, upscaleHeight, truncateX, truncateY, width: latentW * downscale, height: latentH * downscale };
}

/** The first pass's latents [batch, c, h, w] enlarged and cropped to the target's latent size. */
export function enlargeLatent(latent: Float32Array, shape: readonly [number, number, number, number], t: HiresTarget, upscaler: LatentUpscaler,
                              downscale: number): Float32Array {
  const [b, c] = shape;
  const upH = floorDiv(t.upscaleHeight, downscale), upW = floorDiv(t.upscaleWidth, downscale);
  const big = upscaleLatent(latent, shape, upH, upW, upscaler);
  if (!t.truncateX && !t.truncateY) return big;
  // samples[:, :, ty//2 : H − (ty+1)//2, tx//2 : W − (tx+1)//2]
  const top = floorDiv(t.truncateY, 2), left = floorDiv(t.truncateX, 2);
  const h = t.height / downscale, w = t.width / downscale;
  const out = new Float32Array(b * c * h * w);
  for (let p = 0; p < b * c; ++p)
    for (let y = 0; y < h; ++y) out.set(big.subarray(p * upH * upW + (y + top) * upW + left, p * upH * upW + (y + top) * upW + left + w), (p * h + y) * w);
  return out;
}

/** A first-pass image (RGBA) enlarged with a non-model upscaler to the target, cropped like the latent. */
export function enlargeImage(rgba: Uint8Array, width: number, height: number, t: HiresTarget, upscaler: 'lanczos' | 'nearest', downscale: number): Image8 {
  const rgb = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; ++p) for (let c = 0; c < 3; ++c) rgb[p * 3 + c] = rgba[p * 4 + c]!;
  // the VAE encodes whole latent pixels: the upscale target rounded down to the factor
  const upW = floorDiv(t.upscaleWidth, downscale) * downscale, upH = floorDiv(t.upscaleHeight, downscale) * downscale;
  const big = hiresImageUpscale({ data: rgb, width, height, channels: 3 }, upW, upH, upscaler === 'lanczos' ? 'Lanczos' : 'Nearest');
  if (big.width === t.width && big.height === t.height) return big;
  const top = floorDiv(t.truncateY, 2) * downscale, left = floorDiv(t.truncateX, 2) * downscale;
  const out = new Uint8Array(t.width * t.height * 3);
  for (let y = 0; y < t.height; ++y) out.set(big.data.subarray(((y + top) * big.width + left) * 3, ((y + top) * big.width + left + t.width) * 3), y * t.width * 3);
  return { data: out, width: t.width, height: t.height, channels: 3 };
}
