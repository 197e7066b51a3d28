// A1111's image-fitting rules, with the same pixels: `images.resize_image` (the img2img resize
// modes, applied to init images and masks) with upscaler None, and the extras tab's upscale step
// with its non-model upscalers (None, Lanczos, Nearest). Both are built on lib/resample.ts.
//
//   resizeImage(1, img, 512, 768)        // crop and resize → RGB 512×768
//   extrasUpscale(img, { upscaler: 'Lanczos', mode: 0, scale: 2 })
import { SdError } from './errors.js';
import { resize, type Image8 } from './resample.js';

/** 0 just resize, 1 crop and resize (cover, centred), 2 resize and fill (fit, edges stretched). */
export type ResizeMode = 0 | 1 | 2;

const floorDiv = (a: number, b: number): number => Math.floor(a / b);

// PIL's Image.new("RGB").paste(im, (x, y)): clipped to the canvas; L/LA are replicated to RGB,
// the alpha of RGBA/LA is dropped (A1111 pastes without a mask).
function pasteRgb(canvas: Image8, im: Image8, x0: number, y0: number): void {
  const c = im.channels;
  for (let y = Math.max(0, -y0); y < im.height && y + y0 < canvas.height; y++) {
    for (let x = Math.max(0, -x0); x < im.width && x + x0 < canvas.width; x++) {
      const s = (y * im.width + x) * c, d = ((y + y0) * canvas.width + x + x0) * 3;
      if (c >= 3) {
        canvas.data[d] = im.data[s]!; canvas.data[d + 1] = im.data[s + 1]!; canvas.data[d + 2] = im.data[s + 2]!;
      } else {
        canvas.data[d] = canvas.data[d + 1] = canvas.data[d + 2] = im.data[s]!;
      }
    }
  }
}

const blackRgb = (width: number, height: number): Image8 => ({ data: new Uint8Array(width * height * 3), width, height, channels: 3 });

/**
 * A1111 `images.resize_image(mode, im, width, height)` with upscaler None: mode 0 keeps the
 * image's channels; modes 1 and 2 return RGB (A1111 pastes onto Image.new("RGB")).
 */
export function resizeImage(mode: ResizeMode, im: Image8, width: number, height: number): Image8 {
  if (mode === 0) return resize(im, width, height, 'lanczos');
  if (mode !== 1 && mode !== 2) throw new SdError(`resize_mode must be 0, 1 or 2, got ${String(mode)}`, 'ERR_SD_INVALID_OPTION');
  const ratio = width / height, srcRatio = im.width / im.height;
  const byWidth = mode === 1 ? ratio > srcRatio : ratio < srcRatio;
  const srcW = byWidth ? width : floorDiv(im.width * height, im.height);
  const srcH = (mode === 1 ? ratio <= srcRatio : ratio >= srcRatio) ? height : floorDiv(im.height * width, im.width);
  const resized = resize(im, srcW, srcH, 'lanczos');
  const res = blackRgb(width, height);
  const x0 = floorDiv(width, 2) - floorDiv(srcW, 2), y0 = floorDiv(height, 2) - floorDiv(srcH, 2);
  pasteRgb(res, resized, x0, y0);
  if (mode === 2) {
    // The empty bands get the first/last row (column) stretched: PIL's bicubic default on a
    // zero-height (zero-width) box.
    if (ratio < srcRatio) {
      const fill = floorDiv(height, 2) - floorDiv(srcH, 2);
      if (fill > 0) {
        pasteRgb(res, resize(resized, width, fill, 'bicubic', [0, 0, width, 0]), 0, 0);
        pasteRgb(res, resize(resized, width, fill, 'bicubic', [0, resized.height, width, resized.height]), 0, fill + srcH);
      }
    } else if (ratio > srcRatio) {
      const fill = floorDiv(width, 2) - floorDiv(srcW, 2);
      if (fill > 0) {
        pasteRgb(res, resize(resized, fill, height, 'bicubic', [0, 0, 0, height]), 0, 0);
        pasteRgb(res, resize(resized, fill, height, 'bicubic', [resized.width, 0, resized.width, height]), fill + srcW, 0);
      }
    }
  }
  return res;
}

export type ExtrasUpscaler = 'None' | 'Lanczos' | 'Nearest';

export interface ExtrasUpscaleOptions {
  upscaler: ExtrasUpscaler;
  /** 0: scale by `scale`; 1: scale to width×height */
  mode: 0 | 1;
  scale?: number;
  width?: number;
  height?: number;
  /** mode 1: centre-crop onto width×height (RGB), as A1111's "Crop to fit" */
  crop?: boolean;
  /** a second upscaler blended in with this weight (A1111 upscaler_2 / extras_upscaler_2_visibility) */
  upscaler2?: ExtrasUpscaler;
  upscaler2Visibility?: number;
}

