// Inpainting's pixel side, as AUTOMATIC1111 does it (modules/processing.py
// StableDiffusionProcessingImg2Img.init, modules/masking.py, apply_overlay): the mask is binarized,
// optionally inverted and blurred; "only masked" crops a padded box around it and works at the
// output size; the latent mask the sampler keeps is the mask resized to latent size and rounded;
// after decoding, the original is composited back outside the (blurred) mask.
//
//   const job = prepareInpaint(initRgb, maskImage, { width: 512, height: 512, ...settings }, 8);
//   // job.image + job.pixelMask + job.latentMask go to the native generate(); then:
//   const final = job.composite(decodedRgba);
import { SdError } from './errors.js';
import { alphaComposite, gaussianBlurMask, pasteOverTransparent, pilGaussianBlur, unpremultiply } from './pil-ops.js';
import { resize, type Image8 } from './resample.js';
import { resizeImage } from './resize-modes.js';

/** A1111's resize_mode numbers for our option names. */
export const RESIZE_MODES = { just_resize: 0, crop_and_resize: 1, resize_and_fill: 2 } as const;

export type InpaintFill = 'fill' | 'original' | 'latent_noise' | 'latent_nothing';

export interface InpaintSettings {
  width: number;
  height: number;
  resizeMode: keyof typeof RESIZE_MODES;
  /** Gaussian sigma, or [x, y] as A1111's mask_blur_x / mask_blur_y */
  maskBlur: number | readonly [number, number];
  maskInvert: boolean;
  inpaintingFill: InpaintFill;
  inpaintArea: 'whole' | 'masked';
  inpaintPadding: number;
}

export interface PreparedInpaint {
  /** RGB at the output size: what the VAE encodes */
  image: Image8;
  /** the output-size mask, 255 = repaint (A1111's image_mask) */
  pixelMask: Uint8Array;
  /** 1 = repaint, at latent size (A1111's rounded latmask) */
  latentMask: Float32Array;
  /** the crop box [x1, y1, x2, y2] in the original image when inpaintArea is 'masked' */
  cropRegion?: [number, number, number, number];
  /** generated RGBA (output size) -> the final image at the original's size */
  composite(generated: Uint8Array): { data: Uint8Array; width: number; height: number };
}

/** A mask as one 8-bit channel: an RGBA mask with transparency uses its alpha (> 128 → 255), else luma. */
export function binaryMask(mask: Image8): Uint8Array {
  const n = mask.width * mask.height, ch = mask.channels;
  const out = new Uint8Array(n);
  if (ch === 4 || ch === 2) {
    let opaque = true;
    for (let p = 0; p < n && opaque; ++p) opaque = mask.data[p * ch + ch - 1] === 255;
    if (!opaque) {
      for (let p = 0; p < n; ++p) out[p] = mask.data[p * ch + ch - 1]! > 128 ? 255 : 0;
      return out;
    }
  }
  for (let p = 0; p < n; ++p) {
    if (ch < 3) out[p] = mask.data[p * ch]!;
    else {
      // Pillow's ITU-R 601-2 luma in 16-bit fixed point
      const d = mask.data, i = p * ch;
      out[p] = (d[i]! * 19595 + d[i + 1]! * 38470 + d[i + 2]! * 7471 + 0x8000) >> 16;
    }
  }
  return out;
}

/** masking.get_crop_region_v2: the box of non-zero pixels grown by pad, or undefined for a blank mask. */
export function cropRegion(mask: Uint8Array, width: number, height: number, pad: number): [number, number, number, number] | undefined {
  let x1 = width, y1 = height, x2 = -1, y2 = -1;
  for (let y = 0; y < height; ++y)
    for (let x = 0; x < width; ++x)
      if (mask[y * width + x]) {
        x1 = Math.min(x1, x), x2 = Math.max(x2, x), y1 = Math.min(y1, y), y2 = Math.max(y2, y);
      }
  if (x2 < 0) return undefined;
  return [Math.max(x1 - pad, 0), Math.max(y1 - pad, 0), Math.min(x2 + 1 + pad, width), Math.min(y2 + 1 + pad, height)];
}

