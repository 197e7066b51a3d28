// `sd-native serve`: load a checkpoint and serve it over HTTP until SIGINT / SIGTERM.
//
//   sd-native serve --model model.safetensors --port 7860 [--host 127.0.0.1] [--token …]
//                   [--queue 16] [--timeout 300] [--batch-window-ms 50] [--max-batch 8]
//   sd-native serve --queue redis://host:6379 …   a front end: jobs run on `sd-native worker`s
//
// lib/cli/main.ts loads it on demand (fastify loads only for the server). The first stdout line is
// "listening on http://HOST:PORT" (the real port when --port 0), for scripts and the bench.
import { isIP } from 'node:net';

import { createServer, type SdServer, type ServerOptions } from '../server/index.js';
import { UsageError, commandArgs, num, processIo, str, stringFlags, untilStopped, type Io } from './args.js';
import type { LoadOptions } from '../pipeline.js';
import { parsePreview, requireTaesd } from './taesd.js';

export const SERVE_USAGE = `usage: sd-native serve [options]

  -m, --model <file>         checkpoint (.safetensors); default: the small model (@sd-native/tiny-model)
  -p, --port <n>             TCP port (default 7860; 0: any free port)
      --host <addr>          address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)
      --token <secret>       require Authorization: Bearer <secret> (default: $SD_NATIVE_TOKEN, else none)
      --queue <n>            jobs that may wait before requests get 429 (default 16)
      --queue <redis://…>    a front end: jobs go to a shared BullMQ queue in this Redis and run on
                             \`sd-native worker\` processes (default: $SD_NATIVE_QUEUE, else in-process)
      --queue-size <n>       the bound of the queue, in-process or shared (default 16)
      --timeout <s>          per request, queue wait included, then 504 (default 300)
      --batch-window-ms <n>  wait this long for requests with the same settings to share one
                             UNet batch; 0 turns batching off (default 50)
      --max-batch <n>        most images in one batch and one request (default 8)
      --request-timeout <s>  time to receive a whole request, then 408 (default 30)
      --max-connections <n>  open connections at most (default 512)
      --max-prompt-chunks <n>  75-token chunks a prompt may use (default 16; BREAK starts one); a longer
                             prompt is 422 with its count (A1111 takes any number, each one more
                             text-encoder pass and a longer UNet context)
      --memory-budget <MiB>  memory one request may plan (weights + its largest stage); more gets 413
                             before it is queued (default: the machine's total memory; 0: no check)
      --read-only-options    POST /sdapi/v1/options answers 403 (default when there is no token and
                             --host is not loopback; settings then come in override_settings)
      --openai-steps <n>     sampling steps for /v1/images/generations (default: the model's, else 20)
      --threads <n>          worker threads (default: all)
      --dtype <f32|bf16>     compute precision (default f32)
      --device <d>           auto (default: CUDA when built with it and a GPU is present), cpu, cuda, cuda:N
      --vae <file>           a VAE .safetensors used instead of the checkpoint's own
      --vae-dir <dir>        VAE files A1111's sd_vae may name (listed at /sdapi/v1/sd-vae)
      --preview <cheap|taesd>  step previews in SSE events and /progress: latent-sized (default) or
                             full size through TAESD
      --taesd <file|dir>     the TAESD decoder (taesd_decoder / taesdxl_decoder.safetensors; default:
                             the package's models/taesd)
      --lora-dir <dir>       where <lora:name:weight> prompt tags find name.safetensors
      --embeddings-dir <dir> textual-inversion .safetensors files a prompt can name
  -q, --quiet                no startup lines and no request log

Routes: A1111 /sdapi/v1/{txt2img,img2img,progress,interrupt,sd-models,sd-vae,options,samplers,schedulers,loras,refresh-loras,embeddings,refresh-embeddings},
OpenAI /v1/images/generations, /v1/jobs[/:id[/events]], /health, /metrics`;