/** The size extrasUpscale will return, computed without touching pixels (callers cap it first). */
export function extrasOutputSize(width: number, height: number, o: ExtrasUpscaleOptions): { width: number; height: number } {
  if (o.upscaler === 'None') return { width, height };
  if (o.mode === 1 && o.crop) return { width: o.width!, height: o.height! };
  const by = upscaleBy(width, height, o);
  // Upscaler.upscale: the target is rounded down to a multiple of 8
  return { width: Math.trunc(floorDiv(width * by, 8) * 8), height: Math.trunc(floorDiv(height * by, 8) * 8) };
}

function upscaleBy(width: number, height: number, o: ExtrasUpscaleOptions): number {
  return o.mode === 1 ? Math.max(o.width! / width, o.height! / height) : o.scale!;
}

// modules/upscaler.py Upscaler.upscale: up to three passes of the upscaler's own resize, then a
// lanczos resize onto the multiple-of-8 target.
function upscalerUpscale(img: Image8, scale: number, filter: 'lanczos' | 'nearest'): Image8 {
  const destW = Math.trunc(floorDiv(img.width * scale, 8) * 8), destH = Math.trunc(floorDiv(img.height * scale, 8) * 8);
  if (destW < 1 || destH < 1) {
    throw new SdError(`upscaling ${img.width}x${img.height} by ${scale} gives ${destW}x${destH} (A1111 rounds down to a multiple of 8); use a larger scale`, 'ERR_SD_INVALID_OPTION');
  }
  for (let i = 0; i < 3; i++) {
    if (img.width >= destW && img.height >= destH && (i > 0 || scale !== 1)) break;
    const w = Math.trunc(img.width * scale), h = Math.trunc(img.height * scale);
    const before = img;
    img = resize(img, w, h, filter);
    if (before.width === img.width && before.height === img.height) break;
  }
  if (img.width !== destW || img.height !== destH) img = resize(img, destW, destH, 'lanczos');
  return img;
}

/**
 * images.resize_image(0, im, width, height, upscaler_name) with a non-model upscaler (the hires
 * fix's image path): the upscaler's own passes when enlarging, then a lanczos resize onto the size.
 */
export function hiresImageUpscale(img: Image8, width: number, height: number, upscaler: 'Lanczos' | 'Nearest'): Image8 {
  const scale = Math.max(width / img.width, height / img.height);
  let out = scale > 1 ? upscalerUpscale(img, scale, upscaler === 'Lanczos' ? 'lanczos' : 'nearest') : img;
  if (out.width !== width || out.height !== height) out = resize(out, width, height, 'lanczos');
  return out;
}

function upscaleOne(img: Image8, upscaler: 'Lanczos' | 'Nearest', o: ExtrasUpscaleOptions): Image8 {
  let out = upscalerUpscale(img, upscaleBy(img.width, img.height, o), upscaler === 'Lanczos' ? 'lanczos' : 'nearest');
  if (o.mode === 1 && o.crop) {
    const canvas = blackRgb(o.width!, o.height!);
    pasteRgb(canvas, out, floorDiv(o.width!, 2) - floorDiv(out.width, 2), floorDiv(o.height!, 2) - floorDiv(out.height, 2));
    out = canvas;
  }
  return out;
}

// PIL Image.blend with 0 < alpha < 1: per byte in1 + alpha·(in2 − in1) in float, truncated.
function blend(a: Image8, b: Image8, alpha: number): Image8 {
  const f = Math.fround(alpha);
  const out = new Uint8Array(a.data.length);
  for (let i = 0; i < out.length; i++) out[i] = Math.fround(a.data[i]! + Math.fround(f * (b.data[i]! - a.data[i]!)));
  return { ...a, data: out };
}

/**
 * The extras tab's upscale step (scripts/postprocessing_upscale.py) for the upscalers that need
 * no model. Returns the image and the infotext entries A1111 records.
 */
export function extrasUpscale(img: Image8, o: ExtrasUpscaleOptions): { image: Image8; info: Record<string, string> } {
  const info: Record<string, string> = {};
  if (o.upscaler === 'None') return { image: img, info };
  if (o.mode === 1) info['Postprocess upscale to'] = `${o.width}x${o.height}`;
  else info['Postprocess upscale by'] = pyFloat(o.scale!);
  let image = upscaleOne(img, o.upscaler, o);
  if (o.mode === 1 && o.crop) info['Postprocess crop to'] = `${image.width}x${image.height}`;
  info['Postprocess upscaler'] = o.upscaler;
  const vis = o.upscaler2Visibility ?? 0;
  if (o.upscaler2 && o.upscaler2 !== 'None' && vis > 0) {
    const second = upscaleOne(img, o.upscaler2, o); // same options, so same size and channels
    image = vis >= 1 ? second : blend(image, second, vis);
    info['Postprocess upscaler 2'] = o.upscaler2;
  }
  return { image, info };
}

/** A number as Python's str(float) writes it (2 → "2.0"), for infotext parity. */
function pyFloat(n: number): string {
  return Number.isInteger(n) ? `${n}.0` : String(n);
}
