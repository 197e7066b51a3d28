// The queue of a front end (`sd-native serve --queue redis://…`): the routes validate as always,
// then each job goes to BullMQ for a worker to run. Job objects stay here, so SSE, /progress and
// the jobs API read them as in-process; workers' progress comes back over pub/sub, results and
// failures through BullMQ's events.
//
// Refused at once, never queued for nobody: Redis unreachable (503), no live worker holds the
// model (503), the shared queue at its bound (429, Retry-After from the measured drain rate).
// A restarted front end finds async jobs again in Redis (find()); a sync request's job is
// cancelled when its connection closes, on whichever worker runs it.
import { randomUUID } from 'node:crypto';

import { Queue, QueueEvents, type ConnectionOptions } from 'bullmq';
import { Redis } from 'ioredis';

import { HttpError, JobCancelledError, QueueFullError, ServerClosingError } from '../server/errors.js';
import { Job, countOutcome, guardJob, type JobInput, type QueueOptions, type QueueStats, type RunningBatch, type ServerQueue } from '../server/queue.js';
import { CANCEL_CHANNEL, PREFIX, PROGRESS_CHANNEL, WORKER_SET, cancelledKey, queueName, redactedUrl, redisOptions, workerKey, type WorkerBeat } from './redis.js';
import { decodeError, decodeImages, decodeInput, decodePreview, encodeInput, type WirePreview, type WireResult } from './wire.js';

/** completions counted for the drain rate (Retry-After) */
const DRAIN_WINDOW_MS = 60_000;
const POLL_MS = 500;
/** how long a cancel mark waits for a worker that may take the job later */
const CANCEL_MARK_MS = 600_000;

const escape = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

export interface RedisQueueOptions {
  url: string;
  /** the checkpoint file name jobs are for (the queue's name) */
  model: string;
}

export class RedisQueue implements ServerQueue {
  readonly options: QueueOptions;
  readonly stats: QueueStats = {
    submitted: 0, rejected: 0, succeeded: 0, failed: 0, cancelled: 0, timedOut: 0, batches: 0, imagesGenerated: 0,
    lastIterationsPerSecond: 0, lastImagesPerSecond: 0, lastBatchSize: 0, averageBatchSeconds: 0,
  };
  /** results that arrived for a job already settled (a retried job finishing twice): counted, never delivered */
  duplicateResults = 0;
  readonly #url: string;
  readonly #model: string;
  readonly #queue: Queue;
  readonly #events: QueueEvents;
  readonly #cmd: Redis;
  readonly #sub: Redis;
  #jobs = new Map<string, Job>();
  #workers: WorkerBeat[] = [];
  #shared = { waiting: 0, active: 0 };
  #drained: number[] = [];
  #closing = false;
  #pending = new Set<Promise<unknown>>();
  #poll: NodeJS.Timeout;
  #lastError = '';

