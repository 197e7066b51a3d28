// How jobs, results, errors and step events travel through Redis: JSON with Buffers as base64
// (BullMQ stores job data and return values as JSON strings). Each result names its job id, so a
// front end can check what it delivers.
import { SdError, type SdErrorCode } from '../errors.js';
import { decodePng } from '../png.js';
import { HttpError, JobCancelledError, JobTimeoutError, ServerClosingError } from '../server/errors.js';
import type { JobInput, ServerImage } from '../server/queue.js';

type Wire = Record<string, unknown>;
const BUFFER = '$base64';

/** A JobInput as JSON: Buffer settings (init image, mask) become { $base64 }. */
export function encodeInput(input: JobInput): Wire {
  const settings: Wire = {};
  for (const [k, v] of Object.entries(input.settings)) {
    if (v === undefined) continue;
    settings[k] = Buffer.isBuffer(v) ? { [BUFFER]: v.toString('base64') } : v;
  }
  return { kind: input.kind, n: input.n, seed: input.seed, settings };
}

export function decodeInput(wire: Wire): JobInput {
  const settings: Wire = {};
  for (const [k, v] of Object.entries((wire.settings ?? {}) as Wire)) {
    settings[k] = v !== null && typeof v === 'object' && BUFFER in v ? Buffer.from(String((v as Wire)[BUFFER]), 'base64') : v;
  }
  return { kind: wire.kind as JobInput['kind'], n: Number(wire.n), seed: Number(wire.seed), settings: settings as JobInput['settings'] };
}

export interface WireResult {
  /** the BullMQ job id this result is for */
  jobId: string;
  worker: string;
  /** 1 on the first try, 2 after one stalled worker, … */
  attempt: number;
  seed: number | null;
  batchSize: number;
  images: Array<{ png: string; width: number; height: number; seed: number; parameters: string; samplingSeconds?: number }>;
}

export function encodeImages(images: ServerImage[]): WireResult['images'] {
  return images.map((i) => ({
    png: i.toPNG().toString('base64'), width: i.width, height: i.height, seed: i.seed, parameters: i.parameters,
    ...(i.stats ? { samplingSeconds: i.stats.samplingSeconds } : {}),
  }));
}

export function decodeImages(images: WireResult['images']): ServerImage[] {
  return images.map((w) => {
    const png = Buffer.from(w.png, 'base64');
    let rgb: Buffer | undefined;
    return {
      width: w.width, height: w.height, seed: w.seed, parameters: w.parameters,
      toPNG: () => png,
      // the routes send PNGs; raw pixels are decoded only if something asks for them
      get data(): Buffer {
        if (!rgb) {
          const { data } = decodePng(png);
          rgb = Buffer.alloc((data.length / 4) * 3);
          for (let p = 0, q = 0; p < data.length; p += 4, q += 3) (rgb[q] = data[p]!), (rgb[q + 1] = data[p + 1]!), (rgb[q + 2] = data[p + 2]!);
        }
        return rgb;
      },
      ...(w.samplingSeconds !== undefined ? { stats: { samplingSeconds: w.samplingSeconds } } : {}),
    };
  });
}

/** A job's error as the failedReason string BullMQ keeps: JSON with what the front end needs to rebuild it. */
export function encodeError(e: unknown): string {
  const error = e instanceof Error ? e : new Error(String(e));
  return JSON.stringify({
    name: error.name, message: error.message,
    ...(error instanceof HttpError ? { status: error.status } : {}),
    ...(error instanceof SdError ? { code: error.code } : {}),
  });
}

/** The error a front end settles a job with: the worker's own class where it matters for the status. */
export function decodeError(reason: string | undefined): Error {
  let w: { name?: string; message?: string; status?: number; code?: string };
  try {
    w = JSON.parse(reason ?? '') as typeof w;
  } catch {
    // BullMQ's own reasons (a job stalled too often) are plain text: the worker running it is gone
    return new HttpError(503, `the job failed on its worker: ${reason ?? 'no reason given'}`);
  }
  const message = w.message ?? 'the job failed on its worker';
  if (w.code) return new SdError(message, w.code as SdErrorCode);
  if (w.name === 'JobCancelledError') return new JobCancelledError(message);
  if (w.name === 'JobTimeoutError') return new JobTimeoutError(0);
  if (w.name === 'ServerClosingError') return new ServerClosingError();
  if (w.status) return new HttpError(w.status, message);
  return new Error(message);
}

/** A step preview (raw RGB) as JSON and back. */
export interface WirePreview { data: string; width: number; height: number }
export const encodePreview = (p: { data: Buffer; width: number; height: number }): WirePreview => ({ data: p.data.toString('base64'), width: p.width, height: p.height });
export const decodePreview = (p: WirePreview) => ({ data: Buffer.from(p.data, 'base64'), width: p.width, height: p.height, channels: 3 as const });
