// A worker of a shared queue: takes its model's jobs from BullMQ, runs them through an in-process
// JobQueue (so jobs taken together batch exactly as in `sd-native serve`: same batch key, same
// window), publishes their progress, and returns their images as the job's result.
//
//   const w = await startWorker({ url: 'redis://127.0.0.1:6379', pipeline: sd });
//   ...; await w.close();          // finishes the jobs it holds, then stops taking more
//
// Up to maxBatchImages jobs are held at once. A worker that dies stops renewing their locks:
// after lockMs another worker's stalled check puts them back (attempts in all, then failed).
import { hostname } from 'node:os';
import { basename } from 'node:path';
import { randomBytes } from 'node:crypto';

import { UnrecoverableError, Worker, type ConnectionOptions, type Job as BullJob } from 'bullmq';
import { Redis } from 'ioredis';

import { JobCancelledError } from '../server/errors.js';
import { JobQueue, type Job, type ServerPipeline } from '../server/queue.js';
import { CANCEL_CHANNEL, PREFIX, PROGRESS_CHANNEL, cancelledKey, queueName, redisOptions, WORKER_SET, workerKey, type WorkerBeat } from './redis.js';
import { decodeInput, encodeError, encodeImages, encodePreview, type WireResult } from './wire.js';

export interface ClusterWorkerOptions {
  url: string;
  pipeline: ServerPipeline;
  /** most images in one batch, and jobs held at once (default 8) */
  maxBatchImages?: number;
  /** how long a job waits for partners (default 50 ms) */
  batchWindowMs?: number;
  /** a job whose worker stops renewing its lock this long is retried elsewhere (default 30 000) */
  lockMs?: number;
  /** tries per job, counting stalls (default 3) */
  attempts?: number;
  /** heartbeat period; the key lives three periods (default 1 000) */
  heartbeatMs?: number;
  /** step previews published to the client: 'cheap' (default) or 'taesd' (full size) */
  preview?: 'cheap' | 'taesd';
  log?: (line: string) => void;
}

export interface ClusterWorker {
  readonly id: string;
  readonly model: string;
  beat(): WorkerBeat;
  close(): Promise<void>;
}

export async function startWorker(o: ClusterWorkerOptions): Promise<ClusterWorker> {
  const connection = redisOptions(o.url);
  const model = basename(o.pipeline.path ?? 'model.safetensors');
  const id = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const maxBatchImages = o.maxBatchImages ?? 8, lockMs = o.lockMs ?? 30_000, heartbeatMs = o.heartbeatMs ?? 1000;
  const log = o.log ?? (() => {});
  const local = new JobQueue(o.pipeline, {
    capacity: maxBatchImages * 2, timeoutMs: 24 * 3600_000, batchWindowMs: o.batchWindowMs ?? 50, maxBatchImages, retentionMs: 60_000,
    preview: o.preview ?? 'cheap',
  });
  const held = new Map<string, Job>();
  const cmd = new Redis({ ...connection, maxRetriesPerRequest: 1 });
  const sub = new Redis({ ...connection, maxRetriesPerRequest: null });
  cmd.on('error', () => {}); // ioredis retries; the heartbeat stops while Redis is away
  sub.on('error', () => {});
  const counts = { succeeded: 0, failed: 0, cancelled: 0 };
  let busySeconds = 0;
  const startedAt = Date.now();
  const device = (o.pipeline.info as { backend?: string }).backend ?? 'cpu';

  await sub.subscribe(CANCEL_CHANNEL);
  sub.on('message', (_channel: string, jobId: string) => {
    const job = held.get(jobId);
    if (job && local.cancel(job, new JobCancelledError('the client went away'))) log(`job ${jobId} cancelled`);
  });

  const publish = (message: Record<string, unknown>) => void cmd.publish(PROGRESS_CHANNEL, JSON.stringify({ ...message, worker: id })).catch(() => {});

  const processor = async (bjob: BullJob): Promise<WireResult> => {
    const jobId = bjob.id!;
    if (await cmd.exists(cancelledKey(jobId))) {
      counts.cancelled++;
      throw new UnrecoverableError(encodeError(new JobCancelledError('the job was cancelled before a worker took it')));
    }
    log(`job ${jobId} taken, attempt ${bjob.attemptsStarted}`);
    const job = local.submit(decodeInput((bjob.data as { input: Record<string, unknown> }).input), { id: jobId });
    held.set(jobId, job);
    const off = job.subscribe((e) => {
      if (e.type === 'started') publish({ id: jobId, type: 'started', batchSize: e.batchSize, seed: job.seed ?? null, attempt: bjob.attemptsStarted });
      else if (e.type === 'step') {
        publish({ id: jobId, type: 'step', step: e.step, steps: e.steps, sigma: e.sigma, elapsedMs: e.elapsedMs, ...(e.preview ? { preview: encodePreview(e.preview) } : {}) });
      }
    });
    try {
      const images = await job.done;
      counts.succeeded++;
      busySeconds += ((job.finishedAt ?? Date.now()) - (job.startedAt ?? Date.now())) / 1000 / Math.max(1, job.batchSize / job.input.n);
      log(`job ${jobId} done: ${images.length} image(s) in a batch of ${job.batchSize}, attempt ${bjob.attemptsStarted}`);
      return { jobId, worker: id, attempt: bjob.attemptsStarted, seed: job.seed ?? null, batchSize: job.batchSize, images: encodeImages(images) };
    } catch (e) {
      if (e instanceof JobCancelledError) counts.cancelled++;
      else counts.failed++;
      // a job's own error repeats on any worker: never retried (only stalls are)
      throw new UnrecoverableError(encodeError(e));
    } finally {
      off();
      held.delete(jobId);
    }
  };

  const worker = new Worker(queueName(model), processor, {
    connection: { ...connection, maxRetriesPerRequest: null } as ConnectionOptions, prefix: PREFIX, concurrency: maxBatchImages,
    lockDuration: lockMs, stalledInterval: Math.max(1000, lockMs / 2), maxStalledCount: Math.max(0, (o.attempts ?? 3) - 1),
    removeOnComplete: { age: 600 }, removeOnFail: { age: 600 },
  });
  worker.on('error', () => {}); // connection errors: BullMQ reconnects

  const beat = (): WorkerBeat => ({
    id, model, device, host: hostname(), pid: process.pid, startedAt, jobs: { ...counts },
    images: local.stats.imagesGenerated, batches: local.stats.batches, busySeconds,
    imagesPerSecond: busySeconds > 0 ? local.stats.imagesGenerated / busySeconds : 0, running: held.size,
  });
  const heartbeat = () => void cmd.multi().set(workerKey(id), JSON.stringify(beat()), 'PX', heartbeatMs * 3).sadd(WORKER_SET, id).exec().catch(() => {});
  heartbeat();
  const timer = setInterval(heartbeat, heartbeatMs);
  await worker.waitUntilReady();
  log(`worker ${id} takes ${model} jobs (${device}, up to ${maxBatchImages} at once)`);

  let closing: Promise<void> | undefined;
  return {
    id, model, beat,
    close: () =>
      (closing ??= (async () => {
        clearInterval(timer);
        await worker.close(); // waits for the jobs it holds
        await local.close();
        await cmd.multi().del(workerKey(id)).srem(WORKER_SET, id).exec().catch(() => {});
        sub.disconnect();
        cmd.disconnect();
      })()),
  };
}
