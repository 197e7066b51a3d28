// Scale-out rows of the server bench: images/s with 1 and 2 `sd-native worker`s behind a front end
// (`serve --queue redis://…`), against the in-process server, and the latency the queue hop adds.
//
//   node --import tsx bench/server/scale-out.ts [--requests 96] [--sequential 40] [--concurrency 16] [--steps 4]
//
// Needs redis-server (started here on loopback, nothing saved) and dist/ (npm run build:dist).
// The small shipped model at 64×64, same prompt and settings, seed -1 (batches fill).
//  - latency: the in-process server and a front end with one worker run side by side, and
//    `--sequential` requests alternate between them, so the machine's load hits both alike; the hop
//    is the median of the per-pair differences (and p50/p99 of each side).
//  - images/s: `--requests` at `--concurrency` against each setup alone (in-process, 1 worker with
//    all cores, 2 workers with half each), `--rounds` times round-robin; the best round is reported.
// A number, never pass/fail; the last line is JSON.
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';

import { freePort, hasRedis, startRedis, startServe, startWorker, stopAll, waitForWorkers } from '../../test/helpers/cluster.js';

// --requests N (the concurrent phase), --sequential N (the latency phase), --concurrency, --steps, --rounds
const defaults = { requests: 96, sequential: 40, concurrency: 16, steps: 4, rounds: 2 };
const { values } = parseArgs({ options: Object.fromEntries(Object.entries(defaults).map(([k, v]) => [k, { type: 'string' as const, default: String(v) }])) });
const flags = Object.fromEntries(Object.keys(defaults).map((k) => [k, Number(values[k])])) as typeof defaults;
if (!hasRedis) throw new Error('redis-server is not installed (apt-get install redis-server)');
const { requests, sequential, concurrency } = flags;
const body = JSON.stringify({ prompt: 'a large red circle in the centre on a blue background', width: 64, height: 64, steps: flags.steps, cfg_scale: 6, sampler_name: 'Euler' });
const cores = cpus().length;

async function one(base: string): Promise<number> {
  const t0 = performance.now();
  const r = await fetch(`${base}/sdapi/v1/txt2img`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  await r.arrayBuffer();
  if (r.status !== 200) throw new Error(`HTTP ${r.status}`);
  return performance.now() - t0;
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

async function throughput(base: string): Promise<number> {
  for (let i = 0; i < 8; i++) await one(base); // warm-up: first calls allocate
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next++ < requests) await one(base);
  }));
  return requests / ((performance.now() - t0) / 1000);
}

async function cluster(workers: number, threads: string): Promise<string> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  await startRedis(port);
  const front = await startServe(['--queue', url, '--queue-size', '64', '--threads', '1', '-q']);
  await Promise.all(Array.from({ length: workers }, () => startWorker(url, ['-q', '--threads', threads])));
  await waitForWorkers(front.base, workers);
  return front.base;
}

const all = String(cores), half = String(Math.max(1, Math.floor(cores / 2)));
const setups: Array<[label: string, up: () => Promise<string>]> = [
  [`in-process serve (${all} threads)`, async () => (await startServe(['--queue-size', '64', '-q'])).base],
  [`front end + 1 worker (${all} threads)`, () => cluster(1, all)],
  [`front end + 2 workers (${half} thread${half === '1' ? '' : 's'} each)`, () => cluster(2, half)],
];
const rates = new Map<string, number[]>(setups.map(([label]) => [label, []]));
const latency: { inProcess: number[]; hop: number[]; cluster: number[] } = { inProcess: [], hop: [], cluster: [] };
try {
  const inProcess = await setups[0]![1]();
  const front = await cluster(1, all);
  for (let i = 0; i < 8; i++) await one(inProcess), await one(front);
  for (let i = 0; i < sequential; i++) {
    const a = await one(inProcess), b = await one(front);
    latency.inProcess.push(a), latency.cluster.push(b), latency.hop.push(b - a);
  }
  await stopAll();
  for (let round = 0; round < flags.rounds; round++) {
    for (const [label, up] of setups) {
      rates.get(label)!.push(await throughput(await up()));
      await stopAll();
    }
  }
} finally {
  await stopAll();
}
const sorted = (v: number[]) => [...v].sort((a, b) => a - b);
const [inP, clu, hop] = [sorted(latency.inProcess), sorted(latency.cluster), sorted(latency.hop)];
console.log(`latency, ${sequential} alternating sequential requests: in-process p50 ${pct(inP, 50).toFixed(0)} / p99 ${pct(inP, 99).toFixed(0)} ms; ` +
  `front end + worker p50 ${pct(clu, 50).toFixed(0)} / p99 ${pct(clu, 99).toFixed(0)} ms; per-pair hop p50 ${pct(hop, 50).toFixed(1)} / p99 ${pct(hop, 99).toFixed(1)} ms`);
console.log(`| setup | img/s at c=${concurrency}, best of ${flags.rounds} | rounds |`);
console.log('|---|---:|---|');
for (const [label, r] of rates) console.log(`| ${label} | ${Math.max(...r).toFixed(2)} | ${r.map((x) => x.toFixed(2)).join(', ')} |`);
console.log(JSON.stringify({ requests, sequential, concurrency, cores, latency: { inProcess: [pct(inP, 50), pct(inP, 99)], cluster: [pct(clu, 50), pct(clu, 99)], hop: [pct(hop, 50), pct(hop, 99)] }, rates: Object.fromEntries(rates) }));
