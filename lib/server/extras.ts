// A1111's extras API without models: POST /sdapi/v1/extra-single-image and
// /sdapi/v1/extra-batch-images with the upscalers None, Lanczos and Nearest (pixels as A1111's,
// see lib/resize-modes.ts). Model upscalers and face restoration are refused with 422 naming them.
// Images in: base64 PNG, JPEG or WebP; out: base64 PNG (RGB, or RGBA when the input had alpha).
import type { FastifyInstance } from 'fastify';

import { SdError } from '../errors.js';
import { decodeImage } from '../image-decode.js';
import { encodePng } from '../png.js';
import type { Image8 } from '../resample.js';
import { extrasOutputSize, extrasUpscale, type ExtrasUpscaleOptions, type ExtrasUpscaler } from '../resize-modes.js';
import type { ServerContext } from './context.js';
import { HttpError } from './errors.js';

/** Largest output (and input) accepted, checked before any pixel buffer is allocated. */
const MAX_SIDE = 8192;
const MAX_PIXELS = 8192 * 8192;
const UPSCALERS: readonly string[] = ['None', 'Lanczos', 'Nearest'];

type Body = Record<string, unknown>;

function num(body: Body, key: string, fallback: number): number {
  const v = body[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new HttpError(422, `${key} must be a number, got ${JSON.stringify(v)}`);
  return v;
}

function upscaler(body: Body, key: string): ExtrasUpscaler {
  const v = body[key] ?? 'None';
  if (typeof v !== 'string') throw new HttpError(422, `${key} must be an upscaler name`);
  if (!UPSCALERS.includes(v)) {
    throw new HttpError(422, `${key} '${v}' is a model upscaler, which sd-native does not have; available: ${UPSCALERS.join(', ')}`);
  }
  return v as ExtrasUpscaler;
}

/** The request's options, validated as A1111's ExtrasBaseRequest, with what we lack refused. */
function parseOptions(body: Body): ExtrasUpscaleOptions {
  for (const key of ['gfpgan_visibility', 'codeformer_visibility'] as const) {
    if (num(body, key, 0) > 0) throw new HttpError(422, `${key} > 0 asks for face restoration (${key.split('_')[0]!.toUpperCase()}), which sd-native does not have; send 0`);
  }
  const mode = body.resize_mode ?? 0;
  if (mode !== 0 && mode !== 1) throw new HttpError(422, `resize_mode must be 0 (scale by upscaling_resize) or 1 (scale to upscaling_resize_w × _h), got ${JSON.stringify(mode)}`);
  const scale = num(body, 'upscaling_resize', 2);
  if (!(scale > 0)) throw new HttpError(422, `upscaling_resize must be > 0, got ${scale}`);
  const width = num(body, 'upscaling_resize_w', 512), height = num(body, 'upscaling_resize_h', 512);
  for (const [k, v] of mode === 1 ? ([['upscaling_resize_w', width], ['upscaling_resize_h', height]] as const) : []) {
    if (!Number.isInteger(v) || v < 1 || v > MAX_SIDE) throw new HttpError(422, `${k} must be a whole number from 1 to ${MAX_SIDE}, got ${v}`);
  }
  const crop = body.upscaling_crop ?? true;
  if (typeof crop !== 'boolean') throw new HttpError(422, 'upscaling_crop must be true or false');
  const visibility = num(body, 'extras_upscaler_2_visibility', 0);
  if (visibility < 0 || visibility > 1) throw new HttpError(422, `extras_upscaler_2_visibility must be between 0 and 1, got ${visibility}`);
  return { upscaler: upscaler(body, 'upscaler_1'), upscaler2: upscaler(body, 'upscaler_2'), upscaler2Visibility: visibility, mode, scale, width, height, crop };
}

function base64Bytes(value: unknown, field: string, maxBytes: number): Buffer {
  if (typeof value !== 'string' || value.length === 0) throw new HttpError(422, `${field} must be a base64 image (PNG, JPEG or WebP)`);
  const text = value.replace(/^data:[^;,]*;base64,/i, '');
  if (!/^[A-Za-z0-9+/_\-=\s]*$/.test(text)) throw new HttpError(422, `${field} is not base64`);
  if (Math.floor((text.length * 3) / 4) > maxBytes + 3) throw new HttpError(413, `${field} is larger than ${maxBytes} bytes decoded`);
  return Buffer.from(text, 'base64');
}

async function processOne(value: unknown, field: string, o: ExtrasUpscaleOptions, maxBytes: number): Promise<{ png: string; info: string }> {
  let img: Image8;
  try {
    const d = await decodeImage(base64Bytes(value, field, maxBytes), { maxPixels: MAX_PIXELS });
    // A1111 converts everything but RGB/RGBA to RGB before the extras run
    img = d.channels === 3 || d.channels === 4 ? d : { ...d, channels: 3, data: grayToRgb(d) };
  } catch (e) {
    if (e instanceof SdError) throw new HttpError(e.code === 'ERR_SD_UNSUPPORTED' ? 501 : 422, `${field}: ${e.message}`);
    throw e;
  }
  const size = extrasOutputSize(img.width, img.height, o);
  if (size.width > MAX_SIDE || size.height > MAX_SIDE || size.width * size.height > MAX_PIXELS) {
    throw new HttpError(422, `${field}: the result would be ${size.width}x${size.height}, more than ${MAX_SIDE}x${MAX_SIDE}; use a smaller upscaling_resize`);
  }
  if (size.width < 1 || size.height < 1) throw new HttpError(422, `${field}: the result would be ${size.width}x${size.height} (A1111 rounds down to a multiple of 8); use a larger upscaling_resize`);
  const { image, info } = extrasUpscale(img, o);
  const png = encodePng({ data: image.data, width: image.width, height: image.height, channels: image.channels }).toString('base64');
  // modules/postprocessing.py: "k: v" pairs joined by ", ", then plaintext_to_html
  const text = Object.entries(info).map(([k, v]) => `${k}: ${v}`).join(', ');
  return { png, info: `<p>${escapeHtml(text)}</p>` };
}

function grayToRgb(d: { data: Uint8Array; width: number; height: number; channels: number }): Uint8Array {
  const n = d.width * d.height, out = new Uint8Array(n * 3);
  for (let p = 0; p < n; p++) out[p * 3] = out[p * 3 + 1] = out[p * 3 + 2] = d.data[p * d.channels]!;
  return out;
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#x27;');
}

export function registerExtras(app: FastifyInstance, ctx: ServerContext): void {
  const maxBytes = ctx.options.maxImageBytes;
  app.post('/sdapi/v1/extra-single-image', async (request) => {
    const body = (request.body ?? {}) as Body;
    const o = parseOptions(body);
    const r = await processOne(body.image, 'image', o, maxBytes);
    return { html_info: r.info, image: r.png };
  });
  app.post('/sdapi/v1/extra-batch-images', async (request) => {
    const body = (request.body ?? {}) as Body;
    const o = parseOptions(body);
    const list = body.imageList;
    if (!Array.isArray(list) || list.length === 0) throw new HttpError(422, 'imageList must be a non-empty list of {data, name}');
    const images: string[] = [];
    let info = '<p></p>';
    for (const [i, item] of list.entries()) {
      const r = await processOne((item as { data?: unknown } | null)?.data, `imageList[${i}].data`, o, maxBytes);
      images.push(r.png);
      info = r.info; // A1111 returns the last image's infotext
    }
    return { html_info: info, images };
  });
}
