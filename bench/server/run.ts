// HTTP load on `sd-native serve`: throughput, latency, 429s, errors, memory, and what batching buys.
//
//   node --import tsx bench/server/run.ts [--requests 350] [--steps 4] [--concurrency 1,4,16] [--queue 16] [--model m.safetensors]
//
// For each server configuration (batching on: --batch-window-ms 50; off: 0) a fresh server process
// is started (bench/server/child.ts = the CLI's serve), warmed up, then autocannon sends --requests
// txt2img requests at each concurrency. Every request has the same prompt and settings and a random
// seed, so batching can merge them (the best case for batching; different prompts never merge).
// RSS is the server's (from /metrics) after warm-up and after all requests. Errors must be 0; 429s
// are counted apart. Prints a table; the last line is JSON. A number, never pass/fail.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';

import autocannon from 'autocannon';

import { StableDiffusion } from '../../lib/index.js';
import { tinyCheckpoint } from '../../test/helpers/tiny-checkpoint.js';

const root = resolve(import.meta.dirname, '..', '..');
const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '350' },
    steps: { type: 'string', default: '4' },
    concurrency: { type: 'string', default: '1,4,16' },
    queue: { type: 'string', default: '16' },
    model: { type: 'string' },
    windows: { type: 'string', default: '50,0' },
  },
});
const trained = join(root, 'models', 'sd-native-tiny.safetensors');
const model = values.model ?? (existsSync(trained) ? trained : tinyCheckpoint());
const requests = Number(values.requests), steps = Number(values.steps);
const levels = values.concurrency!.split(',').map(Number);
const windows = values.windows!.split(',').map(Number);

// The model's size: 64 for the trained small model, 32 for the tiny golden checkpoint (VAE ÷2).
const probe = await StableDiffusion.load(model, { threads: 1 });
const size = probe.info.vaeDownscale === 8 ? 64 : 8 * probe.info.vaeDownscale * 2;
const family = probe.info.family;
probe.dispose();
const body = JSON.stringify({ prompt: 'a large red circle in the centre on a blue background', width: size, height: size, steps, cfg_scale: 6, sampler_name: 'Euler' });

interface Server {
  child: ChildProcess;
  url: string;
}

async function startServer(window: number): Promise<Server> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'child.ts'),
    '--model', model, '--port', '0', '--queue', values.queue!, '--batch-window-ms', String(window), '--timeout', '600', '-q'], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((ok, fail) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      const m = /^listening on (\S+)/.exec(line);
      if (m) ok(m[1]!);
    });
    child.once('exit', (code) => fail(new Error(`the server exited (${code}) before listening`)));
  });
  return { child, url };
}

async function stopServer(s: Server): Promise<void> {
  const exited = new Promise((r) => s.child.once('exit', r));
  s.child.kill('SIGINT');
  await exited;
}

async function rss(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^process_resident_memory_bytes (\d+)/m.exec(text)![1]);
}

interface Row {
  window: number;
  concurrency: number;
  requests: number;
  ok: number;
  status429: number;
  errors: number;
  seconds: number;
  reqPerSec: number;
  imagesPerSec: number;
  p50ms: number;
  p99ms: number;
  /** images per generate() call */
  meanBatch: number;
  /** the server's RSS after this level */
  rssMB: number;
}

async function counters(url: string): Promise<{ batches: number; images: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const get = (name: string) => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)![1]);
  return { batches: get('sd_batches_total'), images: get('sd_images_generated_total') };
}

