// Image files in: PNG through our own decoder (lib/png.ts), JPEG and WebP through sharp.
//
//   const img = await decodeImage(bytes, { maxPixels: 4096 * 4096 })  // { data, width, height, channels }
//
// The declared size is read from the header and refused above maxPixels before any pixel is
// decoded: servers pass user bytes here.
//
// Why sharp (≥0.34, an optional dependency loaded on first JPEG/WebP): it installs prebuilt
// libvips (mozjpeg, libwebp) through @img/* platform packages, no compiler, ~18 MB on linux-x64;
// it is actively maintained, decodes a 1024² JPEG in a few ms off the main thread, and its
// limitInputPixels refuses oversized headers before decoding. The alternatives were pure-JS
// jpeg-js (0.4.4, last release 2022, ~10× slower, on the main thread) plus a wasm WebP decoder
// packaged for browsers (@jsquash/webp). Without sharp installed, PNG still works and JPEG/WebP
// fail with ERR_SD_UNSUPPORTED saying how to add it.
import { SdError } from './errors.js';
import { decodePng, isPng } from './png.js';

export interface DecodedImage {
  data: Uint8Array;
  width: number;
  height: number;
  /** PNG: 4 (RGBA). JPEG: 3, or 1 for grayscale. WebP: 3, or 4 with alpha. */
  channels: 1 | 2 | 3 | 4;
  format: 'png' | 'jpeg' | 'webp';
}

export interface DecodeOptions {
  /** refuse images whose header declares more pixels than this (width × height) */
  maxPixels: number;
}

export type ImageFormat = 'png' | 'jpeg' | 'webp';

/** The format from the file's magic bytes, or undefined. */
export function sniffImage(bytes: Uint8Array): ImageFormat | undefined {
  if (isPng(bytes)) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  const tag = (at: number) => Buffer.from(bytes.buffer, bytes.byteOffset + at, 4).toString('latin1');
  if (bytes.length >= 12 && tag(0) === 'RIFF' && tag(8) === 'WEBP') return 'webp';
  return undefined;
}

type Sharp = typeof import('sharp');
let sharpModule: Promise<Sharp> | undefined;

function loadSharp(): Promise<Sharp> {
  sharpModule ??= import('sharp').then(
    (m) => {
      const sharp = ((m as unknown as { default?: Sharp }).default ?? m) as Sharp;
      sharp.cache(false); // decoded user images must not linger in libvips' cache
      return sharp;
    },
    (e: unknown) => {
      sharpModule = undefined;
      throw new SdError('JPEG and WebP input needs the optional dependency sharp, which is not installed or failed to load; run `npm install sharp` (PNG works without it)', 'ERR_SD_UNSUPPORTED', { cause: e });
    },
  );
  return sharpModule;
}

function tooLarge(format: string, width: number, height: number, maxPixels: number): SdError {
  return new SdError(`the ${format} declares ${width}x${height} = ${width * height} pixels, more than the limit of ${maxPixels}`, 'ERR_SD_IMAGE');
}

/** Decodes a PNG, JPEG or WebP file to 8-bit pixels, refusing oversized headers first. */
export async function decodeImage(bytes: Uint8Array, opts: DecodeOptions): Promise<DecodedImage> {
  const { maxPixels } = opts;
  const format = sniffImage(bytes);
  if (format === undefined) {
    const head = Buffer.from(bytes.subarray(0, 8)).toString('hex');
    throw new SdError(`the image is not PNG, JPEG or WebP (first bytes ${head || 'none'}); send one of those`, 'ERR_SD_IMAGE');
  }
  if (format === 'png') {
    if (bytes.length >= 24) {
      const v = new DataView(bytes.buffer, bytes.byteOffset, 24);
      const w = v.getUint32(16), h = v.getUint32(20);
      if (w * h > maxPixels) throw tooLarge('PNG', w, h, maxPixels);
    }
    const png = decodePng(bytes);
    return { data: png.data, width: png.width, height: png.height, channels: 4, format };
  }
  const sharp = await loadSharp();
  const name = format.toUpperCase();
  let meta: { width?: number; height?: number; channels?: number };
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata(); // the header only; checked below
  } catch (e) {
    throw new SdError(`the ${name} could not be read: ${(e as Error).message}`, 'ERR_SD_IMAGE', { cause: e });
  }
  const w = meta.width ?? 0, h = meta.height ?? 0;
  if (!(w > 0 && h > 0)) throw new SdError(`the ${name} declares no size`, 'ERR_SD_IMAGE');
  if (w * h > maxPixels) throw tooLarge(name, w, h, maxPixels);
  try {
    // limitInputPixels again: the check above and the decode read the header separately
    let pipe = sharp(bytes, { limitInputPixels: maxPixels, failOn: 'error', animated: false });
    if (meta.channels === 1) pipe = pipe.toColourspace('b-w'); // gray stays one channel, as PIL's 'L'
    const { data, info } = await pipe.raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, channels: info.channels as 1 | 2 | 3 | 4, format };
  } catch (e) {
    throw new SdError(`the ${name} could not be decoded: ${(e as Error).message}`, 'ERR_SD_IMAGE', { cause: e });
  }
}