/** masking.expand_crop_region: grow the box to the output's aspect ratio, kept inside the image. */
export function expandCropRegion(box: [number, number, number, number], outW: number, outH: number, imageW: number, imageH: number): [number, number, number, number] {
  let [x1, y1, x2, y2] = box;
  const ratioCrop = (x2 - x1) / (y2 - y1), ratioOut = outW / outH;
  const grow = (a: number, b: number, want: number, limit: number): [number, number] => {
    const diff = Math.trunc(want - (b - a));
    a -= Math.floor(diff / 2);
    b += diff - Math.floor(diff / 2);
    if (b >= limit) {
      const over = b - limit;
      b -= over;
      a -= over;
    }
    if (a < 0) {
      b -= a;
      a = 0;
    }
    if (b >= limit) b = limit;
    return [a, b];
  };
  if (ratioCrop > ratioOut) [y1, y2] = grow(y1, y2, (x2 - x1) / ratioOut, imageH);
  else [x1, x2] = grow(x1, x2, (y2 - y1) * ratioOut, imageW);
  return [x1, y1, x2, y2];
}

function crop(img: Image8, [x1, y1, x2, y2]: [number, number, number, number]): Image8 {
  const w = x2 - x1, h = y2 - y1, ch = img.channels;
  const data = new Uint8Array(w * h * ch);
  for (let y = 0; y < h; ++y) {
    const sy = y + y1;
    if (sy < 0 || sy >= img.height) continue;
    for (let x = 0; x < w; ++x) {
      const sx = x + x1;
      if (sx < 0 || sx >= img.width) continue;
      for (let c = 0; c < ch; ++c) data[(y * w + x) * ch + c] = img.data[(sy * img.width + sx) * ch + c]!;
    }
  }
  return { data, width: w, height: h, channels: ch };
}

const toRgba = (img: Image8): Uint8Array => {
  const n = img.width * img.height, out = new Uint8Array(n * 4);
  for (let p = 0; p < n; ++p) {
    for (let c = 0; c < 3; ++c) out[p * 4 + c] = img.data[p * img.channels + (img.channels >= 3 ? c : 0)]!;
    out[p * 4 + 3] = 255;
  }
  return out;
};

// A1111's resize modes 1 and 2 hand an L mask back as RGB with equal channels; Pillow's
// convert('L') of such a gray is the gray itself, so the first channel is the mask.
const gray = (img: Image8): Uint8Array => (img.channels === 1 ? img.data : img.data.filter((_, i) => i % img.channels === 0));

const invert = (m: Uint8Array): Uint8Array => m.map((v) => 255 - v);

/** masking.fill: the masked area painted with ever finer blurs of the unmasked colours. */
export function fillMasked(image: Image8, mask: Uint8Array): Image8 {
  const { width, height } = image;
  const premultiplied = pasteOverTransparent(toRgba(image), invert(mask));
  const result = new Uint8Array(width * height * 4);
  for (const [radius, repeats] of [[256, 1], [64, 1], [16, 2], [4, 4], [2, 2], [0, 1]] as const) {
    const blurred = unpremultiply(pilGaussianBlur(premultiplied, width, height, 4, radius));
    for (let i = 0; i < repeats; ++i) alphaComposite(result, blurred);
  }
  const rgb = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; ++p) for (let c = 0; c < 3; ++c) rgb[p * 3 + c] = result[p * 4 + c]!;
  return { data: rgb, width, height, channels: 3 };
}

