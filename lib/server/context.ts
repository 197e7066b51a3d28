// What every route module shares: the queue, the metrics, the model's names and limits, the
// server-wide settings A1111's /options can change, and the one way a request runs a job
// (tied to its connection: a client that goes away cancels its job).
import { sniffImage } from '../image-decode.js';
import { declaredImageSize } from '../image-size.js';
import { totalmem } from 'node:os';
import { basename } from 'node:path';

import type { FastifyReply, FastifyRequest } from 'fastify';

import { admit } from './admission.js';
import { HttpError, JobCancelledError } from './errors.js';
import { Metrics } from './metrics.js';
import { JobQueue, type Job, type JobInput, type QueueOptions, type ServerImage, type ServerPipeline, type ServerQueue } from './queue.js';

export interface ServerOptions {
  /** bearer token every route but /health requires (also accepted as the password of Basic auth) */
  token?: string;
  /** jobs that may wait; one more gets 429 with Retry-After (default 16) */
  queueSize?: number;
  /** per request, queue wait included; then 504 (default 300 000) */
  timeoutMs?: number;
  /** how long a job waits for others with the same settings to share its UNet batch; 0: no batching (default 50) */
  batchWindowMs?: number;
  /** most images in one generate() call, and in one request (default 8) */
  maxBatchImages?: number;
  /** largest decoded init image (default 16 MiB); the body limit follows from it */
  maxImageBytes?: number;
  /** sampling steps for OpenAI requests, which have no steps field (default: the model's, else 20) */
  openaiSteps?: number;
  /** how long finished jobs stay visible at /v1/jobs/:id (default 600 000) */
  retentionMs?: number;
  /** time to receive a whole request, headers and body (a trickled body gets 408); default 30 000 */
  requestTimeoutMs?: number;
  /** idle keep-alive connections close after this long; default 5 000 */
  keepAliveTimeoutMs?: number;
  /** open connections beyond this are refused; default 512 */
  maxConnections?: number;
  /** memory a request may plan (weights + its largest stage, the model's own figures), MiB; more gets
   * 413 before it is queued, unless VAE tiles bring it under. Default: the machine's total memory; 0: no check */
  memoryBudgetMB?: number;
  /** POST /sdapi/v1/options answers 403 (settings then come per request, in override_settings). Default:
   * read-only when no token is set and the server listens on an address that is not loopback */
  readOnlyOptions?: boolean;
  /** folder of VAE .safetensors files that A1111's sd_vae names (GET /sdapi/v1/sd-vae lists it) */
  vaeDir?: string;
  /** step previews in SSE events and /progress: 'cheap' (default, latent-sized) or 'taesd' (full size;
   * the pipeline must find its TAESD decoder, the load option taesd) */
  preview?: 'cheap' | 'taesd';
  /** where jobs run (default: a JobQueue in this process); lib/cluster passes a queue shared through Redis */
  queueFactory?: (options: QueueOptions) => ServerQueue;
}

/** A1111 settings that change later requests (GET/POST /sdapi/v1/options). */
export interface A1111Settings {
  CLIP_stop_at_last_layers: number;
  randn_source: 'CPU' | 'GPU' | 'NV';
  eta_ancestral: number;
}

export interface ServerContext {
  pipeline: ServerPipeline;
  queue: ServerQueue;
  metrics: Metrics;
  options: Required<Omit<ServerOptions, 'token' | 'vaeDir' | 'queueFactory' | 'readOnlyOptions' | 'preview'>> & { token?: string; readOnlyOptions?: boolean };
  /** checkpoint file name, e.g. "v1-5-pruned-emaonly.safetensors" */
  modelFile: string;
  /** without the extension */
  modelName: string;
  /** image size rules of this model: multiples of f between 8f and min(2048, 256f) */
  size: { min: number; max: number; multipleOf: number; default: number };
  settings: A1111Settings;
  bodyLimit: number;
  /** ServerOptions.vaeDir */
  vaeDir: string | undefined;
}

export const JOB_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