async function load(url: string, connections: number, amount: number): Promise<Omit<Row, 'window' | 'rssMB'>> {
  const c0 = await counters(url);
  const t0 = performance.now();
  let last = t0;
  const r = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({
      url: `${url}/sdapi/v1/txt2img`, method: 'POST', headers: { 'content-type': 'application/json' }, body,
      connections, amount, timeout: 600,
    }, (err, result) => (err ? reject(err) : resolve(result)));
    // autocannon ends on its 1-second tick: time the run from the start to the last response instead
    instance.on('response', () => (last = performance.now()));
  });
  const seconds = (last - t0) / 1000;
  const c1 = await counters(url);
  const codes = r.statusCodeStats as Record<string, { count: number }>;
  const count = (c: string) => Number(codes[c]?.count ?? 0);
  const ok = count('200');
  const other = Object.entries(codes).filter(([c]) => c !== '200' && c !== '429').reduce((a, [, v]) => a + Number(v.count), 0);
  return {
    concurrency: connections, requests: amount, ok, status429: count('429'), errors: r.errors + other,
    seconds, reqPerSec: ok / seconds, imagesPerSec: (c1.images - c0.images) / seconds, p50ms: r.latency.p50, p99ms: r.latency.p99,
    meanBatch: (c1.images - c0.images) / Math.max(1, c1.batches - c0.batches),
  };
}

const rows: Row[] = [];
const memory: Array<{ window: number; requests: number; rssBeforeMB: number; rssAfterMB: number }> = [];
process.stderr.write(`model ${model} (${family}), ${size}x${size}, ${steps} steps, ${requests} requests per level, ${cpus().length} CPUs\n`);
for (const window of windows) {
  const server = await startServer(window);
  try {
    await load(server.url, 2, 8); // warm-up: tokenizer, first-call allocations
    const before = await rss(server.url);
    let sent = 0;
    for (const c of levels) {
      const row = { window, ...(await load(server.url, c, requests)), rssMB: (await rss(server.url)) / 2 ** 20 };
      sent += requests;
      rows.push(row);
      process.stderr.write(`window ${window} ms, c=${c}: ${row.reqPerSec.toFixed(2)} req/s, p50 ${row.p50ms} ms, p99 ${row.p99ms} ms, mean batch ${row.meanBatch.toFixed(2)}, 429 ${row.status429}, errors ${row.errors}\n`);
    }
    memory.push({ window, requests: sent, rssBeforeMB: before / 2 ** 20, rssAfterMB: (await rss(server.url)) / 2 ** 20 });
  } finally {
    await stopServer(server);
  }
}

const pad = (v: string | number, n: number) => String(v).padStart(n);
console.log(`\n${pad('batch window', 12)} ${pad('conc', 4)} ${pad('ok', 5)} ${pad('429', 4)} ${pad('err', 4)} ${pad('req/s', 7)} ${pad('img/s', 7)} ${pad('p50 ms', 7)} ${pad('p99 ms', 7)} ${pad('batch', 5)} ${pad('RSS MB', 6)}`);
for (const r of rows) {
  console.log(`${pad(`${r.window} ms`, 12)} ${pad(r.concurrency, 4)} ${pad(r.ok, 5)} ${pad(r.status429, 4)} ${pad(r.errors, 4)} ${pad(r.reqPerSec.toFixed(2), 7)} ${pad(r.imagesPerSec.toFixed(2), 7)} ${pad(r.p50ms, 7)} ${pad(r.p99ms, 7)} ${pad(r.meanBatch.toFixed(2), 5)} ${pad(r.rssMB.toFixed(0), 6)}`);
}
for (const m of memory) console.log(`batch window ${m.window} ms: server RSS ${m.rssBeforeMB.toFixed(1)} MB after warm-up, ${m.rssAfterMB.toFixed(1)} MB after ${m.requests} requests`);
const at = (w: number, c: number) => rows.find((r) => r.window === w && r.concurrency === c)?.imagesPerSec;
const top = Math.max(...levels);
const gain = windows.length === 2 ? (at(windows[0]!, top) ?? 0) / (at(windows[1]!, top) || 1) : null;
if (gain !== null) console.log(`batching at concurrency ${top}: ${gain.toFixed(2)}x the images/s without`);
console.log(JSON.stringify({ bench: 'server', model, family, size, steps, cpus: cpus().length, rows, memory, batchingGain: gain }));
