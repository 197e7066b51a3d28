// Soak, on loopback through real sockets and the real pipeline (tiny SD1 model): mixed requests
// with hostile ones interleaved, several in flight at once. Every request must be answered, none
// with a 5xx (a full queue's 429 is an answer), and the process's memory must stay flat.
// SD_NATIVE_SOAK_REQUESTS sets the count (default 1000).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32, deflateSync } from 'node:zlib';

import { StableDiffusion } from '../../lib/index.js';
import { encodePng } from '../../lib/png.js';
import { createServer } from '../../lib/server/index.js';
import { tinyCheckpoint } from '../helpers/tiny-checkpoint.js';

const TOTAL = Number(process.env.SD_NATIVE_SOAK_REQUESTS ?? 1000);
const IN_FLIGHT = 8;

const valid = encodePng({ data: Buffer.alloc(32 * 32 * 3, 120), width: 32, height: 32, channels: 3 }).toString('base64');
// A 32×32 RGB header over data that inflates to 64 MiB.
const bomb = (() => {
  const png = Buffer.from(valid, 'base64');
  const idatAt = png.indexOf('IDAT') - 4;
  const data = deflateSync(Buffer.alloc(64 << 20), { level: 9 });
  const len = Buffer.alloc(4), crc = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  crc.writeUInt32BE(crc32(Buffer.concat([Buffer.from('IDAT'), data])));
  return Buffer.concat([png.subarray(0, idatAt), len, Buffer.from('IDAT'), data, crc, png.subarray(png.indexOf('IEND') - 4)]).toString('base64');
})();

type Req = { method: string; path: string; body?: string; kind: string };
const json = (path: string, body: unknown, kind: string): Req => ({ method: 'POST', path, body: JSON.stringify(body), kind });
const base = { prompt: 'a red cube', width: 32, height: 32, steps: 1, sampler_name: 'Euler' };
const MIX: Array<(i: number) => Req> = [
  (i) => json('/sdapi/v1/txt2img', { ...base, seed: i }, 'txt2img'),
  (i) => json('/sdapi/v1/txt2img', { ...base, seed: i, prompt: `a blue sphere ${i % 7}` }, 'txt2img'),
  (i) => json('/sdapi/v1/img2img', { ...base, seed: i, init_images: [valid] }, 'img2img'),
  (i) => json('/v1/images/generations', { prompt: `a star ${i}`, size: '32x32' }, 'openai'),
  () => json('/sdapi/v1/img2img', { ...base, init_images: [bomb] }, 'bomb'),
  () => json('/sdapi/v1/txt2img', { ...base, prompt: 'x BREAK '.repeat(500) }, 'long prompt'),
  () => ({ method: 'POST', path: '/sdapi/v1/txt2img', body: '{"a":'.repeat(2000) + '1' + '}'.repeat(2000), kind: 'deep json' }),
  () => json('/sdapi/v1/txt2img', { ...base, sampler_name: 'Euler z' }, 'bad sampler'),
  () => json('/sdapi/v1/txt2img', { ...base, prompt: 'x <lora:missing:1>' }, 'bad lora'),
  () => ({ method: 'POST', path: '/sdapi/v1/txt2img', body: '{"prompt": ', kind: 'broken json' }),
  () => ({ method: 'GET', path: '/sdapi/v1/progress', kind: 'progress' }),
  () => json('/sdapi/v1/options', { CLIP_stop_at_last_layers: 99 }, 'bad option'),
];

test(`soak: ${TOTAL} mixed and hostile requests, ${IN_FLIGHT} in flight: all answered, no 5xx, memory flat`, { timeout: 30 * 60_000 }, async () => {
  const sd = await StableDiffusion.load(tinyCheckpoint(), { threads: 2 });
  const app = createServer(sd, { batchWindowMs: 20, queueSize: 16, timeoutMs: 120_000 });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  const statuses = new Map<string, Map<number, number>>();
  const rss: number[] = [];
  let next = 0, answered = 0;
  try {
    const worker = async () => {
      for (let i; (i = next++) < TOTAL;) {
        const req = MIX[i % MIX.length]!(i);
        const res = await fetch(`http://127.0.0.1:${port}${req.path}`, {
          method: req.method, body: req.body, headers: req.body ? { 'content-type': 'application/json' } : {},
          signal: AbortSignal.timeout(120_000),
        });
        await res.arrayBuffer();
        answered++;
        const byKind = statuses.get(req.kind) ?? new Map<number, number>();
        byKind.set(res.status, (byKind.get(res.status) ?? 0) + 1);
        statuses.set(req.kind, byKind);
        if (i % Math.max(1, Math.floor(TOTAL / 40)) === 0) rss.push(process.memoryUsage().rss);
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  } finally {
    await app.close();
    sd.dispose();
  }
  const table = Object.fromEntries([...statuses].map(([k, m]) => [k, Object.fromEntries(m)]));
  process.stdout.write(`# soak: ${answered} answered: ${JSON.stringify(table)}\n`);
  assert.equal(answered, TOTAL, 'every request was answered');
  for (const [kind, m] of statuses) for (const status of m.keys()) assert.ok(status < 500, `${kind}: ${status}`);
  // Valid requests succeed even when they shared a batch window with a refused one (or wait in a full queue).
  for (const kind of ['txt2img', 'img2img', 'openai']) {
    assert.ok([...statuses.get(kind)!.keys()].every((s) => s === 200 || s === 429), `${kind}: ${JSON.stringify(table[kind])}`);
  }
  for (const kind of ['bomb', 'long prompt', 'deep json', 'bad sampler', 'bad lora', 'bad option']) {
    assert.ok([...statuses.get(kind)!.keys()].every((s) => s === 422 || s === 429), `${kind}: ${JSON.stringify(table[kind])}`);
  }
  // Memory: the second half of the run may not sit higher than the first half's peak plus 64 MiB.
  const half = Math.floor(rss.length / 2);
  const early = Math.max(...rss.slice(1, half)), late = Math.max(...rss.slice(half));
  process.stdout.write(`# soak RSS: early peak ${(early / 2 ** 20).toFixed(0)} MiB, late peak ${(late / 2 ** 20).toFixed(0)} MiB\n`);
  assert.ok(late - early < 64 << 20, `RSS grew from ${(early / 2 ** 20).toFixed(0)} to ${(late / 2 ** 20).toFixed(0)} MiB`);
});
