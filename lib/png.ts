// PNG in and out, with no dependencies beyond node:zlib.
//
//   encodePng({ data, width, height, channels: 4 }, { text: { parameters } })  // 8-bit, adaptive filters
//   decodePng(buffer)   // -> { data: RGBA bytes, width, height, channels: 4, text, source }
//   readPngText(buffer) // -> { parameters: '…' } without decoding pixels
//
// The decoder reads every non-interlaced PNG: gray, gray+alpha, RGB, RGBA and palette, bit depths
// 1–16 (16-bit keeps the high byte), tRNS transparency, all five row filters; text from tEXt, zTXt
// and iTXt. Chunk CRCs are checked. Interlaced (Adam7) files are refused with a message that says so.
import { deflateSync, inflateSync } from 'node:zlib';

import { SdError } from './errors.js';

export interface RawImage {
  data: Uint8Array;
  width: number;
  height: number;
  /** 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA (8 bits each) */
  channels: 1 | 2 | 3 | 4;
}

export interface DecodedPng {
  /** RGBA, 8 bits per channel, row-major */
  data: Buffer;
  width: number;
  height: number;
  channels: 4;
  /** tEXt / zTXt / iTXt chunks by keyword */
  text: Record<string, string>;
  /** what the file stored */
  source: { bitDepth: number; colorType: number; colorTypeName: string };
}

export interface EncodeOptions {
  /** text chunks; values that are not Latin-1 go into iTXt (UTF-8), as Pillow does */
  text?: Record<string, string>;
  /** zlib level 0–9 (default 6) */
  level?: number;
}

export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const MAX_PIXELS = 1 << 28; // 268 megapixels: far above any SD size, below what exhausts memory

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (ISO 3309, as PNG and zlib use it) of bytes; `crc` continues a running value. */
export function crc32(bytes: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** zTXt / iTXt text is inflated up to this many bytes (an A1111 infotext is a few KB). */
const MAX_TEXT_BYTES = 1 << 20;

export function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && PNG_SIGNATURE.equals(Buffer.from(bytes.buffer, bytes.byteOffset, 8));
}

// ---- encoding --------------------------------------------------------------------------------

function chunk(type: string, body: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.write(type, 4, 'latin1');
  out.set(body, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + body.length)), 8 + body.length);
  return out;
}

function isLatin1(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0xff) return false;
  return true;
}

function textChunk(keyword: string, value: string): Buffer {
  if (!/^[\x20-\x7e\xa1-\xff]{1,79}$/.test(keyword) || keyword !== keyword.trim() || keyword.includes('  ')) {
    throw new SdError(`PNG text keyword ${JSON.stringify(keyword)} is invalid: 1–79 Latin-1 characters, no leading, trailing or double spaces`, 'ERR_SD_IMAGE');
  }
  if (isLatin1(value)) return chunk('tEXt', Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.of(0), Buffer.from(value, 'latin1')]));
  // iTXt: keyword \0, compression flag 0, method 0, empty language tag \0, empty translated keyword \0, UTF-8.
  return chunk('iTXt', Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.of(0, 0, 0, 0, 0), Buffer.from(value, 'utf8')]));
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

// Each row gets the filter whose output has the smallest sum of |signed byte| (the PNG spec's
// recommended heuristic); filtered rows are written into out (1 + stride bytes each).
function filterRows(px: Uint8Array, height: number, stride: number, bpp: number): Buffer {
  const out = Buffer.alloc(height * (stride + 1));
  const cand = Array.from({ length: 5 }, () => new Uint8Array(stride));
  const zero = new Uint8Array(stride);
  const [none, sub, upf, avg, pae] = cand as [Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array];
  for (let y = 0; y < height; y++) {
    const row = px.subarray(y * stride, (y + 1) * stride);
    const up = y > 0 ? px.subarray((y - 1) * stride, y * stride) : zero;
    none.set(row);
    for (let i = 0; i < bpp; i++) {
      sub[i] = row[i]!;
      upf[i] = (row[i]! - up[i]!) & 0xff;
      avg[i] = (row[i]! - (up[i]! >> 1)) & 0xff;
      pae[i] = (row[i]! - up[i]!) & 0xff; // paeth(0, b, 0) = b
    }
    for (let i = bpp; i < stride; i++) {
      const x = row[i]!, a = row[i - bpp]!, b = up[i]!, c = up[i - bpp]!;
      sub[i] = (x - a) & 0xff;
      upf[i] = (x - b) & 0xff;
      avg[i] = (x - ((a + b) >> 1)) & 0xff;
      pae[i] = (x - paeth(a, b, c)) & 0xff;
    }
    let best = 0, bestScore = Infinity;
    for (let f = 0; f < 5; f++) {
      const c = cand[f]!;
      let score = 0;
      for (let i = 0; i < stride; i++) {
        const v = c[i]!;
        score += v < 128 ? v : 256 - v;
      }
      if (score < bestScore) (bestScore = score), (best = f);
    }
    out[y * (stride + 1)] = best;
    out.set(cand[best]!, y * (stride + 1) + 1);
  }
  return out;
}

