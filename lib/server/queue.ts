// The job queue between the HTTP routes and the model: bounded, one generate() call at a time,
// and batching. Jobs whose settings match (everything but the seed) are merged into one
// generate() call with batchSize = the sum of their image counts: one UNet call per step for all
// of them. The pipeline takes one prompt per call and gives image i the seed seed + i, so a job
// joins a batch when its prompt and settings are identical and its seed is random (-1) or
// exactly the next one in the batch; the images are split back in order.
//
//   const q = new JobQueue(sd, { capacity: 16, timeoutMs: 300_000, batchWindowMs: 50, maxBatchImages: 8 });
//   const job = q.submit({ kind: 'txt2img', settings, n: 2, seed: -1 }, { signal });
//   const images = await job.done;           // rejects with QueueFull / Timeout / Cancelled / the pipeline's error
//
// Cancelling one job of a batch settles that job at once; the batch is aborted (within one
// step) only when no job in it is still waiting for the result.
import { createHash, randomUUID } from 'node:crypto';

import type { GenerateOptions, MemoryPlan, ModelInfo, StepEvent } from '../pipeline.js';
import { extractLoraTags } from '../loras.js';
import { defaultOf, randomSeed, resolveNames } from '../options.js';
import { HttpError, JobCancelledError, JobTimeoutError, QueueFullError, ServerClosingError } from './errors.js';

/** What the server needs of an image: GeneratedImage has it. */
export interface ServerImage {
  data: Buffer;
  width: number;
  height: number;
  seed: number;
  parameters: string;
  toPNG(): Buffer;
  stats?: { samplingSeconds: number } | undefined;
}

/** What the server needs of a model: StableDiffusion has it; tests pass a fake. */
export interface ServerPipeline {
  readonly info: Pick<ModelInfo, 'family' | 'defaultSize' | 'vaeDownscale'> & Partial<ModelInfo>;
  /** what generate(options) would plan, in bytes (StableDiffusion has it): the server's memory admission */
  planMemory?(options: GenerateOptions): MemoryPlan;
  /** the checkpoint path (its file name is the model's name in the APIs) */
  readonly path?: string;
  /** the external VAE file it was loaded with (undefined: the checkpoint's own) */
  readonly vae?: string | undefined;
  generate(options: GenerateOptions): Promise<ServerImage[]>;
  /** Several prompts/seeds, shared settings, one UNet batch (StableDiffusion has it). When present,
   * jobs that differ only in prompt, negative prompt and seed are merged too. */
  generateBatch?(items: Array<{ prompt: string; negativePrompt?: string; seed?: number }>,
                 options: Omit<GenerateOptions, 'prompt' | 'negativePrompt' | 'seed' | 'batchSize'>): Promise<ServerImage[]>;
  /** the LoRA files of its loraDir (refresh: read the folder again) */
  loras?(options?: { refresh?: boolean }): Array<{ name: string; path: string }>;
  /** the textual-inversion embeddings of its embeddingsDir, and the files skipped with why */
  embeddings?(options?: { refresh?: boolean }): { loaded: Array<{ name: string; vectors: number; path: string }>; skipped: Record<string, string> };
}

/** generate() options without the per-call ones (seed, batchSize, signal, onStep). */
export type JobSettings = Omit<GenerateOptions, 'seed' | 'batchSize' | 'signal' | 'onStep' | 'preview' | 'initImage' | 'mask'> & {
  /** img2img input, PNG / JPEG / WebP bytes */
  initImage?: Buffer;
  /** inpainting mask, PNG / JPEG / WebP bytes */
  mask?: Buffer;
};

export interface JobInput {
  kind: 'txt2img' | 'img2img';
  settings: JobSettings;
  /** images wanted (1..maxBatchImages) */
  n: number;
  /** -1: random */
  seed: number;
  /** most images of a generate() call this job may share (memory admission); default maxBatchImages */
  batchLimit?: number;
}

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export type JobEvent =
  | { type: 'queued'; position: number }
  | { type: 'started'; batchSize: number }
  | { type: 'step'; step: number; steps: number; sigma: number; elapsedMs: number; preview?: StepEvent['preview'] }
  | { type: 'succeeded'; images: ServerImage[] }
  | { type: 'failed' | 'cancelled'; error: Error };

