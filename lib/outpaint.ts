// Outpainting as an inpaint of a larger canvas (the approach of A1111's "Poor man's outpainting"):
// the original is placed on a canvas grown on the chosen sides, the new border is the mask, and the
// mask reaches 2·maskBlur pixels into the original on those sides so the seam is repainted too.
// The border starts as the original's edge pixels stretched outward; inpaintingFill 'fill' or
// 'latent_noise' with strength 1 draws it anew.
//
//   const { image, mask } = outpaintCanvas(rgb, { left: 0, right: 128, top: 0, bottom: 0 }, 4, 8);
import { SdError } from './errors.js';
import type { Image8 } from './resample.js';

export interface OutpaintSides {
  left: number;
  right: number;
  top: number;
  bottom: number;
}

/** The grown canvas (RGB) and its mask (255 = to paint), sides rounded up so the canvas is a multiple of `multiple`. */
export function outpaintCanvas(src: Image8, sides: OutpaintSides, maskBlur: number, multiple: number): { image: Image8; mask: Image8; sides: OutpaintSides } {
  if (src.channels !== 3) throw new SdError('outpaint needs an RGB image', 'ERR_SD_IMAGE');
  const s = { ...sides };
  // round up on a side that grows (right before left, bottom before top), as the canvas must fit the VAE
  const padW = (multiple - ((src.width + s.left + s.right) % multiple)) % multiple;
  const padH = (multiple - ((src.height + s.top + s.bottom) % multiple)) % multiple;
  if (s.right > 0 || s.left === 0) s.right += padW;
  else s.left += padW;
  if (s.bottom > 0 || s.top === 0) s.bottom += padH;
  else s.top += padH;
  const width = src.width + s.left + s.right, height = src.height + s.top + s.bottom;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const sy = Math.min(Math.max(y - s.top, 0), src.height - 1);
    for (let x = 0; x < width; x++) {
      const sx = Math.min(Math.max(x - s.left, 0), src.width - 1);
      for (let c = 0; c < 3; c++) data[(y * width + x) * 3 + c] = src.data[(sy * src.width + sx) * 3 + c]!;
    }
  }
  // keep = the original minus the overlap band on each grown side
  const band = 2 * maskBlur;
  const x0 = s.left + (sides.left > 0 ? band : 0), x1 = s.left + src.width - (sides.right > 0 ? band : 0);
  const y0 = s.top + (sides.top > 0 ? band : 0), y1 = s.top + src.height - (sides.bottom > 0 ? band : 0);
  const mask = new Uint8Array(width * height).fill(255);
  for (let y = Math.max(0, y0); y < Math.min(height, y1); y++) mask.fill(0, y * width + Math.max(0, x0), y * width + Math.min(width, x1));
  return { image: { data, width, height, channels: 3 }, mask: { data: mask, width, height, channels: 1 }, sides: s };
}