/** 8-bit PNG of raw pixels (colour type from channels), text chunks before the image data. */
export function encodePng(image: RawImage, options: EncodeOptions = {}): Buffer {
  const { data, width, height, channels } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || width > 0x7fffffff || height > 0x7fffffff) {
    throw new SdError(`PNG size must be positive integers, got ${width}×${height}`, 'ERR_SD_IMAGE');
  }
  if (![1, 2, 3, 4].includes(channels)) throw new SdError(`PNG channels must be 1, 2, 3 or 4, got ${channels}`, 'ERR_SD_IMAGE');
  if (data.length !== width * height * channels) {
    throw new SdError(`pixel data is ${data.length} bytes but ${width}×${height}×${channels} needs ${width * height * channels}`, 'ERR_SD_IMAGE');
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = [0, 0, 4, 2, 6][channels]!; // colour type
  // bytes 10–12: compression 0 (deflate), filter method 0, interlace 0 (none)
  const parts = [PNG_SIGNATURE, chunk('IHDR', ihdr)];
  for (const [k, v] of Object.entries(options.text ?? {})) parts.push(textChunk(k, v));
  const filtered = filterRows(data, height, width * channels, channels);
  parts.push(chunk('IDAT', deflateSync(filtered, { level: options.level ?? 6 })));
  parts.push(chunk('IEND', new Uint8Array(0)));
  return Buffer.concat(parts);
}

// ---- decoding --------------------------------------------------------------------------------

const COLOR_TYPES: Record<number, { name: string; samples: number; depths: number[] }> = {
  0: { name: 'gray', samples: 1, depths: [1, 2, 4, 8, 16] },
  2: { name: 'RGB', samples: 3, depths: [8, 16] },
  3: { name: 'palette', samples: 1, depths: [1, 2, 4, 8] },
  4: { name: 'gray+alpha', samples: 2, depths: [8, 16] },
  6: { name: 'RGBA', samples: 4, depths: [8, 16] },
};

function sniffFormat(b: Uint8Array): string {
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return ' (it is a JPEG)';
  if (b.length >= 6 && Buffer.from(b.subarray(0, 6)).toString('latin1').startsWith('GIF8')) return ' (it is a GIF)';
  if (b.length >= 12 && Buffer.from(b.subarray(0, 4)).toString('latin1') === 'RIFF' && Buffer.from(b.subarray(8, 12)).toString('latin1') === 'WEBP') return ' (it is a WebP)';
  if (b.length >= 2 && b[0] === 0x42 && b[1] === 0x4d) return ' (it is a BMP)';
  return '';
}

interface Chunk { type: string; data: Buffer; offset: number }

function readChunks(buf: Buffer, name: string): Chunk[] {
  const fail = (msg: string) => new SdError(`${name}: ${msg}`, 'ERR_SD_IMAGE');
  if (!isPng(buf)) {
    throw fail(`not a PNG file: the first 8 bytes are not the PNG signature${sniffFormat(buf)}; convert the image to PNG first`);
  }
  const chunks: Chunk[] = [];
  let pos = 8;
  while (pos < buf.length) {
    if (pos + 12 > buf.length) throw fail(`truncated: ${buf.length - pos} stray bytes at byte ${pos} where a chunk header belongs`);
    const len = buf.readUInt32BE(pos);
    const type = buf.toString('latin1', pos + 4, pos + 8);
    if (!/^[A-Za-z]{4}$/.test(type)) throw fail(`corrupt: chunk at byte ${pos} has an invalid type ${JSON.stringify(type)}`);
    if (len > 0x7fffffff || pos + 12 + len > buf.length) {
      throw fail(`truncated: chunk ${type} at byte ${pos} declares ${len} bytes but the file ends ${buf.length - pos - 12} bytes later`);
    }
    const crc = buf.readUInt32BE(pos + 8 + len);
    if (crc32(buf.subarray(pos + 4, pos + 8 + len)) !== crc) throw fail(`corrupt: chunk ${type} at byte ${pos} has a bad CRC`);
    chunks.push({ type, data: buf.subarray(pos + 8, pos + 8 + len), offset: pos });
    pos += 12 + len;
    if (type === 'IEND') break;
  }
  if (chunks.length === 0 || chunks[0]!.type !== 'IHDR') throw fail('corrupt: the first chunk is not IHDR');
  if (chunks[chunks.length - 1]!.type !== 'IEND') throw fail('truncated: the file ends before the IEND chunk');
  return chunks;
}