const SERVE_FLAGS = {
  model: { type: 'string', short: 'm' },
  port: { type: 'string', short: 'p' },
  host: { type: 'string' },
  token: { type: 'string' },
  queue: { type: 'string' },
  'queue-size': { type: 'string' },
  timeout: { type: 'string' },
  'batch-window-ms': { type: 'string' },
  'max-batch': { type: 'string' },
  'request-timeout': { type: 'string' },
  'max-connections': { type: 'string' },
  'max-prompt-chunks': { type: 'string' },
  'memory-budget': { type: 'string' },
  'openai-steps': { type: 'string' },
  'read-only-options': { type: 'boolean' },
  threads: { type: 'string' },
  ...stringFlags('dtype', 'device'),
  'lora-dir': { type: 'string' },
  'embeddings-dir': { type: 'string' },
  vae: { type: 'string' },
  'vae-dir': { type: 'string' },
  preview: { type: 'string' },
  taesd: { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
} as const;

function intFlag<T extends number | undefined>(values: Record<string, string | boolean | undefined>, flag: string, min: number, max: number, fallback: T): number | T {
  const v = num(values, flag, SERVE_USAGE);
  if (v === undefined) return fallback;
  if (!Number.isInteger(v) || v < min || v > max) throw new UsageError(`--${flag} must be an integer between ${min} and ${max}, got ${values[flag]}`, SERVE_USAGE);
  return v;
}

const isLoopback = (host: string) => host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));

export interface ServeHandle {
  app: SdServer;
  url: string;
  /** stops taking requests, ends jobs with 503, frees the model */
  close(): Promise<void>;
}

