// Image resizing that gives the same bytes as Pillow 9.x `Image.resize` on 8-bit images, because
// A1111 resizes init images and masks with PIL and an img2img run is only reproducible if the
// pixels entering the VAE are identical.
//
//   resize({ data, width: 512, height: 512, channels: 3 }, 1024, 1024, 'lanczos')
//   resize(img, 640, 3, 'bicubic', [0, 0, 640, 0])   // Pillow's `box=` (A1111's fill bands)
//
// Written from a reading of Pillow's libImaging/Resample.c, Geometry.c (NEAREST) and Convert.c
// (RGBA/LA are resized premultiplied): a separable convolution whose support grows with the
// downscale factor, coefficients normalised to sum 1 then rounded to 22-bit fixed point, a
// horizontal pass over only the rows the vertical pass reads, then the vertical pass; either pass
// is skipped when its axis keeps its size and box.
import { SdError } from './errors.js';

export interface Image8 {
  data: Uint8Array;
  width: number;
  height: number;
  /** 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA; interleaved, row-major */
  channels: 1 | 2 | 3 | 4;
}

export type ResampleFilter = 'nearest' | 'box' | 'bilinear' | 'hamming' | 'bicubic' | 'lanczos';

/** Source rectangle [x0, y0, x1, y1] in pixels, as Pillow's `box` (stored as float32 there). */
export type ResizeBox = readonly [number, number, number, number];

interface Kernel {
  support: number;
  f(x: number): number;
}

// Pillow's hamming window multiplies by float constants (0.54f, 0.46f), widened to double.
const HAMMING_A = Math.fround(0.54);
const HAMMING_B = Math.fround(0.46);

function sinc(x: number): number {
  if (x === 0) return 1;
  x *= Math.PI;
  return Math.sin(x) / x;
}