function textOf(chunks: Chunk[], name: string): Record<string, string> {
  const text: Record<string, string> = {};
  for (const c of chunks) {
    if (c.type !== 'tEXt' && c.type !== 'zTXt' && c.type !== 'iTXt') continue;
    const nul = c.data.indexOf(0);
    if (nul < 1) continue; // no keyword: ignore, as readers do with damaged ancillary chunks
    const key = c.data.toString('latin1', 0, nul);
    try {
      if (c.type === 'tEXt') text[key] = c.data.toString('latin1', nul + 1);
      else if (c.type === 'zTXt') text[key] = inflateSync(c.data.subarray(nul + 2), { maxOutputLength: MAX_TEXT_BYTES }).toString('latin1');
      else {
        const compressed = c.data[nul + 1] === 1;
        let p = c.data.indexOf(0, nul + 3); // end of language tag
        p = c.data.indexOf(0, p + 1); // end of translated keyword
        if (p < 0) continue;
        const body = c.data.subarray(p + 1);
        text[key] = (compressed ? inflateSync(body, { maxOutputLength: MAX_TEXT_BYTES }) : body).toString('utf8');
      }
    } catch (e) {
      throw new SdError(`${name}: corrupt: ${c.type} chunk "${key}" does not inflate (${(e as Error).message})`, 'ERR_SD_IMAGE');
    }
  }
  return text;
}

/** The text chunks of a PNG (tEXt, zTXt, iTXt) by keyword, without decoding the pixels. */
export function readPngText(png: Uint8Array, name = 'PNG'): Record<string, string> {
  return textOf(readChunks(Buffer.from(png.buffer, png.byteOffset, png.length), name), name);
}

function unfilter(raw: Buffer, height: number, stride: number, bpp: number, fail: (m: string) => Error): Uint8Array {
  const out = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)]!;
    const src = y * (stride + 1) + 1, dst = y * stride, up = dst - stride;
    switch (f) {
      case 0:
        out.set(raw.subarray(src, src + stride), dst);
        break;
      case 1:
        for (let i = 0; i < stride; i++) out[dst + i] = (raw[src + i]! + (i >= bpp ? out[dst + i - bpp]! : 0)) & 0xff;
        break;
      case 2:
        for (let i = 0; i < stride; i++) out[dst + i] = (raw[src + i]! + (y > 0 ? out[up + i]! : 0)) & 0xff;
        break;
      case 3:
        for (let i = 0; i < stride; i++) {
          const a = i >= bpp ? out[dst + i - bpp]! : 0, b = y > 0 ? out[up + i]! : 0;
          out[dst + i] = (raw[src + i]! + ((a + b) >> 1)) & 0xff;
        }
        break;
      case 4:
        for (let i = 0; i < stride; i++) {
          const a = i >= bpp ? out[dst + i - bpp]! : 0, b = y > 0 ? out[up + i]! : 0;
          const c = i >= bpp && y > 0 ? out[up + i - bpp]! : 0;
          out[dst + i] = (raw[src + i]! + paeth(a, b, c)) & 0xff;
        }
        break;
      default:
        throw fail(`corrupt: row ${y} uses filter type ${f}; PNG defines 0–4`);
    }
  }
  return out;
}

