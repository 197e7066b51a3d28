// A shared queue with real processes: a redis-server on loopback (Debian's package; .ci/run installs
// it), front ends (`sd-native serve --queue redis://…`) and two workers (`sd-native worker`) with the
// small shipped model, as bin/sd-native.js runs them (dist/, built by npm run build:dist).
//
// Each test leaves the cluster as the next one needs it: two live workers, one front end.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';

import { freePort, hasRedis, startRedis as redisOn, startServe, startWorker as workerOf, stop, stopAll, type Proc } from '../helpers/cluster.js';
import { tinyCheckpoint } from '../helpers/tiny-checkpoint.js';

const skip = hasRedis ? false : 'redis-server is not installed (apt-get install redis-server; .ci/run installs it)';

/** small and quick: the shipped model at its own 64×64 size */
const BODY = { width: 64, height: 64, steps: 4, cfg_scale: 5, sampler_name: 'Euler' };

let redisPort = 0;
let url = '';
let redis: Proc | undefined;
const workers: Proc[] = [];
let front: { proc: Proc; base: string } | undefined;

const startRedis = async () => {
  redis = await redisOn(redisPort);
};
const startWorker = async () => {
  const proc = await workerOf(url, ['--threads', '1', '--lock-timeout', '2', '--max-batch', '8']);
  workers.push(proc);
  return proc;
};
const startFront = (extra: string[] = []) => startServe(['--queue', url, '--threads', '1', '--queue-size', '64', ...extra]);

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const post = (base: string, path: string, body: unknown, init: RequestInit = {}) =>
  fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), ...init });

/** worker log lines "job <id> done: 1 image(s) in a batch of B, attempt A" */
const done = (w: Proc) => w.lines.map((l) => /^job (\S+) done: \d+ image\(s\) in a batch of (\d+), attempt (\d+)/.exec(l)).filter((m) => m !== null);

before(async () => {
  if (!hasRedis) return;
  redisPort = await freePort();
  url = `redis://127.0.0.1:${redisPort}`;
  await startRedis();
  await Promise.all([startWorker(), startWorker()]);
  front = await startFront();
});

after(stopAll);

test('40 concurrent requests: all served, by both workers, in batches larger than one', { skip }, async () => {
  const t0 = performance.now();
  const responses = await Promise.all(Array.from({ length: 40 }, (_, i) => post(front!.base, '/sdapi/v1/txt2img', { ...BODY, prompt: `shape ${i % 5}` })));
  const seconds = (performance.now() - t0) / 1000;
  const bodies = await Promise.all(responses.map((r) => r.json() as Promise<{ images?: string[]; detail?: string }>));
  responses.forEach((r, i) => assert.equal(r.status, 200, `request ${i}: ${bodies[i]!.detail}`));
  for (const b of bodies) assert.equal(b.images?.length, 1);
  const ids = responses.map((r) => r.headers.get('x-sd-job-id'));
  assert.equal(new Set(ids).size, 40, 'one job id per request');
  // Which worker ran each job: from their own logs.
  const ran = workers.map((w) => done(w).filter((m) => ids.includes(m[1]!)));
  assert.equal(ran[0]!.length + ran[1]!.length, 40, 'every job ran exactly once');
  assert.ok(ran[0]!.length > 0 && ran[1]!.length > 0, `split across both workers: ${ran[0]!.length} + ${ran[1]!.length}`);
  const largest = Math.max(...ran.flat().map((m) => Number(m[2])));
  assert.ok(largest > 1, `batches > 1 (largest ${largest})`);
  const metrics = await (await fetch(`${front!.base}/metrics`)).text();
  assert.match(metrics, /sd_cluster_workers\{model="sd-native-tiny.safetensors"\} 2/);
  console.log(`# 40 requests in ${seconds.toFixed(2)} s; ${ran[0]!.length} + ${ran[1]!.length} jobs, largest batch ${largest}`);
});

