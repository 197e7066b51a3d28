// Images over HTTP: base64 PNG/JPEG/WebP in (A1111 init_images, with or without a data: URL prefix), base64
// PNG out (generated images keep their A1111 "parameters" chunk), step previews as small PNGs.
import { sniffImage } from '../image-decode.js';
import { encodePng } from '../png.js';
import type { StepEvent } from '../pipeline.js';
import { HttpError } from './errors.js';

/** Decoded bytes of a base64 image field, checked to be a PNG, JPEG or WebP file no larger than maxBytes. */
export function decodeImageField(value: string, field: string, maxBytes: number, invalidStatus: number): Buffer {
  let text = value.trim();
  if (/^https?:\/\//i.test(text)) {
    throw new HttpError(invalidStatus, `${field} is a URL; this server fetches nothing: send the image itself as base64 PNG`);
  }
  const m = /^data:([^;,]*)(;base64)?,/i.exec(text);
  if (m) {
    if (!m[2]) throw new HttpError(invalidStatus, `${field} is a data: URL without ;base64; send base64 PNG`);
    text = text.slice(m[0].length);
  }
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(text.replace(/\s+/g, ''))) {
    throw new HttpError(invalidStatus, `${field} must be base64 (a PNG file's bytes), got characters base64 does not use`);
  }
  if (Math.floor((text.length * 3) / 4) > maxBytes + 3) {
    throw new HttpError(413, `${field} is larger than ${maxBytes} bytes decoded; send a smaller image`);
  }
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length > maxBytes) throw new HttpError(413, `${field} is ${bytes.length} bytes decoded, more than the limit of ${maxBytes}`);
  if (!sniffImage(bytes)) throw new HttpError(invalidStatus, `${field} is not a PNG, JPEG or WebP image (first bytes ${bytes.subarray(0, 8).toString('hex') || 'none'})`);
  return bytes;
}

/** A step preview (RGB) as a base64 PNG; fast zlib level, previews are small and many. */
// Every subscriber of a step (SSE streams, /progress polls) shares one encoding.
const encoded = new WeakMap<object, string>();

export function previewBase64(preview: NonNullable<StepEvent['preview']>): string {
  let b64 = encoded.get(preview);
  if (b64 === undefined) {
    b64 = encodePng({ data: preview.data, width: preview.width, height: preview.height, channels: 3 }, { level: 1 }).toString('base64');
    encoded.set(preview, b64);
  }
  return b64;
}
