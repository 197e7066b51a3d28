// The few Pillow and OpenCV pixel operations A1111's inpainting uses, reproduced byte for byte
// (Pillow 9.x Paste.c, Convert.c, AlphaComposite.c, BoxBlur.c; OpenCV 4.x bit-exact GaussianBlur
// for 8-bit images), because A1111 inpaints with them and a result is only reproducible if the
// pixels and masks entering the VAE are identical. Checked against the libraries themselves
// (test/fixtures/inpaint_a1111.*).
//
//   const soft = gaussianBlurMask(mask, width, height, 4, 4);   // A1111 "Mask blur: 4"
//   alphaComposite(rgba, overlay);                               // Image.alpha_composite, in place

// (a + 128) / 255 with Pillow's shift trick, exact for 0..255·255.
const div255 = (a: number): number => {
  const t = a + 128;
  return ((t >> 8) + t) >> 8;
};

/** Pillow `paste(src, mask=m)` of RGBA `src` over transparent black: each channel c·m/255 (premultiplied RGBa). */
export function pasteOverTransparent(rgba: Uint8Array, mask: Uint8Array): Uint8Array {
  const out = new Uint8Array(rgba.length);
  for (let p = 0; p < mask.length; ++p) {
    const m = mask[p]!;
    for (let c = 0; c < 4; ++c) out[p * 4 + c] = div255(rgba[p * 4 + c]! * m);
  }
  return out;
}

/** Pillow RGBa (premultiplied) -> RGBA: c·255/α truncated, clipped; α 0 or 255 copies. */
export function unpremultiply(rgba: Uint8Array): Uint8Array {
  const out = new Uint8Array(rgba.length);
  for (let p = 0; p < rgba.length; p += 4) {
    const a = rgba[p + 3]!;
    for (let c = 0; c < 3; ++c) out[p + c] = a === 255 || a === 0 ? rgba[p + c]! : Math.min(255, Math.floor((255 * rgba[p + c]!) / a));
    out[p + 3] = a;
  }
  return out;
}

/** Pillow `Image.alpha_composite(dst, src)` on RGBA buffers of one size; dst is updated in place. */
export function alphaComposite(dst: Uint8Array, src: Uint8Array): void {
  const PRECISION = 128; // 1 << 7: Pillow's extra bits, kept below 2^32
  for (let p = 0; p < dst.length; p += 4) {
    const sa = src[p + 3]!;
    if (sa === 0) continue;
    const blend = dst[p + 3]! * (255 - sa);
    const outa255 = sa * 255 + blend;
    const coef1 = Math.floor((sa * 255 * 255 * PRECISION) / outa255);
    const coef2 = 255 * PRECISION - coef1;
    for (let c = 0; c < 3; ++c) {
      const t = src[p + c]! * coef1 + dst[p + c]! * coef2 + 0x80 * PRECISION;
      dst[p + c] = Math.floor((Math.floor(t / 256) + t) / 256 / PRECISION);
    }
    dst[p + 3] = Math.floor((Math.floor((outa255 + 0x80) / 256) + outa255 + 0x80) / 256);
  }
}

// ---- OpenCV GaussianBlur on 8-bit, one axis (A1111 blurs x with (k, 1), then y with (1, k)) ----

// cv::getGaussianKernelBitExact then getGaussianKernelFixedPoint_ED with 8 fraction bits: the
// coefficients, rounded with error diffusion, sum to exactly 256.
function fixedGaussianKernel(size: number, sigma: number): number[] {
  const half = (size - 1) / 2;
  const scale = -0.125 / (sigma * sigma);
  const values: number[] = [];
  let sum = 0;
  for (let i = 0, x = 1 - size; i < half; ++i, x += 2) {
    const t = Math.exp(x * x * scale);
    values.push(t);
    sum += t;
  }
  sum = sum * 2 + 1;
  const kernel = new Array<number>(size);
  let err = 0;
  let total = 0;
  for (let i = 0; i < half; ++i) {
    const adjusted = (values[i]! / sum) * 256 + err;
    const v = roundHalfEven(adjusted);
    err = adjusted - v;
    kernel[i] = kernel[size - 1 - i] = v;
    total += v;
  }
  kernel[half] = 256 - 2 * total;
  return kernel;
}

// cvRound on a double: round half to even (the FPU's default rounding).
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

// BORDER_REFLECT_101: …, 2, 1 | 0, 1, 2, … n−1 | n−2, …
function reflect101(i: number, n: number): number {
  if (n === 1) return 0;
  while (i < 0 || i >= n) i = i < 0 ? -i : 2 * n - 2 - i;
  return i;
}

/**
 * A1111's mask blur: `cv2.GaussianBlur(mask, (k, 1), sx)` then `(1, k)` with sy, k = 2·⌊2.5σ + 0.5⌋ + 1,
 * on a one-channel 8-bit mask. σ 0 leaves that axis alone.
 */
export function gaussianBlurMask(mask: Uint8Array, width: number, height: number, sigmaX: number, sigmaY: number): Uint8Array {
  let out = mask;
  if (sigmaX > 0) out = blurAxis(out, width, height, sigmaX, true);
  if (sigmaY > 0) out = blurAxis(out, width, height, sigmaY, false);
  return out;
}