export function createContext(pipeline: ServerPipeline, options: ServerOptions = {}): ServerContext {
  const o = {
    queueSize: options.queueSize ?? 16,
    timeoutMs: options.timeoutMs ?? 300_000,
    batchWindowMs: options.batchWindowMs ?? 50,
    maxBatchImages: options.maxBatchImages ?? 8,
    maxImageBytes: options.maxImageBytes ?? 16 * 1024 * 1024,
    openaiSteps: options.openaiSteps ?? pipeline.info.defaultSteps ?? 20,
    retentionMs: options.retentionMs ?? 600_000,
    requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
    keepAliveTimeoutMs: options.keepAliveTimeoutMs ?? 5_000,
    maxConnections: options.maxConnections ?? 512,
    memoryBudgetMB: options.memoryBudgetMB ?? Math.floor(totalmem() / 2 ** 20),
    token: options.token || undefined,
    ...(options.readOnlyOptions !== undefined ? { readOnlyOptions: options.readOnlyOptions } : {}),
  };
  for (const [k, v] of Object.entries(o)) {
    if (k !== 'token' && k !== 'readOnlyOptions' && (!Number.isFinite(v) || (v as number) < 0)) throw new TypeError(`createServer(): ${k} must be a non-negative number, got ${String(v)}`);
  }
  if (o.queueSize < 1 || o.maxBatchImages < 1 || o.timeoutMs < 1 || o.requestTimeoutMs < 1 || o.maxConnections < 1) {
    throw new TypeError('createServer(): queueSize, maxBatchImages, timeoutMs, requestTimeoutMs and maxConnections must be at least 1');
  }
  const queueOptions: QueueOptions = {
    capacity: o.queueSize, timeoutMs: o.timeoutMs, batchWindowMs: o.batchWindowMs, maxBatchImages: o.maxBatchImages, retentionMs: o.retentionMs,
    preview: options.preview ?? 'cheap',
  };
  const queue = options.queueFactory ? options.queueFactory(queueOptions) : new JobQueue(pipeline, queueOptions);
  const modelFile = basename(pipeline.path ?? 'model.safetensors');
  const f = pipeline.info.vaeDownscale || 8;
  return {
    pipeline, queue, metrics: new Metrics(), options: o, modelFile,
    modelName: modelFile.replace(/\.[^.]*$/, ''),
    size: { min: 8 * f, max: Math.min(2048, 256 * f), multipleOf: f, default: pipeline.info.defaultSize },
    settings: { CLIP_stop_at_last_layers: 1, randn_source: 'CPU', eta_ancestral: 1 },
    // the largest image as base64 plus room for the rest of the JSON
    bodyLimit: Math.ceil((o.maxImageBytes * 4) / 3) + 1024 * 1024,
    vaeDir: options.vaeDir || undefined,
  };
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+|localhost)$/;

/**
 * Whether settings shared by every client may be changed (POST /sdapi/v1/options): as configured,
 * else only with a token or on a loopback address (an open port without a token: anyone's change
 * would be everyone's next request). inject() without listening counts as loopback.
 */
export function optionsWritable(ctx: ServerContext, request: FastifyRequest): boolean {
  if (ctx.options.readOnlyOptions !== undefined) return !ctx.options.readOnlyOptions;
  if (ctx.options.token) return true;
  const address = request.server.server.address();
  return !address || typeof address === 'string' || LOOPBACK.test(address.address);
}

/** The job id a client asked for (x-sd-job-id header, or A1111's force_task_id), checked. */
export function requestedJobId(request: FastifyRequest, forced?: unknown): string | undefined {
  const header = request.headers['x-sd-job-id'];
  const id = typeof forced === 'string' && forced !== '' ? forced : typeof header === 'string' && header !== '' ? header : undefined;
  if (id !== undefined && !JOB_ID_PATTERN.test(id)) {
    throw new HttpError(400, `job id must be 1 to 128 letters, digits or ._:- characters, got ${JSON.stringify(id.slice(0, 40))}`);
  }
  return id;
}

/**
 * Queues a job for this request and waits for it. The job id goes out as x-sd-job-id; the
 * connection closing before the answer cancels the job (within one step of the model).
 */
export async function runJob(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply, input: JobInput, id?: string): Promise<{ job: Job; images: ServerImage[] }> {
  const controller = new AbortController();
  const onClose = () => {
    if (!reply.raw.writableFinished) controller.abort(new JobCancelledError('the client closed the connection'));
  };
  reply.raw.once('close', onClose);
  try {
    admit(ctx, input);
    const job = ctx.queue.submit(input, { id, signal: controller.signal });
    reply.header('x-sd-job-id', job.id);
    const images = await job.done;
    return { job, images };
  } finally {
    reply.raw.off('close', onClose);
  }
}

/**
 * The size an input image's header declares, checked before anything is decoded: at most 4× the
 * model's largest side each way (it is resized to the output size, which the size rule bounds).
 */
export function imageSize(ctx: ServerContext, bytes: Buffer, field: string): { width: number; height: number } {
  const declared = declaredImageSize(bytes);
  if (!declared) {
    const format = sniffImage(bytes)?.toUpperCase() ?? 'image';
    throw new HttpError(422, `${field} is a truncated or unreadable ${format} (${bytes.length} bytes, no complete header)`);
  }
  const { width, height } = declared, limit = 4 * ctx.size.max;
  if (width > limit || height > limit) {
    throw new HttpError(422, `${field} is ${width}×${height}; input images may be at most ${limit}×${limit} for this model (${ctx.size.max} per side, resized down from at most 4×)`);
  }
  return { width, height };
}

/** An output side taken from an input image: rounded to the model's multiple, then checked against its rule. */
export function sideFromImage(ctx: ServerContext, value: number, field: string, side: 'width' | 'height', imageSide: number): number {
  const { min, max, multipleOf } = ctx.size;
  const v = Math.max(multipleOf, Math.round(value / multipleOf) * multipleOf);
  if (v < min || v > max) {
    throw new HttpError(422, `${field} is ${imageSide} pixels of ${side}; this model takes sides between ${min} and ${max}: give width and height (the image is resized)`);
  }
  return v;
}