/** The latent mask the sampler keeps: Pillow's default (bicubic) resize to latent size, /255, rounded. */
export function latentMask(mask: Uint8Array, width: number, height: number, downscale: number): Float32Array {
  const small = resize({ data: mask, width, height, channels: 1 }, width / downscale, height / downscale, 'bicubic');
  // np.around rounds half to even: 127.5 never occurs after /255 of bytes, so > 127 is exact
  return Float32Array.from(small.data, (v) => (v / 255 > 0.5 ? 1 : 0));
}

/**
 * Everything A1111 does to an init image and its mask before sampling, and the compositing after.
 * `image` is the original init image (any size); the result works at settings.width × height.
 */
export function prepareInpaint(image: Image8, mask: Image8, s: InpaintSettings, downscale: number): PreparedInpaint {
  if (mask.width !== image.width || mask.height !== image.height)
    throw new SdError(`mask is ${mask.width}×${mask.height} but initImage is ${image.width}×${image.height}; they must match`, 'ERR_SD_IMAGE');
  let m = binaryMask(mask);
  if (s.maskInvert) m = invert(m);
  if (!m.some((v) => v !== 0)) throw new SdError(`the mask is empty${s.maskInvert ? ' once inverted' : ''}: nothing would be repainted`, 'ERR_SD_IMAGE');
  const [blurX, blurY] = typeof s.maskBlur === 'number' ? [s.maskBlur, s.maskBlur] : s.maskBlur;
  m = gaussianBlurMask(m, mask.width, mask.height, blurX, blurY);
  const asImage = (data: Uint8Array, width: number, height: number): Image8 => ({ data, width, height, channels: 1 });

  let region: [number, number, number, number] | undefined;
  let processMask: Uint8Array, overlayMask: Uint8Array, processImage: Image8;
  if (s.inpaintArea === 'masked') region = cropRegion(m, mask.width, mask.height, s.inpaintPadding);
  if (region) {
    region = expandCropRegion(region, s.width, s.height, mask.width, mask.height);
    overlayMask = m;
    processMask = gray(resizeImage(2, crop(asImage(m, mask.width, mask.height), region), s.width, s.height));
    processImage = resizeImage(2, crop(image, region), s.width, s.height);
  } else {
    processMask = gray(resizeImage(RESIZE_MODES[s.resizeMode], asImage(m, mask.width, mask.height), s.width, s.height));
    overlayMask = processMask.map((v) => Math.min(255, v * 2));
    processImage = resizeImage(RESIZE_MODES[s.resizeMode], image, s.width, s.height);
  }
  // The original, transparent where it will be repainted, at the size it is composited at.
  const overlayBase = region ? image : processImage;
  const overlay = unpremultiply(pasteOverTransparent(toRgba(overlayBase), invert(overlayMask)));
  if (s.inpaintingFill !== 'original') processImage = fillMasked(processImage, processMask);

  const composite = (generated: Uint8Array) => {
    let base = generated, width = s.width, height = s.height;
    if (region) {
      // uncrop: the generated box resized back over a transparent canvas of the original's size
      const [x1, y1, x2, y2] = region;
      const fitted = resizeImage(1, { data: generated, width: s.width, height: s.height, channels: 4 }, x2 - x1, y2 - y1);
      width = image.width, height = image.height;
      base = new Uint8Array(width * height * 4);
      for (let y = Math.max(0, y1); y < Math.min(height, y2); ++y)
        for (let x = Math.max(0, x1); x < Math.min(width, x2); ++x) {
          const at = (y * width + x) * 4, from = ((y - y1) * (x2 - x1) + (x - x1)) * fitted.channels;
          for (let c = 0; c < 3; ++c) base[at + c] = fitted.data[from + c]!;
          base[at + 3] = 255;
        }
    } else {
      base = new Uint8Array(generated);
    }
    alphaComposite(base, overlay);
    for (let p = 3; p < base.length; p += 4) base[p] = 255; // A1111 converts to RGB
    return { data: base, width, height };
  };
  return { image: processImage, pixelMask: processMask, latentMask: latentMask(processMask, s.width, s.height, downscale), cropRegion: region, composite };
}