export interface QueueOptions {
  /** jobs that may wait (running ones not counted); one more gets QueueFullError */
  capacity: number;
  /** per job, from submit to result; then JobTimeoutError */
  timeoutMs: number;
  /** how long a job waits for partners before it runs alone; 0 turns batching off */
  batchWindowMs: number;
  /** most images in one generate() call */
  maxBatchImages: number;
  /** finished jobs stay visible (GET /v1/jobs/:id) this long */
  retentionMs: number;
  /** step previews: 'cheap' (latent-sized linear map) or 'taesd' (full size, needs the model's TAESD decoder) */
  preview?: 'cheap' | 'taesd';
}

export const DEFAULT_QUEUE_OPTIONS: QueueOptions = {
  capacity: 16,
  timeoutMs: 300_000,
  batchWindowMs: 50,
  maxBatchImages: 8,
  retentionMs: 600_000,
};

/** finished jobs kept for GET /v1/jobs/:id, and how many of them keep their images */
const MAX_RETAINED = 256;
const MAX_KEPT_RESULTS = 32;

/** A random seed as A1111 draws one (0 … 2^32-2). */

function withoutPrompt(settings: Omit<JobSettings, 'initImage' | 'mask'>): Omit<GenerateOptions, 'prompt' | 'negativePrompt' | 'seed' | 'batchSize'> {
  const { prompt: _prompt, negativePrompt: _negative, ...rest } = settings;
  return rest;
}

/** Jobs with equal keys may share a generate() call; withPrompt false: only the settings count
 * (for pipelines with generateBatch, which takes a prompt and seed per image). */
export function batchKey(input: JobInput, withPrompt = true): string {
  const s = input.settings;
  let sampler = s.sampler ?? String(defaultOf('sampler')), scheduler = s.scheduler ?? String(defaultOf('scheduler'));
  try {
    ({ sampler, scheduler } = resolveNames(sampler, scheduler));
  } catch {
    // unknown names: keep them as given; generate() will reject the job with its message
  }
  const digest = (bytes?: Buffer) => (bytes ? createHash('sha1').update(bytes).digest('hex') : null);
  const prompt = withPrompt ? [s.prompt, s.negativePrompt ?? ''] : [];
  // One batch runs one set of weights: the LoRA set (option and prompt tags) is part of every key.
  let tags: unknown = null;
  try {
    tags = extractLoraTags(s.prompt).tags;
  } catch {
    tags = s.prompt; // a tag that does not parse: generate() rejects it; it batches with nobody else
  }
  // Every other setting, whatever options exist: two jobs share a call only if nothing differs.
  const { prompt: _p, negativePrompt: _n, sampler: _s, scheduler: _c, initImage, mask, ...rest } = s;
  const others = Object.keys(rest).sort().filter((k) => rest[k as keyof typeof rest] !== undefined).map((k) => [k, rest[k as keyof typeof rest]]);
  return JSON.stringify([input.kind, ...prompt, sampler, scheduler, digest(initImage), digest(mask), tags, others]);
}

export class Job {
  readonly id: string;
  readonly input: JobInput;
  readonly key: string;
  /** the key without prompt and negative prompt */
  readonly settingsKey: string;
  readonly createdAt = Date.now();
  status: JobStatus = 'queued';
  startedAt?: number;
  finishedAt?: number;
  /** the seed of this job's first image, once it runs */
  seed?: number;
  step = 0;
  steps: number;
  /** how many images the generate() call this job ran in made */
  batchSize = 0;
  /** the newest step preview (RGB, latent-sized) */
  preview?: StepEvent['preview'];
  previewStep = 0;
  images?: ServerImage[];
  error?: Error;
  /** keep the images after the job settles (async jobs), until retention ends */
  readonly keepResult: boolean;
  /** runs in a call of its own: a shared call it was in was refused for one job's input */
  solo = false;
  #done: Promise<ServerImage[]>;
  #resolve!: (images: ServerImage[]) => void;
  #reject!: (e: Error) => void;
  #listeners = new Set<(e: JobEvent) => void>();
  #onSettle: Array<() => void> = [];

