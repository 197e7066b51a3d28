// The Redis side of a shared queue: the URL a front end and its workers are given, and every key
// and channel name they agree on. BullMQ is the queue engine (not one of our own) because the
// people who run many machines already operate Redis and know BullMQ's failure modes.
//
//   redis://[user:password@]host:6379[/db]      rediss:// for TLS
//   bullmq queue   sd-native:<model file>:*      one queue per model: a worker takes only its model's jobs
//   worker key     sd-native:worker:<id>         heartbeat JSON, expires when the worker stops renewing it
//   worker set     sd-native:workers             ids that have a worker key; a front end drops those whose key expired
//   channels       sd-native:progress, sd-native:cancel
import type { RedisOptions } from 'ioredis';

export const PREFIX = 'sd-native';
export const PROGRESS_CHANNEL = `${PREFIX}:progress`;
export const CANCEL_CHANNEL = `${PREFIX}:cancel`;
// a set, not a KEYS scan: KEYS walks the whole keyspace and blocks Redis for every other client
export const WORKER_SET = `${PREFIX}:workers`;

export const workerKey = (id: string) => `${PREFIX}:worker:${id}`;
/** set by a front end when it cancels a job, read by a worker before it starts one (the cancel may precede the take) */
export const cancelledKey = (jobId: string) => `${PREFIX}:cancelled:${jobId}`;

/** BullMQ queue names may not hold ':'; a model's queue is named after its file. */
export function queueName(modelFile: string): string {
  return `model.${modelFile.replace(/:/g, '_')}`;
}

/** ioredis options from a redis:// or rediss:// URL; anything else is a TypeError naming the flag. */
export function redisOptions(url: string, flag = '--queue'): RedisOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TypeError(`${flag} must be a redis:// URL (redis://host:6379), got ${JSON.stringify(url)}`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new TypeError(`${flag} must be a redis:// or rediss:// URL, got ${JSON.stringify(url)}`);
  }
  const db = u.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d+$/.test(db)) throw new TypeError(`${flag}: the path of a redis URL is a database number, got ${JSON.stringify(u.pathname)}`);
  return {
    host: u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(db !== '' ? { db: Number(db) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    // a lost server is retried every ≤ 1 s, for ever: the process recovers when Redis is back
    retryStrategy: (times: number) => Math.min(100 * times, 1000),
  };
}

/** The URL without its password, for messages and logs. */
export function redactedUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}

/** What a worker announces in its heartbeat key (and /metrics shows per worker). */
export interface WorkerBeat {
  id: string;
  model: string;
  device: string;
  host: string;
  pid: number;
  startedAt: number;
  jobs: { succeeded: number; failed: number; cancelled: number };
  images: number;
  batches: number;
  /** seconds spent inside generate() calls */
  busySeconds: number;
  /** images per busy second, over the worker's life */
  imagesPerSecond: number;
  running: number;
}