/** Reads an SSE stream until an event named `name` whose data passes `accept`. */
async function sseEvent(stream: ReadableStream<Uint8Array>, name: string, accept: (data: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let text = '';
  for (;;) {
    const { value, done: ended } = await reader.read();
    if (ended) throw new Error(`the stream ended before a ${name} event: ${text.slice(-400)}`);
    text += value;
    for (const block of text.split('\n\n')) {
      const m = /^event: (\S+)\ndata: (.*)$/m.exec(block);
      if (m && m[1] === name) {
        const data = JSON.parse(m[2]!) as Record<string, unknown>;
        if (accept(data)) return void reader.cancel().catch(() => {}), data;
      }
    }
  }
}

test('progress and previews reach the client from the worker; a client that disconnects cancels its job there', { skip }, async () => {
  const id = `cancel-${Date.now()}`;
  const controller = new AbortController();
  const request = post(front!.base, '/sdapi/v1/txt2img', { ...BODY, steps: 150, prompt: 'a long one' }, { headers: { 'content-type': 'application/json', 'x-sd-job-id': id }, signal: controller.signal });
  request.catch(() => {});
  const holder = await until('a worker to take the job', () => workers.find((w) => w.lines.some((l) => l.startsWith(`job ${id} taken`))));
  // Progress through the front end that took the request: SSE with a preview, and A1111's /progress.
  const events = await fetch(`${front!.base}/v1/jobs/${id}/events`);
  const step = await sseEvent(events.body!, 'step', (d) => typeof d.preview === 'string');
  assert.equal(step.steps, 150);
  assert.match(String(step.preview), /^iVBORw0KGgo/, 'a base64 PNG preview');
  const progress = (await (await fetch(`${front!.base}/sdapi/v1/progress`)).json()) as { progress: number; state: { sampling_step: number; sampling_steps: number } };
  assert.equal(progress.state.sampling_steps, 150);
  assert.ok(progress.state.sampling_step > 0 && progress.progress > 0, JSON.stringify(progress));
  controller.abort();
  await until('the worker to cancel it', () => holder.lines.includes(`job ${id} cancelled`), 10_000);
  const job = (await (await fetch(`${front!.base}/v1/jobs/${id}`)).json()) as { status: string; step: number; steps: number };
  assert.equal(job.status, 'cancelled');
  assert.ok(job.step < 150, `stopped at step ${job.step} of 150`);
  assert.ok(!done(holder).some((m) => m[1] === id), 'the job never finished');
});

test('a worker killed with SIGKILL mid-job: its jobs finish on the other, none lost, none delivered twice', { skip }, async () => {
  const ids = Array.from({ length: 16 }, (_, i) => `kill-${Date.now()}-${i}`);
  for (const id of ids) {
    const r = await post(front!.base, '/v1/jobs', { ...BODY, steps: 12, prompt: `shape ${id}` }, { headers: { 'content-type': 'application/json', 'x-sd-job-id': id } });
    assert.equal(r.status, 202);
  }
  const [victim, survivor] = workers;
  const held = await until('the victim to hold jobs', () => {
    const taken = victim!.lines.filter((l) => ids.some((id) => l.startsWith(`job ${id} taken`)));
    return taken.length > 0 ? taken : undefined;
  });
  victim!.child.kill('SIGKILL');
  await victim!.exited;
  workers.splice(0, 1);
  const finishedByVictim = new Set(done(victim!).map((m) => m[1]));
  const jobs = await until('every job to settle', async () => {
    const all = await Promise.all(ids.map(async (id) => (await (await fetch(`${front!.base}/v1/jobs/${id}`)).json()) as { status: string; images?: string[]; error?: unknown }));
    return all.every((j) => j.status === 'succeeded' || j.status === 'failed') ? all : undefined;
  }, 90_000);
  jobs.forEach((j, i) => assert.equal(j.status, 'succeeded', `job ${ids[i]}: ${JSON.stringify(j.error)}`));
  for (const j of jobs) assert.equal(j.images?.length, 1);
  // The victim's unfinished jobs ran again on the survivor (attempt 2), and only there.
  const retried = done(survivor!).filter((m) => ids.includes(m[1]!) && Number(m[3]) > 1).map((m) => m[1]);
  assert.ok(retried.length > 0, `the survivor retried the victim's jobs (victim took ${held.length})`);
  for (const id of retried) assert.ok(!finishedByVictim.has(id), `${id} finished on both`);
  const survivorDone = done(survivor!).filter((m) => ids.includes(m[1]!)).map((m) => m[1]);
  assert.equal(new Set(survivorDone).size, survivorDone.length, 'no job ran twice on the survivor');
  assert.equal(survivorDone.length + [...finishedByVictim].filter((id) => ids.includes(id!)).length, ids.length, 'each job finished exactly once');
  const metrics = await (await fetch(`${front!.base}/metrics`)).text();
  assert.match(metrics, /sd_cluster_duplicate_results_total 0/);
  // the victim's heartbeat key expired: the front end no longer counts it
  await until('the front end to count one worker', async () => /sd_cluster_workers\{model="sd-native-tiny.safetensors"\} 1\n/.test(await (await fetch(`${front!.base}/metrics`)).text()) || undefined, 15_000);
  await startWorker(); // two workers again for the next tests
});

test('a front end killed with jobs queued: a new one finds them all finished', { skip }, async () => {
  // more jobs than the two workers hold at once (8 each): some still wait in Redis at the kill
  const ids = Array.from({ length: 24 }, (_, i) => `restart-${Date.now()}-${i}`);
  for (const id of ids) {
    const r = await post(front!.base, '/v1/jobs', { ...BODY, steps: 8, prompt: `shape ${id}` }, { headers: { 'content-type': 'application/json', 'x-sd-job-id': id } });
    assert.equal(r.status, 202);
  }
  const last = (await (await fetch(`${front!.base}/v1/jobs/${ids.at(-1)}`)).json()) as { status: string };
  assert.notEqual(last.status, 'succeeded', 'jobs were still unfinished when the front end died');
  await stop(front!.proc, 'SIGKILL');
  front = await startFront(['--queue-size', '4']);
  const jobs = await until('every job to succeed on the new front end', async () => {
    const all = await Promise.all(ids.map(async (id) => {
      const r = await fetch(`${front!.base}/v1/jobs/${id}`);
      return r.status === 200 ? ((await r.json()) as { status: string; images?: string[] }) : { status: `http ${r.status}` };
    }));
    return all.every((j) => j.status === 'succeeded' || j.status === 'failed') ? all : undefined;
  }, 90_000);
  jobs.forEach((j, i) => assert.equal(j.status, 'succeeded', `job ${ids[i]}`));
  for (const j of jobs) assert.equal(j.images?.length, 1);
  // A finished job's id may be used again: the new job runs (BullMQ would skip an id it still keeps).
  const again = await post(front!.base, '/v1/jobs', { ...BODY, seed: 77, prompt: 'once more' }, { headers: { 'content-type': 'application/json', 'x-sd-job-id': ids[0]! } });
  assert.equal(again.status, 202);
  const rerun = await until('the reused id to finish', async () => {
    const j = (await (await fetch(`${front!.base}/v1/jobs/${ids[0]}`)).json()) as { status: string; seed: number | null };
    return j.status === 'succeeded' || j.status === 'failed' ? j : undefined;
  }, 30_000);
  assert.deepEqual([rerun.status, rerun.seed], ['succeeded', 77]);
});

test('over the bound: 429 with a Retry-After from the drain rate; a model no worker holds: 503 at once', { skip }, async () => {
  // this front end (from the test before) takes at most 4 waiting jobs
  const responses = await Promise.all(Array.from({ length: 24 }, (_, i) => post(front!.base, '/sdapi/v1/txt2img', { ...BODY, steps: 8, seed: i, prompt: `bound ${i}` })));
  const codes = responses.map((r) => r.status);
  assert.ok(codes.includes(429), `some requests were refused: ${codes.join(' ')}`);
  assert.ok(codes.includes(200), `some were served: ${codes.join(' ')}`);
  assert.deepEqual([...new Set(codes)].sort(), [200, 429]);
  const refused = responses.find((r) => r.status === 429)!;
  assert.ok(Number(refused.headers.get('retry-after')) >= 1, `retry-after ${refused.headers.get('retry-after')}`);
  await Promise.all(responses.map((r) => r.arrayBuffer()));

  const other = await startFront(['-m', tinyCheckpoint()]);
  const t0 = performance.now();
  const r = await post(other.base, '/sdapi/v1/txt2img', { prompt: 'x', width: 32, height: 32, steps: 2 });
  const body = (await r.json()) as { detail: string };
  assert.equal(r.status, 503);
  assert.match(body.detail, /no worker holds model sd-tiny\.safetensors \(workers hold sd-native-tiny\.safetensors\)/);
  assert.ok(performance.now() - t0 < 1000, 'refused at once');
  await stop(other.proc);
});

test('Redis stopped: requests fail fast with 503; the cluster serves again once it is back', { skip }, async () => {
  await stop(redis!, 'SIGKILL');
  const t0 = performance.now();
  const r = await post(front!.base, '/sdapi/v1/txt2img', { ...BODY, prompt: 'while redis is away' });
  const body = (await r.json()) as { detail: string };
  assert.equal(r.status, 503);
  assert.match(body.detail, /the job queue is unreachable \(Redis at redis:\/\/127\.0\.0\.1:\d+/);
  assert.ok(performance.now() - t0 < 1000, `failed fast (${(performance.now() - t0).toFixed(0)} ms)`);
  const health = await fetch(`${front!.base}/metrics`);
  assert.match(await health.text(), /sd_cluster_redis_up 0/);

  await startRedis(); // empty: workers announce themselves again within a heartbeat
  const served = await until('a request to be served again', async () => {
    const again = await post(front!.base, '/sdapi/v1/txt2img', { ...BODY, prompt: 'redis is back' });
    const b = (await again.json()) as { images?: string[] };
    return again.status === 200 ? b : (await new Promise((res) => setTimeout(res, 400)), undefined);
  }, 30_000);
  assert.equal(served.images?.length, 1);
});

test('a job whose workers keep dying fails after --attempts, with the reason', { skip }, async () => {
  for (const w of workers.splice(0)) await stop(w);
  const fragile = ['--threads', '1', '--lock-timeout', '1', '--attempts', '1'];
  const first = await workerOf(url, fragile);
  const id = `doomed-${Date.now()}`;
  // 503 until the front end's registry (read every 0.5 s) has seen the new worker
  await until('the front end to take the job', async () =>
    (await post(front!.base, '/v1/jobs', { ...BODY, steps: 150, prompt: 'never finishes' }, { headers: { 'content-type': 'application/json', 'x-sd-job-id': id } })).status === 202 || undefined, 10_000);
  await until('the worker to take it', () => first.lines.some((l) => l.startsWith(`job ${id} taken`)) || undefined);
  await stop(first, 'SIGKILL');
  await workerOf(url, fragile); // its stalled check finds the dead worker's job: 1 attempt used, none left
  const job = await until('the job to fail', async () => {
    const j = (await (await fetch(`${front!.base}/v1/jobs/${id}`)).json()) as { status: string; error: { status: number; detail: string } | null };
    return j.status === 'failed' ? j : undefined;
  }, 30_000);
  assert.equal(job.error?.status, 503);
  assert.match(job.error!.detail, /^the job failed on its worker: job stalled more than allowable limit/);
});