function blurAxis(src: Uint8Array, width: number, height: number, sigma: number, horizontal: boolean): Uint8Array {
  const size = 2 * Math.floor(2.5 * sigma + 0.5) + 1;
  const kernel = fixedGaussianKernel(size, sigma);
  const half = (size - 1) / 2;
  const out = new Uint8Array(src.length);
  for (let y = 0; y < height; ++y)
    for (let x = 0; x < width; ++x) {
      let acc = 0;
      for (let k = 0; k < size; ++k) {
        const sx = horizontal ? reflect101(x + k - half, width) : x;
        const sy = horizontal ? y : reflect101(y + k - half, height);
        acc += src[sy * width + sx]! * kernel[k]!;
      }
      // the fixed-point sum has 8 fraction bits; the 1-tap pass of the other axis scales by 256,
      // and the result is rounded half up from 16 fraction bits
      out[y * width + x] = Math.min(255, Math.floor((acc * 256 + 32768) / 65536));
    }
  return out;
}

// ---- Pillow GaussianBlur (three box-blur passes per axis), used by A1111's "fill" ----

// BoxBlur.c _gaussian_blur_radius, in single precision as Pillow computes it.
function boxRadius(radius: number, passes: number): number {
  const f = Math.fround;
  const sigma2 = f(f(radius * radius) / passes);
  const L = f(Math.sqrt(12.0 * sigma2 + 1.0));
  const l = f(Math.floor((L - 1.0) / 2.0));
  let a = f(f(f(2 * l) + 1) * f(f(l * f(l + 1)) - f(3 * sigma2)));
  a = f(a / f(6 * f(sigma2 - f(f(l + 1) * f(l + 1)))));
  return f(l + a);
}

// ImagingLineBoxBlur: a running sum over the row with edge pixels repeated, weights in 24-bit fixed point.
function boxBlurLine(line: Uint8Array, out: Uint8Array, channels: number, radiusF: number): void {
  const n = line.length / channels;
  const radius = Math.floor(radiusF);
  const ww = Math.floor(Math.fround(16777216 / Math.fround(radiusF * 2 + 1)));
  const fw = Math.floor((16777216 - (radius * 2 + 1) * ww) / 2);
  const last = n - 1;
  const edgeA = Math.min(radius + 1, n), edgeB = Math.max(n - radius - 1, 0);
  const px = (i: number, c: number) => line[i * channels + c]!;
  for (let c = 0; c < channels; ++c) {
    let acc = px(0, c) * (radius + 1);
    for (let x = 0; x < edgeA - 1; ++x) acc += px(x, c);
    acc += px(last, c) * (radius - edgeA + 1);
    const save = (x: number, sub: number, add: number, left: number, right: number) => {
      acc += px(add, c) - px(sub, c);
      const bulk = acc * ww + (px(left, c) + px(right, c)) * fw;
      out[x * channels + c] = Math.floor((bulk + 8388608) / 16777216) & 255;
    };
    if (edgeA <= edgeB) {
      for (let x = 0; x < edgeA; ++x) save(x, 0, x + radius, 0, x + radius + 1);
      for (let x = edgeA; x < edgeB; ++x) save(x, x - radius - 1, x + radius, x - radius - 1, x + radius + 1);
      for (let x = edgeB; x <= last; ++x) save(x, x - radius - 1, last, x - radius - 1, last);
    } else {
      for (let x = 0; x < edgeB; ++x) save(x, 0, x + radius, 0, x + radius + 1);
      for (let x = edgeB; x < edgeA; ++x) save(x, 0, last, 0, last);
      for (let x = edgeA; x <= last; ++x) save(x, x - radius - 1, last, x - radius - 1, last);
    }
  }
}

function transpose(src: Uint8Array, width: number, height: number, channels: number): Uint8Array {
  const out = new Uint8Array(src.length);
  for (let y = 0; y < height; ++y)
    for (let x = 0; x < width; ++x)
      for (let c = 0; c < channels; ++c) out[(x * height + y) * channels + c] = src[(y * width + x) * channels + c]!;
  return out;
}

function blurRows(img: Uint8Array, width: number, height: number, channels: number, radiusF: number, passes: number): Uint8Array {
  const out = new Uint8Array(img);
  const row = width * channels;
  const tmp = new Uint8Array(row);
  for (let y = 0; y < height; ++y) {
    const line = out.subarray(y * row, (y + 1) * row);
    for (let i = 0; i < passes; ++i) {
      boxBlurLine(line, tmp, channels, radiusF);
      line.set(tmp);
    }
  }
  return out;
}

/** Pillow `ImageFilter.GaussianBlur(radius)` on interleaved 8-bit pixels (any channel count). */
export function pilGaussianBlur(img: Uint8Array, width: number, height: number, channels: number, radius: number): Uint8Array {
  const r = boxRadius(radius, 3);
  if (r === 0) return new Uint8Array(img);
  const horizontal = blurRows(img, width, height, channels, r, 3);
  const t = blurRows(transpose(horizontal, width, height, channels), height, width, channels, r, 3);
  return transpose(t, height, width, channels);
}