  constructor(o: RedisQueueOptions, options: QueueOptions) {
    this.options = options;
    this.#url = redactedUrl(o.url);
    this.#model = o.model;
    const connection = redisOptions(o.url);
    // offline queue off: while Redis is away, commands fail at once instead of piling up
    this.#cmd = new Redis({ ...connection, maxRetriesPerRequest: 1, enableOfflineQueue: false });
    this.#sub = new Redis({ ...connection, maxRetriesPerRequest: null });
    this.#cmd.on('error', (e: Error) => (this.#lastError = e.message));
    this.#sub.on('error', () => {});
    const bull = { connection: connection as ConnectionOptions, prefix: PREFIX };
    // adds fail at once while Redis is away (the request gets 503), rather than waiting for it
    this.#queue = new Queue(queueName(o.model), { ...bull, connection: { ...connection, enableOfflineQueue: false, maxRetriesPerRequest: 1 } as ConnectionOptions });
    this.#queue.on('error', () => {});
    this.#events = new QueueEvents(queueName(o.model), { ...bull, connection: { ...connection, maxRetriesPerRequest: null } as ConnectionOptions });
    this.#events.on('error', () => {});
    this.#events.on('completed', ({ jobId, returnvalue }) => this.#completed(jobId, returnvalue as unknown));
    this.#events.on('failed', ({ jobId, failedReason }) => this.#jobs.get(jobId)?.fail(decodeError(failedReason)));
    this.#events.on('waiting', ({ jobId, prev }) => {
      const job = this.#jobs.get(jobId);
      if (job && !job.settled && prev === 'active') job.status = 'queued'; // back from a worker that stalled
    });
    void this.#sub.subscribe(PROGRESS_CHANNEL).catch(() => {});
    this.#sub.on('message', (_channel: string, message: string) => this.#progress(message));
    this.#poll = setInterval(() => void this.#refresh(), POLL_MS);
    this.#poll.unref();
    void this.#refresh();
  }

  /** resolves once Redis answers (serve waits for it before listening) */
  async ready(timeoutMs = 10_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.#cmd.status !== 'ready') {
      if (Date.now() > until) throw new Error(`cannot reach Redis at ${this.#url}${this.#lastError ? `: ${this.#lastError}` : ''}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await Promise.all([this.#queue.waitUntilReady(), this.#events.waitUntilReady()]);
    await this.#refresh();
  }

  get waiting(): number {
    return Math.max(this.#shared.waiting, this.#localQueued());
  }

  get runningJobs(): number {
    return [...this.#jobs.values()].filter((j) => j.status === 'running').length;
  }

  /** the oldest running job of this front end, as A1111's /progress reads a batch */
  get running(): RunningBatch | undefined {
    const job = [...this.#jobs.values()].find((j) => j.status === 'running');
    if (!job) return undefined;
    return {
      jobs: [job], kind: job.input.kind, images: job.batchSize || job.input.n, startedAt: job.startedAt ?? job.createdAt,
      step: job.step, steps: job.steps, ...(job.preview ? { preview: job.preview } : {}), controller: new AbortController(),
    };
  }

  get closing(): boolean {
    return this.#closing;
  }

  /** live workers (heartbeat not expired), as last read */
  get workers(): readonly WorkerBeat[] {
    return this.#workers;
  }

  get(id: string): Job | undefined {
    return this.#jobs.get(id);
  }

  position(job: Job): number {
    if (job.status !== 'queued') return -1;
    return [...this.#jobs.values()].filter((j) => j.status === 'queued').indexOf(job);
  }

  /** jobs per second leaving the shared queue over the last minute (every front end sees every completion) */
  drainRate(): number {
    const now = Date.now();
    this.#drained = this.#drained.filter((t) => now - t < DRAIN_WINDOW_MS);
    if (this.#drained.length < 2) return 0;
    const span = Math.max(1, now - this.#drained[0]!) / 1000;
    return this.#drained.length / span;
  }

  /** Seconds until the queue is back under its bound at the measured drain rate. */
  estimateWaitSeconds(): number {
    const rate = this.drainRate();
    const over = Math.max(1, this.waiting - this.options.capacity + 1);
    return rate > 0 ? Math.min(3600, Math.max(1, Math.ceil(over / rate))) : 5;
  }

  submit(input: JobInput, options: { id?: string; signal?: AbortSignal; keepResult?: boolean } = {}): Job {
    if (this.#closing) throw new ServerClosingError();
    if (this.#cmd.status !== 'ready') throw this.#unreachable(this.#lastError);
    if (!this.#workers.some((w) => w.model === this.#model)) {
      const held = [...new Set(this.#workers.map((w) => w.model))];
      throw new HttpError(503, `no worker holds model ${this.#model} (${held.length ? `workers hold ${held.join(', ')}` : 'no worker is connected'}); ` +
        `start one: sd-native worker --queue ${this.#url} -m ${this.#model}`, { headers: { 'retry-after': '5' } });
    }
    if (this.waiting >= this.options.capacity) {
      this.stats.rejected++;
      throw new QueueFullError(this.waiting, this.estimateWaitSeconds());
    }
    const id = options.id ?? randomUUID();
    if (this.#jobs.get(id)?.settled === false) throw new HttpError(409, `job id ${JSON.stringify(id)} is in use by a job that has not finished`);
    const job = new Job(id, input, options.keepResult ?? false);
    this.stats.submitted++;
    this.#track(job);
    const signal = options.signal;
    const onAbort = guardJob(job, (j, e) => this.cancel(j, e), this.options.timeoutMs, signal);
    job.emit({ type: 'queued', position: this.position(job) });
    this.#hold(this.#enqueue(job).catch((e: Error) => job.fail(e instanceof HttpError ? e : this.#unreachable(e.message))));
    if (signal?.aborted) onAbort();
    return job;
  }

  cancel(job: Job, error: Error): boolean {
    if (job.settled) return false;
    job.fail(error);
    // The worker that holds it aborts within one step; one that takes it later sees the mark.
    this.#hold((async () => {
      await this.#cmd.set(cancelledKey(job.id), '1', 'PX', CANCEL_MARK_MS);
      await this.#cmd.publish(CANCEL_CHANNEL, job.id);
      await this.#queue.remove(job.id).catch(() => {}); // still waiting: gone; held by a worker: locked, the worker ends it
    })().catch(() => {}));
    return true;
  }

  interrupt(detail = 'interrupted by POST /sdapi/v1/interrupt'): number {
    let n = 0;
    for (const job of this.#jobs.values()) if (job.status === 'running' && this.cancel(job, new JobCancelledError(detail))) n++;
    return n;
  }

  /**
   * A job this process does not hold: one another front end took, or this one before a restart.
   * Read from BullMQ; followed from then on like the jobs submitted here.
   */
  async find(id: string): Promise<Job | undefined> {
    if (this.#cmd.status !== 'ready') return undefined;
    const bjob = await this.#queue.getJob(id).catch(() => undefined);
    if (!bjob) return this.#jobs.get(id);
    const state = await bjob.getState();
    const job = this.#jobs.get(id) ?? new Job(id, decodeInput((bjob.data as { input: Record<string, unknown> }).input), true);
    if (!this.#jobs.has(id)) this.#track(job);
    if (state === 'completed') this.#completed(id, bjob.returnvalue);
    else if (state === 'failed') job.fail(decodeError(bjob.failedReason));
    else if (state === 'active' && job.status === 'queued') (job.status = 'running'), (job.startedAt = bjob.processedOn ?? Date.now());
    return job;
  }

  /** Sync requests end with 503 (their connections close with this process); queued async jobs stay in Redis for the next front end. */
  async close(): Promise<void> {
    this.#closing = true;
    clearInterval(this.#poll);
    for (const job of [...this.#jobs.values()]) if (!job.keepResult) this.cancel(job, new ServerClosingError());
    await Promise.allSettled([...this.#pending]);
    await Promise.allSettled([this.#events.close(), this.#queue.close()]);
    this.#sub.disconnect();
    this.#cmd.disconnect();
  }

  metrics(): string[] {
    const out: string[] = [];
    const metric = (name: string, type: string, help: string, lines: string[]) => out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...lines);
    metric('sd_cluster_redis_up', 'gauge', 'Whether the shared queue\'s Redis answers (1) or not (0).', [`sd_cluster_redis_up ${this.#cmd.status === 'ready' ? 1 : 0}`]);
    metric('sd_cluster_queue_depth', 'gauge', 'Jobs waiting in the shared queue, every front end\'s.', [`sd_cluster_queue_depth ${this.#shared.waiting}`]);
    metric('sd_cluster_jobs_active', 'gauge', 'Jobs held by workers now.', [`sd_cluster_jobs_active ${this.#shared.active}`]);
    metric('sd_cluster_drain_jobs_per_second', 'gauge', 'Jobs finished per second over the last minute (Retry-After).', [`sd_cluster_drain_jobs_per_second ${Number(this.drainRate().toPrecision(6))}`]);
    metric('sd_cluster_duplicate_results_total', 'counter', 'Results for jobs already answered (not delivered).', [`sd_cluster_duplicate_results_total ${this.duplicateResults}`]);
    const byModel = new Map<string, number>();
    for (const w of this.#workers) byModel.set(w.model, (byModel.get(w.model) ?? 0) + 1);
    metric('sd_cluster_workers', 'gauge', 'Live workers by the model they hold.', [...byModel].map(([m, n]) => `sd_cluster_workers{model="${escape(m)}"} ${n}`));
    const label = (w: WorkerBeat) => `worker="${escape(w.id)}",model="${escape(w.model)}",device="${escape(w.device)}"`;
    metric('sd_cluster_worker_images_total', 'counter', 'Images each live worker generated.', this.#workers.map((w) => `sd_cluster_worker_images_total{${label(w)}} ${w.images}`));
    metric('sd_cluster_worker_batches_total', 'counter', 'Batches each live worker ran.', this.#workers.map((w) => `sd_cluster_worker_batches_total{${label(w)}} ${w.batches}`));
    metric('sd_cluster_worker_images_per_second', 'gauge', 'Images per busy second of each live worker.', this.#workers.map((w) => `sd_cluster_worker_images_per_second{${label(w)}} ${Number(w.imagesPerSecond.toPrecision(6))}`));
    metric('sd_cluster_worker_jobs_total', 'counter', 'Jobs each live worker finished, by outcome.', this.#workers.flatMap((w) =>
      (['succeeded', 'failed', 'cancelled'] as const).map((k) => `sd_cluster_worker_jobs_total{${label(w)},outcome="${k}"} ${w.jobs[k]}`)));
    return out;
  }

  // BullMQ ignores an add whose id it still holds (a finished job kept for retention): the nonce
  // tells ours from that one. A finished one gives way; one still queued or running is a 409.
  async #enqueue(job: Job): Promise<void> {
    const nonce = randomUUID();
    // the job's own data must outlive this process; sync results only until their request is answered
    const age = Math.ceil(this.options.retentionMs / 1000);
    const add = () => this.#queue.add('generate', { input: encodeInput(job.input), nonce }, {
      jobId: job.id, attempts: 1, removeOnComplete: { age: job.keepResult ? age : 60 }, removeOnFail: { age },
    });
    await add();
    const stored = await this.#queue.getJob(job.id);
    if (!stored || (stored.data as { nonce?: string }).nonce === nonce) return;
    const state = await stored.getState();
    if (state !== 'completed' && state !== 'failed') throw new HttpError(409, `job id ${JSON.stringify(job.id)} is in use by a job that has not finished`);
    await stored.remove();
    await add();
  }

  #unreachable(why: string): HttpError {
    return new HttpError(503, `the job queue is unreachable (Redis at ${this.#url}${why ? `: ${why}` : ''}); retry when it is back`, { headers: { 'retry-after': '5' } });
  }

  #localQueued(): number {
    let n = 0;
    for (const j of this.#jobs.values()) if (j.status === 'queued') n++;
    return n;
  }

  #hold(p: Promise<unknown>): void {
    this.#pending.add(p);
    void p.finally(() => this.#pending.delete(p));
  }

  #track(job: Job): void {
    this.#jobs.set(job.id, job);
    job.onSettle(() => {
      countOutcome(this.stats, job);
      const t = setTimeout(() => {
        if (this.#jobs.get(job.id) === job) this.#jobs.delete(job.id);
      }, this.options.retentionMs);
      t.unref();
    });
  }

  #completed(jobId: string, returnvalue: unknown): void {
    this.#drained.push(Date.now());
    const job = this.#jobs.get(jobId);
    if (!job) return;
    let result: WireResult | null = null;
    try {
      result = (typeof returnvalue === 'string' ? JSON.parse(returnvalue) : returnvalue) as WireResult | null;
    } catch {
      // not ours: failed below as a result that names no job
    }
    if (job.settled) {
      if (job.status === 'succeeded') this.duplicateResults++;
      return;
    }
    if (!result || result.jobId !== jobId) {
      job.fail(new HttpError(500, `the result for job ${jobId} names job ${String(result?.jobId)}`));
      return;
    }
    job.batchSize = result.batchSize;
    if (result.seed !== null) job.seed = result.seed;
    const images = decodeImages(result.images);
    this.stats.imagesGenerated += images.length;
    job.succeed(images);
  }

  #progress(message: string): void {
    let m: { id: string; type: string; batchSize?: number; seed?: number | null; step?: number; steps?: number; sigma?: number; elapsedMs?: number; preview?: WirePreview };
    try {
      m = JSON.parse(message) as typeof m;
    } catch {
      return;
    }
    const job = this.#jobs.get(m.id);
    if (!job || job.settled) return;
    if (m.type === 'started') {
      job.status = 'running';
      job.startedAt = Date.now();
      job.batchSize = m.batchSize ?? job.input.n;
      if (typeof m.seed === 'number') job.seed = m.seed;
      job.emit({ type: 'started', batchSize: job.batchSize });
    } else if (m.type === 'step') {
      job.status = 'running';
      job.step = m.step ?? 0;
      job.steps = m.steps ?? job.steps;
      const preview = m.preview ? decodePreview(m.preview) : undefined;
      if (preview) (job.preview = preview), (job.previewStep = job.step);
      job.emit({ type: 'step', step: job.step, steps: job.steps, sigma: m.sigma ?? 0, elapsedMs: m.elapsedMs ?? 0, ...(preview ? { preview } : {}) });
    }
  }

  async #refresh(): Promise<void> {
    if (this.#cmd.status !== 'ready') return;
    try {
      const ids = await this.#cmd.smembers(WORKER_SET);
      const beats = ids.length ? await this.#cmd.mget(...ids.map(workerKey)) : [];
      const gone = ids.filter((_, i) => beats[i] === null);
      if (gone.length) await this.#cmd.srem(WORKER_SET, ...gone);
      this.#workers = beats.flatMap((b) => {
        try {
          return b ? [JSON.parse(b) as WorkerBeat] : [];
        } catch {
          return [];
        }
      });
      const c = await this.#queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active');
      this.#shared = { waiting: (c.waiting ?? 0) + (c.prioritized ?? 0) + (c.delayed ?? 0), active: c.active ?? 0 };
    } catch (e) {
      this.#lastError = (e as Error).message;
    }
  }
}
