// Peak signal-to-noise ratio between two 8-bit images over R, G and B (alpha ignored: runtimes
// differ in whether they write it), the measure the bench reports for "same picture?".
import type { DecodedPng } from '../png.js';

type Rgba = Pick<DecodedPng, 'data' | 'width' | 'height'>;

/** 10·log10(255² / MSE) in dB; Infinity for identical pixels. Sizes must match. */
export function psnr(a: Rgba, b: Rgba): number {
  if (a.width !== b.width || a.height !== b.height) {
    throw new Error(`PSNR needs equal sizes, got ${a.width}×${a.height} and ${b.width}×${b.height}`);
  }
  let sum = 0;
  const n = a.width * a.height;
  for (let i = 0; i < n * 4; i += 4) {
    for (let c = 0; c < 3; c++) {
      const d = a.data[i + c]! - b.data[i + c]!;
      sum += d * d;
    }
  }
  const mse = sum / (n * 3);
  return mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse);
}
