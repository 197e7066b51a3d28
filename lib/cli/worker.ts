// `sd-native worker`: load a checkpoint and run the jobs of a shared queue until SIGINT / SIGTERM.
//
//   sd-native worker --queue redis://host:6379 -m model.safetensors [--max-batch 8] [--lock-timeout 30]
//
// The first stdout line is "worker <id> ready" (for scripts and tests); each job is one stderr line.
import { UsageError, commandArgs, num, processIo, str, stringFlags, untilStopped, type Io } from './args.js';
import type { LoadOptions } from '../pipeline.js';
import { parsePreview, requireTaesd } from './taesd.js';

export const WORKER_USAGE = `usage: sd-native worker --queue redis://host:6379 [options]

Takes the jobs that \`sd-native serve --queue redis://…\` front ends put in the shared queue for
this worker's model, runs them (matching jobs together, as one batch), and returns their images.
Start any number, on any machines; a worker that dies has its jobs retried on another.

      --queue <redis://…>    the shared queue's Redis (default: $SD_NATIVE_QUEUE)
  -m, --model <file>         checkpoint (.safetensors); default: the small model (@sd-native/tiny-model)
      --max-batch <n>        most images in one batch, and jobs held at once (default 8)
      --batch-window-ms <n>  wait this long for jobs with the same settings to share a batch (default 50)
      --lock-timeout <s>     a job whose worker is silent this long is retried elsewhere (default 30)
      --attempts <n>         tries per job, counting workers that died with it (default 3)
      --threads <n>          worker threads (default: all)
      --dtype <f32|bf16>     compute precision (default f32)
      --device <d>           auto (default: CUDA when built with it and a GPU is present), cpu, cuda, cuda:N
      --vae <file>           a VAE .safetensors used instead of the checkpoint's own
      --preview <cheap|taesd>  step previews sent to the client: latent-sized (default) or full size
      --taesd <file|dir>     the TAESD decoder (default: the package's models/taesd)
      --lora-dir <dir>       where <lora:name:weight> prompt tags find name.safetensors
      --embeddings-dir <dir> textual-inversion .safetensors files a prompt can name
  -q, --quiet                no per-job lines`;

const WORKER_FLAGS = {
  ...stringFlags('queue', 'max-batch', 'batch-window-ms', 'lock-timeout', 'attempts', 'threads', 'dtype', 'device', 'vae', 'preview', 'taesd', 'lora-dir', 'embeddings-dir'),
  model: { type: 'string', short: 'm' },
  quiet: { type: 'boolean', short: 'q' },
} as const;

function ranged(values: Record<string, string | boolean | undefined>, flag: string, min: number, max: number, fallback: number, integer = true): number {
  const v = num(values, flag, WORKER_USAGE);
  if (v === undefined) return fallback;
  if ((integer && !Number.isInteger(v)) || v < min || v > max) {
    throw new UsageError(`--${flag} must be ${integer ? 'an integer' : 'a number'} between ${min} and ${max}, got ${values[flag]}`, WORKER_USAGE);
  }
  return v;
}

export async function workerCommand(args: string[], io: Io = processIo): Promise<number> {
  const parsed = commandArgs('worker', args, WORKER_FLAGS, WORKER_USAGE, io);
  if (!parsed) return 0;
  const v = parsed.values;
  const url = str(v, 'queue') ?? (process.env.SD_NATIVE_QUEUE || undefined);
  if (url === undefined) throw new UsageError('worker needs --queue redis://host:6379 (or $SD_NATIVE_QUEUE)', WORKER_USAGE);
  const { redisOptions } = await import('../cluster/redis.js');
  try {
    redisOptions(url);
  } catch (e) {
    throw new UsageError((e as Error).message, WORKER_USAGE);
  }
  const dtype = str(v, 'dtype');
  if (dtype !== undefined && dtype !== 'f32' && dtype !== 'bf16') throw new UsageError(`--dtype must be f32 or bf16, got ${dtype}`, WORKER_USAGE);
  const preview = parsePreview(v, WORKER_USAGE), taesd = str(v, 'taesd');
  const maxBatchImages = ranged(v, 'max-batch', 1, 16, 8);
  const batchWindowMs = ranged(v, 'batch-window-ms', 0, 60000, 50);
  const lockMs = Math.round(ranged(v, 'lock-timeout', 0.5, 3600, 30, false) * 1000);
  const attempts = ranged(v, 'attempts', 1, 100, 3);
  const threads = num(v, 'threads', WORKER_USAGE);
  const quiet = v.quiet === true;
  const model = (await import('./model.js')).modelPath(str(v, 'model'));
  const { StableDiffusion } = await import('../pipeline.js');
  const sd = await StableDiffusion.load(model, {
    ...(threads !== undefined ? { threads } : {}), ...(dtype !== undefined ? { dtype: dtype as 'f32' | 'bf16' } : {}),
    ...(str(v, 'device') !== undefined ? { device: str(v, 'device') as LoadOptions['device'] } : {}),
    ...(str(v, 'vae') !== undefined ? { vae: str(v, 'vae')! } : {}), ...(str(v, 'lora-dir') !== undefined ? { loraDir: str(v, 'lora-dir')! } : {}),
    ...(str(v, 'embeddings-dir') !== undefined ? { embeddingsDir: str(v, 'embeddings-dir')! } : {}), ...(taesd !== undefined ? { taesd } : {}),
  });
  try {
    if (preview === 'taesd') requireTaesd(taesd, sd.info.family, WORKER_USAGE);
    const { startWorker } = await import('../cluster/worker.js');
    const worker = await startWorker({
      url, pipeline: sd, maxBatchImages, batchWindowMs, lockMs, attempts, ...(preview !== undefined ? { preview } : {}),
      ...(quiet ? {} : { log: (line: string) => io.stderr.write(`${line}\n`) }),
    });
    io.stdout.write(`worker ${worker.id} ready\n`);
    await untilStopped((signal) => {
      if (!quiet) io.stderr.write(`${signal}: finishing the jobs held, taking no more\n`);
    });
    await worker.close();
  } finally {
    await sd[Symbol.asyncDispose]();
  }
  return 0;
}