/** Loads the model and listens; resolves once the port is open. */
export async function serve(options: ServerOptions & {
  model: string; queueUrl?: string; port?: number; host?: string; threads?: number; dtype?: 'f32' | 'bf16'; device?: LoadOptions['device']; vae?: string; taesd?: string; loraDir?: string; embeddingsDir?: string; maxPromptChunks?: number; log?: (line: string) => void;
}): Promise<ServeHandle> {
  const { model, queueUrl, port = 7860, host = '127.0.0.1', threads, dtype, device, vae, taesd, loraDir, embeddingsDir, maxPromptChunks, log, ...serverOptions } = options;
  const { StableDiffusion } = await import('../pipeline.js'); // the native addon loads only when serving
  const sd = await StableDiffusion.load(model, {
    ...(vae !== undefined ? { vae } : {}), ...(taesd !== undefined ? { taesd } : {}),
    ...(threads !== undefined ? { threads } : {}), ...(dtype !== undefined ? { dtype } : {}), ...(device !== undefined ? { device } : {}), ...(loraDir !== undefined ? { loraDir } : {}),
    ...(embeddingsDir !== undefined ? { embeddingsDir } : {}), ...(maxPromptChunks !== undefined ? { maxPromptChunks } : {}),
  });
  let app: SdServer;
  try {
    if (serverOptions.preview === 'taesd') requireTaesd(taesd, sd.info.family, SERVE_USAGE);
    let shared: import('../cluster/front.js').RedisQueue | undefined;
    if (queueUrl !== undefined) {
      const { RedisQueue } = await import('../cluster/front.js'); // bullmq loads only for a front end
      const { basename } = await import('node:path');
      app = createServer(sd, { ...serverOptions, queueFactory: (qo) => (shared = new RedisQueue({ url: queueUrl, model: basename(model) }, qo)) });
      try {
        await shared!.ready();
      } catch (e) {
        await app.close();
        throw e;
      }
    } else {
      app = createServer(sd, serverOptions);
    }
    if (log) {
      app.addHook('onResponse', async (request, reply) => {
        const job = reply.getHeader('x-sd-job-id');
        log(`${request.method} ${request.url.split('?')[0]} ${reply.statusCode} ${(reply.elapsedTime / 1000).toFixed(3)} s${job ? ` job ${job}` : ''}`);
      });
    }
    await app.listen({ host, port });
  } catch (e) {
    sd.dispose();
    throw e;
  }
  const address = app.server.address();
  const actual = typeof address === 'object' && address ? address.port : port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${actual}`;
  let closing: Promise<void> | undefined;
  return {
    app,
    url,
    close: () =>
      (closing ??= (async () => {
        try {
          await app.close();
        } finally {
          await sd[Symbol.asyncDispose]();
        }
      })()),
  };
}

/** The CLI command: runs until SIGINT / SIGTERM, then closes cleanly (exit code 0). */
export async function serveCommand(args: string[], io: Io = processIo): Promise<number> {
  const parsed = commandArgs('serve', args, SERVE_FLAGS, SERVE_USAGE, io);
  if (!parsed) return 0;
  const v = parsed.values;
  const dtype = str(v, 'dtype');
  if (dtype !== undefined && dtype !== 'f32' && dtype !== 'bf16') throw new UsageError(`--dtype must be f32 or bf16, got ${dtype}`, SERVE_USAGE);
  const preview = parsePreview(v, SERVE_USAGE);
  const host = str(v, 'host') ?? '127.0.0.1';
  const token = str(v, 'token') ?? process.env.SD_NATIVE_TOKEN;
  const quiet = v.quiet === true;
  const threads = num(v, 'threads', SERVE_USAGE);
  const queueFlag = str(v, 'queue') ?? (process.env.SD_NATIVE_QUEUE || undefined);
  const queueUrl = queueFlag !== undefined && /^rediss?:/i.test(queueFlag) ? queueFlag : undefined;
  if (queueUrl !== undefined) {
    const { redisOptions } = await import('../cluster/redis.js');
    try {
      redisOptions(queueUrl);
    } catch (e) {
      throw new UsageError((e as Error).message, SERVE_USAGE);
    }
  }
  const queueSize = v['queue-size'] !== undefined ? intFlag(v, 'queue-size', 1, 10000, 16) : queueUrl === undefined && str(v, 'queue') !== undefined ? intFlag(v, 'queue', 1, 10000, 16) : 16;
  const options = {
    port: intFlag(v, 'port', 0, 65535, 7860),
    host,
    token: token || undefined,
    queueSize,
    ...(queueUrl !== undefined ? { queueUrl } : {}),
    timeoutMs: intFlag(v, 'timeout', 1, 86400, 300) * 1000,
    batchWindowMs: intFlag(v, 'batch-window-ms', 0, 60000, 50),
    maxBatchImages: intFlag(v, 'max-batch', 1, 16, 8),
    requestTimeoutMs: intFlag(v, 'request-timeout', 1, 3600, 30) * 1000,
    maxConnections: intFlag(v, 'max-connections', 1, 1_000_000, 512),
    maxPromptChunks: intFlag(v, 'max-prompt-chunks', 1, 1000, 16),
    ...(v['memory-budget'] !== undefined ? { memoryBudgetMB: intFlag(v, 'memory-budget', 0, 2 ** 30, 0) } : {}),
    openaiSteps: intFlag(v, 'openai-steps', 1, 150, undefined),
    ...(v['read-only-options'] === true ? { readOnlyOptions: true } : {}),
    ...(threads !== undefined ? { threads } : {}),
    ...(dtype !== undefined ? { dtype: dtype as 'f32' | 'bf16' } : {}),
    ...(str(v, 'device') !== undefined ? { device: str(v, 'device') as LoadOptions['device'] } : {}),
    ...(str(v, 'lora-dir') !== undefined ? { loraDir: str(v, 'lora-dir') } : {}),
    ...(str(v, 'vae') !== undefined ? { vae: str(v, 'vae') } : {}),
    ...(str(v, 'vae-dir') !== undefined ? { vaeDir: str(v, 'vae-dir') } : {}),
    ...(str(v, 'taesd') !== undefined ? { taesd: str(v, 'taesd') } : {}),
    ...(preview !== undefined ? { preview } : {}),
    ...(str(v, 'embeddings-dir') !== undefined ? { embeddingsDir: str(v, 'embeddings-dir') } : {}),
    ...(quiet ? {} : { log: (line: string) => io.stderr.write(`${line}\n`) }),
    // after the flags: a usage error is reported before a missing model (and the addon loads only now)
    model: (await import('./model.js')).modelPath(str(v, 'model')),
  };
  const t0 = performance.now();
  const server = await serve(options);
  io.stdout.write(`listening on ${server.url}\n`);
  if (!quiet) {
    const info = server.app.sd.pipeline.info;
    io.stderr.write(`loaded ${options.model} (${info.family}, ${((performance.now() - t0) / 1000).toFixed(2)} s); ` +
      `${queueUrl !== undefined ? `front end of ${(await import('../cluster/redis.js')).redactedUrl(queueUrl)}, ` : ''}queue ${options.queueSize}, timeout ${options.timeoutMs / 1000} s, batch window ${options.batchWindowMs} ms${options.token ? ', token required' : ''}\n`);
    if (!options.token && !isLoopback(host)) io.stderr.write(`warning: listening on ${host} without --token: anyone who can reach this port can use it (its options are read-only)\n`);
  }
  await untilStopped((signal) => {
    if (!quiet) io.stderr.write(`${signal}: closing (running jobs end with 503)\n`);
  });
  await server.close();
  return 0;
}