/** Decodes a PNG into 8-bit RGBA. `name` (e.g. the file path) starts every error message. */
export function decodePng(png: Uint8Array, name = 'PNG'): DecodedPng {
  const buf = Buffer.from(png.buffer, png.byteOffset, png.length);
  const fail = (msg: string) => new SdError(`${name}: ${msg}`, 'ERR_SD_IMAGE');
  const chunks = readChunks(buf, name);
  const h = chunks[0]!.data;
  if (h.length !== 13) throw fail(`corrupt: IHDR is ${h.length} bytes, not 13`);
  const width = h.readUInt32BE(0), height = h.readUInt32BE(4);
  const depth = h[8]!, colorType = h[9]!, interlace = h[12]!;
  const ct = COLOR_TYPES[colorType];
  if (width === 0 || height === 0) throw fail(`corrupt: size ${width}×${height}`);
  if (!ct) throw fail(`corrupt: colour type ${colorType} does not exist (PNG has 0, 2, 3, 4, 6)`);
  if (!ct.depths.includes(depth)) throw fail(`corrupt: bit depth ${depth} is not allowed for ${ct.name} images (${ct.depths.join(', ')})`);
  if (h[10] !== 0 || h[11] !== 0) throw fail(`unsupported: compression method ${h[10]} / filter method ${h[11]} (only 0 exists)`);
  if (interlace === 1) throw fail('unsupported: interlaced (Adam7) PNGs are not read by sd-native; save the image without interlacing');
  if (interlace !== 0) throw fail(`corrupt: interlace method ${interlace}`);
  if (width * height > MAX_PIXELS) throw fail(`unsupported: ${width}×${height} is more than ${MAX_PIXELS} pixels`);

  let palette: Buffer | undefined;
  let trns: Buffer | undefined;
  const idat: Buffer[] = [];
  for (const c of chunks) {
    if (c.type === 'PLTE') palette = c.data;
    else if (c.type === 'tRNS') trns = c.data;
    else if (c.type === 'IDAT') idat.push(c.data);
  }
  if (colorType === 3 && !palette) throw fail('corrupt: a palette image without a PLTE chunk');
  if (palette && (palette.length % 3 !== 0 || palette.length === 0)) throw fail(`corrupt: PLTE is ${palette.length} bytes, not a multiple of 3`);
  if (idat.length === 0) throw fail('corrupt: no IDAT chunk (no image data)');

  const bitsPerPixel = ct.samples * depth;
  const stride = Math.ceil((width * bitsPerPixel) / 8);
  const bpp = Math.max(1, bitsPerPixel >> 3);
  const need = height * (stride + 1);
  let raw: Buffer;
  try {
    // Inflate no further than the header's size needs: a small file must not expand into gigabytes.
    raw = inflateSync(Buffer.concat(idat), { maxOutputLength: need });
  } catch (e) {
    const err = e as Error & { code?: string };
    if (err.code === 'ERR_BUFFER_TOO_LARGE') throw fail(`corrupt: the image data inflates to more than the ${need} bytes ${width}×${height} ${ct.name} holds`);
    throw fail(`corrupt: the image data does not inflate (${err.message})`);
  }
  if (raw.length < need) throw fail(`truncated: the image data is ${raw.length} bytes after inflating; ${width}×${height} ${ct.name} needs ${need}`);
  const px = unfilter(raw, height, stride, bpp, fail);

  // Sample reader: value of sample s (0-based in the row) scaled to 8 bits, or raw for palette.
  const rgba = Buffer.alloc(width * height * 4);
  const maxv = (1 << Math.min(depth, 8)) - 1;
  for (let y = 0; y < height; y++) {
    const row = y * stride;
    const sample = (s: number): number => {
      if (depth === 8) return px[row + s]!;
      if (depth === 16) return px[row + 2 * s]!; // high byte
      const bit = s * depth;
      return (px[row + (bit >> 3)]! >> (8 - depth - (bit & 7))) & maxv;
    };
    const sample16 = (s: number): number => (depth === 16 ? (px[row + 2 * s]! << 8) | px[row + 2 * s + 1]! : sample(s));
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 4;
      let r: number, g: number, b: number, a = 255;
      if (colorType === 3) {
        const i = sample(x);
        if (3 * i + 2 >= palette!.length) throw fail(`corrupt: palette index ${i} at pixel (${x}, ${y}) is outside the ${palette!.length / 3}-entry palette`);
        r = palette![3 * i]!; g = palette![3 * i + 1]!; b = palette![3 * i + 2]!;
        if (trns && i < trns.length) a = trns[i]!;
      } else if (colorType === 0 || colorType === 4) {
        const s = ct.samples;
        const v = sample(x * s);
        r = g = b = depth < 8 ? Math.round((v * 255) / maxv) : v;
        if (colorType === 4) a = sample(x * s + 1);
        else if (trns && trns.length >= 2 && sample16(x) === trns.readUInt16BE(0)) a = 0;
      } else {
        const s = ct.samples;
        r = sample(x * s); g = sample(x * s + 1); b = sample(x * s + 2);
        if (colorType === 6) a = sample(x * s + 3);
        else if (trns && trns.length >= 6 && sample16(x * 3) === trns.readUInt16BE(0) && sample16(x * 3 + 1) === trns.readUInt16BE(2) && sample16(x * 3 + 2) === trns.readUInt16BE(4)) a = 0;
      }
      rgba[o] = r; rgba[o + 1] = g; rgba[o + 2] = b; rgba[o + 3] = a;
    }
  }
  return { data: rgba, width, height, channels: 4, text: textOf(chunks, name), source: { bitDepth: depth, colorType, colorTypeName: ct.name } };
}