  constructor(id: string, input: JobInput, keepResult: boolean) {
    this.id = id;
    this.input = input;
    this.key = batchKey(input);
    this.settingsKey = batchKey(input, false);
    this.steps = input.settings.steps ?? 20;
    this.keepResult = keepResult;
    this.#done = new Promise<ServerImage[]>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.#done.catch(() => {}); // nobody may be listening (async jobs): never an unhandled rejection
  }

  /** Resolves with the job's images; rejects with why it has none. */
  get done(): Promise<ServerImage[]> {
    return this.#done;
  }

  get settled(): boolean {
    return this.status === 'succeeded' || this.status === 'failed' || this.status === 'cancelled';
  }

  /** Calls fn with every later event; returns the unsubscribe function. */
  subscribe(fn: (e: JobEvent) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  emit(e: JobEvent): void {
    for (const fn of [...this.#listeners]) {
      try {
        fn(e);
      } catch {
        // a listener's failure (a closed socket) is its own business
      }
    }
  }

  onSettle(fn: () => void): void {
    if (this.settled) fn();
    else this.#onSettle.push(fn);
  }

  succeed(images: ServerImage[]): void {
    if (this.settled) return;
    this.status = 'succeeded';
    this.finishedAt = Date.now();
    this.step = this.steps;
    this.images = images;
    this.#finish({ type: 'succeeded', images });
    this.#resolve(images);
    if (!this.keepResult) {
      // A settled promise holds its value: a retained job must not hold its request's images.
      this.images = undefined;
      this.#done = Promise.resolve([]);
    }
  }

  fail(error: Error): void {
    if (this.settled) return;
    this.status = error instanceof JobCancelledError || error instanceof ServerClosingError ? 'cancelled' : 'failed';
    this.finishedAt = Date.now();
    this.error = error;
    this.#finish({ type: this.status === 'cancelled' ? 'cancelled' : 'failed', error });
    this.#reject(error);
  }

  #finish(e: JobEvent): void {
    this.emit(e);
    this.#listeners.clear();
    this.preview = undefined;
    // up to maxImageBytes each: not kept with the job's record
    this.input.settings.initImage = undefined;
    this.input.settings.mask = undefined;
    for (const fn of this.#onSettle.splice(0)) fn();
  }
}

/** The generate() call that is running now. */
export interface RunningBatch {
  jobs: Job[];
  kind: JobInput['kind'];
  images: number;
  startedAt: number;
  step: number;
  steps: number;
  preview?: StepEvent['preview'];
  controller: AbortController;
}

/** Counters the metrics endpoint reads. */
export interface QueueStats {
  submitted: number;
  rejected: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  timedOut: number;
  batches: number;
  imagesGenerated: number;
  /** sampling steps per second of the last batch (A1111's it/s) */
  lastIterationsPerSecond: number;
  /** images per second of the last batch, wall time of the generate() call */
  lastImagesPerSecond: number;
  lastBatchSize: number;
  /** moving average of one batch's wall seconds (for Retry-After and ETA) */
  averageBatchSeconds: number;
}

/**
 * What the routes need of a queue: JobQueue runs jobs in this process; lib/cluster's RedisQueue
 * hands them to workers elsewhere. Both settle the same Job objects, so the routes do not differ.
 */
export interface ServerQueue {
  readonly options: QueueOptions;
  readonly stats: QueueStats;
  readonly waiting: number;
  readonly runningJobs: number;
  readonly running: RunningBatch | undefined;
  readonly closing: boolean;
  get(id: string): Job | undefined;
  /** a job this process does not hold (a queue shared between processes); undefined when unknown */
  find?(id: string): Promise<Job | undefined>;
  position(job: Job): number;
  estimateWaitSeconds(): number;
  submit(input: JobInput, options?: { id?: string; signal?: AbortSignal; keepResult?: boolean }): Job;
  cancel(job: Job, error: Error): boolean;
  interrupt(detail?: string): number;
  close(): Promise<void>;
  /** extra Prometheus lines (a shared queue's workers) */
  metrics?(): string[];
}

/**
 * Cancels `job` after timeoutMs (JobTimeoutError) or when `signal` aborts (its client went away);
 * both let go once it settles. Returns the abort handler, for a signal aborted already.
 */
export function guardJob(job: Job, cancel: (job: Job, error: Error) => unknown, timeoutMs: number, signal?: AbortSignal): () => void {
  const timer = setTimeout(() => cancel(job, new JobTimeoutError(timeoutMs)), timeoutMs);
  const onAbort = () => cancel(job, signal!.reason instanceof Error ? signal!.reason : new JobCancelledError('the client went away'));
  signal?.addEventListener('abort', onAbort, { once: true });
  job.onSettle(() => {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  });
  return onAbort;
}

/** Adds a settled job to the outcome counters. */
export function countOutcome(stats: QueueStats, job: Job): void {
  if (job.error instanceof JobTimeoutError) stats.timedOut++;
  else if (job.status === 'succeeded') stats.succeeded++;
  else if (job.status === 'cancelled') stats.cancelled++;
  else stats.failed++;
}

export class JobQueue implements ServerQueue {
  readonly options: QueueOptions;
  readonly stats: QueueStats = {
    submitted: 0, rejected: 0, succeeded: 0, failed: 0, cancelled: 0, timedOut: 0, batches: 0, imagesGenerated: 0,
    lastIterationsPerSecond: 0, lastImagesPerSecond: 0, lastBatchSize: 0, averageBatchSeconds: 0,
  };
  #pipeline: ServerPipeline;
  #waiting: Job[] = [];
  #running: RunningBatch | undefined;
  #jobs = new Map<string, Job>();
  #timer: NodeJS.Timeout | undefined;
  #closing = false;
  #lastArrival = 0;
  #idle: Promise<void> = Promise.resolve();
  #idleResolve: (() => void) | undefined;

  constructor(pipeline: ServerPipeline, options: Partial<QueueOptions> = {}) {
    this.#pipeline = pipeline;
    this.options = { ...DEFAULT_QUEUE_OPTIONS, ...options };
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  /** jobs inside the running generate() call that still wait for it */
  get runningJobs(): number {
    return this.#running ? this.#running.jobs.filter((j) => !j.settled).length : 0;
  }

  get running(): RunningBatch | undefined {
    return this.#running;
  }

  get closing(): boolean {
    return this.#closing;
  }

  get(id: string): Job | undefined {
    return this.#jobs.get(id);
  }

  /** Position in the queue (0: next), or -1 when not waiting. */
  position(job: Job): number {
    return this.#waiting.indexOf(job);
  }

  /**
   * Seconds until a full queue has room (Retry-After): when the running call ends, from the average
   * batch time and, before any batch has finished or when this one runs long, from its own progress.
   */
  estimateWaitSeconds(): number {
    const per = this.stats.averageBatchSeconds;
    const running = this.#running;
    const elapsed = running ? (Date.now() - running.startedAt) / 1000 : 0;
    let remaining = per ? Math.max(per - elapsed, per / 2) : 1;
    if (running) {
      const progress = Math.min(...running.jobs.map((j) => (j.steps > 0 ? j.step / j.steps : 0)));
      if (progress > 0 && progress < 1) remaining = Math.max(remaining, (elapsed * (1 - progress)) / progress);
    }
    return Math.max(1, Math.ceil(remaining));
  }

  /**
   * Queues a job. Throws QueueFullError when `capacity` jobs already wait, ServerClosingError
   * while closing. `signal` cancels it (a client that went away); `id` must not be in use.
   */
  submit(input: JobInput, options: { id?: string; signal?: AbortSignal; keepResult?: boolean } = {}): Job {
    if (this.#closing) throw new ServerClosingError();
    if (this.#waiting.length >= this.options.capacity) {
      this.stats.rejected++;
      throw new QueueFullError(this.#waiting.length, this.estimateWaitSeconds());
    }
    const id = options.id ?? randomUUID();
    if (this.#jobs.get(id)?.settled === false) throw new HttpError(409, `job id ${JSON.stringify(id)} is in use by a job that has not finished`);
    const job = new Job(id, input, options.keepResult ?? false);
    this.stats.submitted++;
    this.#jobs.set(id, job);
    this.#waiting.push(job);
    this.#lastArrival = job.createdAt;
    this.#busy();

    const signal = options.signal;
    const onAbort = guardJob(job, (j, e) => this.cancel(j, e), this.options.timeoutMs, signal);
    job.onSettle(() => {
      countOutcome(this.stats, job);
      this.#retain(job);
    });
    if (signal?.aborted) onAbort();
    else {
      job.emit({ type: 'queued', position: this.#waiting.indexOf(job) });
      this.#pump();
    }
    return job;
  }

  /** Settles a job with `error` (JobCancelledError, JobTimeoutError, …) wherever it is. */
  cancel(job: Job, error: Error): boolean {
    if (job.settled) return false;
    const i = this.#waiting.indexOf(job);
    if (i >= 0) this.#waiting.splice(i, 1);
    job.fail(error);
    const batch = this.#running;
    if (batch && batch.jobs.includes(job) && batch.jobs.every((j) => j.settled)) batch.controller.abort(error);
    this.#maybeIdle();
    return true;
  }

  /** A1111's interrupt: cancels the jobs of the running generate() call. Returns how many. */
  interrupt(detail = 'interrupted by POST /sdapi/v1/interrupt'): number {
    const batch = this.#running;
    if (!batch) return 0;
    let n = 0;
    for (const job of batch.jobs) if (this.cancel(job, new JobCancelledError(detail))) n++;
    return n;
  }

  /** Rejects waiting jobs and aborts the running call (503); resolves when nothing runs. */
  async close(): Promise<void> {
    this.#closing = true;
    clearTimeout(this.#timer);
    for (const job of [...this.#waiting]) this.cancel(job, new ServerClosingError());
    for (const job of this.#running?.jobs ?? []) this.cancel(job, new ServerClosingError());
    this.#maybeIdle();
    await this.#idle;
  }

  #busy(): void {
    if (!this.#idleResolve) this.#idle = new Promise((r) => (this.#idleResolve = r));
  }

  #maybeIdle(): void {
    if (!this.#running && this.#waiting.length === 0 && this.#idleResolve) {
      this.#idleResolve();
      this.#idleResolve = undefined;
    }
  }

  #retain(job: Job): void {
    const t = setTimeout(() => {
      if (this.#jobs.get(job.id) === job) this.#jobs.delete(job.id);
    }, this.options.retentionMs);
    t.unref();
    if (this.#jobs.size > MAX_RETAINED) {
      for (const [id, j] of this.#jobs) {
        if (this.#jobs.size <= MAX_RETAINED) break;
        if (j.settled) this.#jobs.delete(id);
      }
    }
    // newest first: the oldest results beyond MAX_KEPT_RESULTS let their images go
    let kept = 0;
    for (const j of [...this.#jobs.values()].reverse()) {
      if (j.images && j.settled && ++kept > MAX_KEPT_RESULTS) j.images = undefined;
    }
  }

  // Starts the next batch when nothing runs. With batching on, the head job waits for partners
  // until it is batchWindowMs old, or a fifth of that passed with no new job (clients that send
  // in bursts are all there by then), or a full batch is there. Under load it is already old.
  #pump(): void {
    if (this.#running || this.#closing) return;
    const head = this.#waiting[0];
    if (!head) return this.#maybeIdle();
    const { batchWindowMs, maxBatchImages } = this.options;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (batchWindowMs > 0) {
      const now = Date.now();
      const wait = Math.min(head.createdAt + batchWindowMs, this.#lastArrival + Math.max(1, batchWindowMs / 5)) - now;
      if (wait > 0 && this.#group(head).images < maxBatchImages) {
        this.#timer = setTimeout(() => {
          this.#timer = undefined;
          this.#pump();
        }, wait);
        return;
      }
    }
    const { jobs, seed, images } = batchWindowMs > 0 ? this.#group(head) : { jobs: [head], seed: head.input.seed === -1 ? randomSeed() : head.input.seed, images: head.input.n };
    this.#waiting = this.#waiting.filter((j) => !jobs.includes(j));
    void this.#run(jobs, seed, images);
  }

  // The head job and the waiting jobs that can share its call, in queue order.
  #group(head: Job): { jobs: Job[]; seed: number; images: number } {
    const seed = head.input.seed === -1 ? randomSeed() : head.input.seed;
    const jobs = [head];
    let images = head.input.n;
    const mix = this.#canMix(head);
    let limit = Math.min(this.options.maxBatchImages, head.input.batchLimit ?? Infinity);
    for (const j of this.#waiting) {
      if (head.solo) break;
      if (j === head || j.solo || (mix ? j.settingsKey !== head.settingsKey : j.key !== head.key)) continue;
      if (images + j.input.n > Math.min(limit, j.input.batchLimit ?? Infinity)) continue;
      limit = Math.min(limit, j.input.batchLimit ?? Infinity);
      if (!mix && j.input.seed !== -1 && j.input.seed !== seed + images) continue;
      jobs.push(j);
      images += j.input.n;
    }
    return { jobs, seed, images };
  }

  // Per-image prompts and seeds need generateBatch; img2img stays on generate().
  #canMix(head: Job): boolean {
    return typeof this.#pipeline.generateBatch === 'function' && !head.input.settings.initImage;
  }

  async #run(jobs: Job[], seed: number, images: number): Promise<void> {
    const head = jobs[0]!;
    const controller = new AbortController();
    const batch: RunningBatch = { jobs, kind: head.input.kind, images, startedAt: Date.now(), step: 0, steps: head.steps, controller };
    this.#running = batch;
    let offset = 0;
    // Mixed batches: each job keeps its own seed (random ones drawn now), images seed + k.
    const mixed = jobs.length > 1 && this.#canMix(head) && jobs.some((j, i) => j.key !== head.key || (i > 0 && j.input.seed !== -1));
    for (const job of jobs) {
      job.status = 'running';
      job.startedAt = batch.startedAt;
      job.seed = mixed && job !== head ? (job.input.seed === -1 ? randomSeed() : job.input.seed) : seed + offset;
      job.batchSize = images;
      offset += job.input.n;
      job.emit({ type: 'started', batchSize: images });
    }
    const onStep = (e: StepEvent) => {
      batch.step = e.step;
      batch.steps = e.steps;
      if (e.preview) batch.preview = e.preview;
      for (const job of jobs) {
        if (job.settled) continue;
        job.step = e.step;
        job.steps = e.steps;
        if (e.preview) (job.preview = e.preview), (job.previewStep = e.step);
        job.emit({ type: 'step', step: e.step, steps: e.steps, sigma: e.sigma, elapsedMs: e.elapsedMs, preview: e.preview });
      }
    };
    const { initImage, mask, ...settings } = head.input.settings;
    const started = performance.now();
    try {
      const out = mixed
        ? await this.#pipeline.generateBatch!(
            jobs.flatMap((j) => Array.from({ length: j.input.n }, (_, k) => ({
              prompt: j.input.settings.prompt, negativePrompt: j.input.settings.negativePrompt ?? '', seed: j.seed! + k }))),
            { ...withoutPrompt(settings), signal: controller.signal, onStep, preview: this.options.preview ?? 'cheap' })
        : await this.#pipeline.generate({
            ...settings, ...(initImage ? { initImage } : {}), ...(mask ? { mask } : {}), seed, batchSize: images, signal: controller.signal, onStep, preview: this.options.preview ?? 'cheap',
          });
      const seconds = (performance.now() - started) / 1000;
      this.#record(out, images, batch.steps, seconds);
      let at = 0;
      for (const job of jobs) {
        job.succeed(out.slice(at, at + job.input.n));
        at += job.input.n;
      }
    } catch (e) {
      const error = e instanceof Error ? e : new Error(String(e));
      const code = (error as { code?: string }).code;
      if (jobs.length > 1 && batch.step === 0 && (code === 'ERR_SD_INVALID_OPTION' || code === 'ERR_SD_IMAGE')) {
        // One job's input refused the whole shared call before it started: run each alone, so
        // only that job fails and the others are not punished for sharing with it.
        for (const job of jobs) (job.solo = true), (job.status = 'queued');
        this.#waiting.unshift(...jobs.filter((j) => !j.settled));
      } else {
        for (const job of jobs) job.fail(error);
      }
    } finally {
      this.#running = undefined;
      this.#pump();
      this.#maybeIdle();
    }
  }

  #record(out: ServerImage[], images: number, steps: number, seconds: number): void {
    const s = this.stats;
    s.batches++;
    s.imagesGenerated += out.length;
    s.lastBatchSize = images;
    const sampling = out[0]?.stats?.samplingSeconds;
    s.lastIterationsPerSecond = steps / (sampling && sampling > 0 ? sampling : seconds);
    s.lastImagesPerSecond = out.length / seconds;
    s.averageBatchSeconds = s.averageBatchSeconds === 0 ? seconds : 0.8 * s.averageBatchSeconds + 0.2 * seconds;
  }
}