const KERNELS: Record<Exclude<ResampleFilter, 'nearest'>, Kernel> = {
  box: { support: 0.5, f: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  bilinear: { support: 1, f: (x) => { x = Math.abs(x); return x < 1 ? 1 - x : 0; } },
  hamming: {
    support: 1,
    f: (x) => {
      x = Math.abs(x);
      if (x === 0) return 1;
      if (x >= 1) return 0;
      x *= Math.PI;
      return (Math.sin(x) / x) * (HAMMING_A + HAMMING_B * Math.cos(x));
    },
  },
  bicubic: {
    support: 2,
    f: (x) => {
      const a = -0.5;
      x = Math.abs(x);
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  },
  lanczos: { support: 3, f: (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
};

const PRECISION_BITS = 32 - 8 - 2;
const HALF = 1 << (PRECISION_BITS - 1);

/** Per output pixel: first input index, tap count, and ksize fixed-point weights. */
interface Taps {
  first: Int32Array;
  count: Int32Array;
  weights: Int32Array;
  ksize: number;
}

function taps(inSize: number, in0: number, in1: number, outSize: number, kernel: Kernel): Taps {
  const scale = Math.fround(in1 - in0) / outSize;
  const filterscale = Math.max(scale, 1);
  const support = kernel.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize), count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  const inv = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = in0 + (xx + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const n = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let ww = 0;
    for (let x = 0; x < n; x++) {
      w[x] = kernel.f((x + xmin - center + 0.5) * inv);
      ww += w[x]!;
    }
    for (let x = 0; x < n; x++) {
      let k = w[x]!;
      if (ww !== 0) k /= ww;
      // round half away from zero, then truncate, as the C cast does
      weights[xx * ksize + x] = k < 0 ? Math.trunc(-0.5 + k * (1 << PRECISION_BITS)) : Math.trunc(0.5 + k * (1 << PRECISION_BITS));
    }
    first[xx] = xmin;
    count[xx] = Math.max(n, 0);
  }
  return { first, count, weights, ksize };
}

function clip8(acc: number): number {
  const v = acc >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** Horizontal pass over input rows [y0, y0 + rows). */
function horizontal(src: Uint8Array, width: number, c: number, y0: number, rows: number, outW: number, t: Taps): Uint8Array {
  if (c === 3) return horizontalRgb(src, width, y0, rows, outW, t);
  const out = new Uint8Array(outW * rows * c);
  const { first, count, weights, ksize } = t;
  for (let y = 0; y < rows; y++) {
    const rowIn = (y0 + y) * width * c;
    let o = y * outW * c;
    for (let xx = 0; xx < outW; xx++) {
      const n = count[xx]!, kOff = xx * ksize, base = rowIn + first[xx]! * c;
      for (let ch = 0; ch < c; ch++) {
        let s = HALF;
        for (let x = 0, p = base + ch; x < n; x++, p += c) s = (s + Math.imul(src[p]!, weights[kOff + x]!)) | 0;
        out[o++] = clip8(s);
      }
    }
  }
  return out;
}

// RGB is the common case (init images); its own function keeps the loop monomorphic for the JIT.
function horizontalRgb(src: Uint8Array, width: number, y0: number, rows: number, outW: number, t: Taps): Uint8Array {
  const out = new Uint8Array(outW * rows * 3);
  const { first, count, weights, ksize } = t;
  for (let y = 0; y < rows; y++) {
    const rowIn = (y0 + y) * width * 3;
    let o = y * outW * 3;
    for (let xx = 0; xx < outW; xx++) {
      const n = count[xx]!, kOff = xx * ksize;
      let s0 = HALF, s1 = HALF, s2 = HALF;
      for (let x = 0, p = rowIn + first[xx]! * 3; x < n; x++, p += 3) {
        const k = weights[kOff + x]!;
        s0 = (s0 + Math.imul(src[p]!, k)) | 0; s1 = (s1 + Math.imul(src[p + 1]!, k)) | 0; s2 = (s2 + Math.imul(src[p + 2]!, k)) | 0;
      }
      out[o++] = clip8(s0); out[o++] = clip8(s1); out[o++] = clip8(s2);
    }
  }
  return out;
}

/** Vertical pass; taps index rows of src (already shifted to src's first row). */
function vertical(src: Uint8Array, rowLen: number, outH: number, t: Taps): Uint8Array {
  const out = new Uint8Array(rowLen * outH);
  const { first, count, weights, ksize } = t;
  const rows = new Int32Array(Math.max(ksize, 8)), ks = new Int32Array(Math.max(ksize, 8));
  for (let yy = 0; yy < outH; yy++) {
    const n = count[yy]!;
    for (let y = 0; y < n; y++) {
      rows[y] = (first[yy]! + y) * rowLen;
      ks[y] = weights[yy * ksize + y]!;
    }
    const o = yy * rowLen;
    if (n <= 8) {
      // Upscales and mild downscales (≤ 8 taps): unrolled, the unused taps weigh 0 on a valid row.
      for (let y = n; y < 8; y++) { rows[y] = rows[0]!; ks[y] = 0; }
      const [r0, r1, r2, r3, r4, r5, r6, r7] = rows as unknown as number[];
      const [k0, k1, k2, k3, k4, k5, k6, k7] = ks as unknown as number[];
      for (let i = 0; i < rowLen; i++) {
        // integer sums below 2^31 in any order: exact, so the order need not follow Pillow's
        const s = HALF + src[r0! + i]! * k0! + src[r1! + i]! * k1! + src[r2! + i]! * k2! + src[r3! + i]! * k3! +
          src[r4! + i]! * k4! + src[r5! + i]! * k5! + src[r6! + i]! * k6! + src[r7! + i]! * k7!;
        out[o + i] = clip8(s);
      }
      continue;
    }
    // a sum per output byte kept in a register: each source row is read n times, but from cache
    for (let i = 0; i < rowLen; i++) {
      let s = HALF;
      for (let y = 0; y < n; y++) s = (s + Math.imul(src[rows[y]! + i]!, ks[y]!)) | 0;
      out[o + i] = clip8(s);
    }
  }
  return out;
}

// Pillow resizes RGBA as RGBa and LA as La (colour premultiplied by alpha), then divides back.
function premultiply(img: Image8): Uint8Array {
  const { data, channels: c } = img;
  const out = new Uint8Array(data.length);
  for (let p = 0; p < data.length; p += c) {
    const a = data[p + c - 1]!;
    for (let ch = 0; ch < c - 1; ch++) {
      const t = data[p + ch]! * a + 128;
      out[p + ch] = ((t >> 8) + t) >> 8;
    }
    out[p + c - 1] = a;
  }
  return out;
}

function unpremultiply(data: Uint8Array, c: number): void {
  for (let p = 0; p < data.length; p += c) {
    const a = data[p + c - 1]!;
    if (a === 255 || a === 0) continue;
    for (let ch = 0; ch < c - 1; ch++) data[p + ch] = Math.min(Math.trunc((255 * data[p + ch]!) / a), 255);
  }
}

// Geometry.c's scale-only affine: source position stepped by repeated addition of the ratio.
function nearest(img: Image8, outW: number, outH: number, box: ResizeBox): Uint8Array {
  const { data, width, height, channels: c } = img;
  const out = new Uint8Array(outW * outH * c);
  const ax = Math.fround(box[2] - box[0]) / outW, ay = Math.fround(box[3] - box[1]) / outH;
  const xin = new Int32Array(outW).fill(-1);
  let xo = box[0] + ax * 0.5;
  for (let x = 0; x < outW; x++, xo += ax) {
    const xi = xo < 0 ? -1 : Math.trunc(xo);
    if (xi < width) xin[x] = xi;
  }
  let yo = box[1] + ay * 0.5;
  for (let y = 0; y < outH; y++, yo += ay) {
    const yi = yo < 0 ? -1 : Math.trunc(yo);
    if (yi < 0 || yi >= height) continue; // rows outside the source stay 0, as Pillow fills them
    const rowIn = yi * width * c;
    let o = y * outW * c;
    for (let x = 0; x < outW; x++, o += c) {
      const xi = xin[x]!;
      if (xi < 0) continue;
      for (let ch = 0; ch < c; ch++) out[o + ch] = data[rowIn + xi * c + ch]!;
    }
  }
  return out;
}

function crop(img: Image8, x0: number, y0: number, w: number, h: number): Uint8Array {
  const { data, width, channels: c } = img;
  const out = new Uint8Array(w * h * c);
  for (let y = 0; y < h; y++) out.set(data.subarray(((y0 + y) * width + x0) * c, ((y0 + y) * width + x0 + w) * c), y * w * c);
  return out;
}

function check(img: Image8, width: number, height: number, box: ResizeBox): void {
  const { data, channels: c } = img;
  if (![1, 2, 3, 4].includes(c)) throw new SdError(`resize: channels must be 1, 2, 3 or 4, got ${c}`, 'ERR_SD_IMAGE');
  if (!(img.width >= 1 && img.height >= 1 && Number.isInteger(img.width) && Number.isInteger(img.height)) || data.length !== img.width * img.height * c) {
    throw new SdError(`resize: ${img.width}x${img.height}x${c} needs ${img.width * img.height * c} bytes, got ${data.length}`, 'ERR_SD_IMAGE');
  }
  if (!(Number.isInteger(width) && Number.isInteger(height) && width >= 1 && height >= 1)) {
    throw new SdError(`resize: the target size must be whole pixels ≥ 1, got ${width}x${height}`, 'ERR_SD_IMAGE');
  }
  const [x0, y0, x1, y1] = box;
  if (x0 < 0 || y0 < 0 || x1 > img.width || y1 > img.height || x1 < x0 || y1 < y0) {
    throw new SdError(`resize: box [${box.join(', ')}] is not inside the ${img.width}x${img.height} image`, 'ERR_SD_IMAGE');
  }
}

/**
 * `img` resized to width×height with Pillow 9's rules and rounding (byte-identical output).
 * `box` selects the source rectangle as in PIL (default: the whole image). Returns a new image;
 * same size and full box gives a copy.
 */
export function resize(img: Image8, width: number, height: number, filter: ResampleFilter, box?: ResizeBox): Image8 {
  const b = (box ?? [0, 0, img.width, img.height]).map(Math.fround) as unknown as ResizeBox;
  check(img, width, height, b);
  const c = img.channels;
  const out = (data: Uint8Array): Image8 => ({ data, width, height, channels: c });
  if (img.width === width && img.height === height && b[0] === 0 && b[1] === 0 && b[2] === width && b[3] === height) {
    return out(img.data.slice());
  }
  // Only the convolution path sees premultiplied pixels; Pillow's crop shortcut sits inside it.
  const alpha = (c === 2 || c === 4) && filter !== 'nearest';
  let src = alpha ? premultiply(img) : img.data;
  const done = (data: Uint8Array): Image8 => {
    if (data === img.data) data = data.slice();
    if (alpha) unpremultiply(data, c);
    return out(data);
  };
  if (Number.isInteger(b[0]) && Number.isInteger(b[1]) && b[2] - b[0] === width && b[3] - b[1] === height) {
    return done(crop({ ...img, data: src }, b[0], b[1], width, height));
  }
  if (filter === 'nearest') return out(nearest(img, width, height, b));
  const kernel = KERNELS[filter];
  if (!kernel) throw new SdError(`resize: unknown filter '${String(filter)}'`, 'ERR_SD_IMAGE');

  const needH = width !== img.width || b[0] !== 0 || b[2] !== width;
  const needV = height !== img.height || b[1] !== 0 || b[3] !== height;
  const th = taps(img.width, b[0], b[2], width, kernel);
  const tv = taps(img.height, b[1], b[3], height, kernel);
  let rowW = img.width;
  if (needH) {
    const yFirst = tv.first[0]!, yLast = tv.first[height - 1]! + tv.count[height - 1]!;
    src = horizontal(src, img.width, c, yFirst, yLast - yFirst, width, th);
    for (let i = 0; i < height; i++) tv.first[i] -= yFirst;
    rowW = width;
  }
  if (needV) src = vertical(src, rowW * c, height, tv);
  return done(src);
}
