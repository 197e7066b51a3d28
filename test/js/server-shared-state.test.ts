// State every client shares, over the fake pipeline: A1111's /options (read-only when the server
// is open to a network without a token), and progress / interrupt, global as A1111 has them or
// scoped to one job when the caller names it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';

import { FakePipeline, setup, small, txt2img, waitFor } from '../helpers/fake-pipeline.js';
import { createServer, type ServerOptions } from '../../lib/server/index.js';

// POST /options from 127.0.0.1 to a server listening on `host`; the stored clip skip afterwards.
async function postOptions(host: string, options: ServerOptions, headers: Record<string, string> = {}): Promise<{ status: number; detail?: string; clipSkip: number }> {
  // idle keep-alive sockets closed at once: close() does not wait out their timeout
  const app = createServer(new FakePipeline(), { ...options, fastify: { forceCloseConnections: true } });
  await app.listen({ host, port: 0 });
  try {
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const res = await fetch(`${base}/sdapi/v1/options`, {
      method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ CLIP_stop_at_last_layers: 2 }),
    });
    const body = (await res.json()) as { detail?: string } | null;
    const after = (await (await fetch(`${base}/sdapi/v1/options`, { headers })).json()) as { CLIP_stop_at_last_layers: number };
    return { status: res.status, ...(body?.detail ? { detail: body.detail } : {}), clipSkip: after.CLIP_stop_at_last_layers };
  } finally {
    await app.close();
  }
}

test('options are read-only by default on a non-loopback address without a token, writable otherwise', async () => {
  const open = await postOptions('0.0.0.0', {});
  assert.equal(open.status, 403);
  assert.match(open.detail!, /^this server's options are read-only \(--read-only-options, the default without a token on a non-loopback address\): send settings with each request in override_settings instead$/);
  assert.equal(open.clipSkip, 1, 'the refused change was not stored');
  const auth = { authorization: 'Bearer t0ken' };
  assert.deepEqual(await postOptions('0.0.0.0', { token: 't0ken' }, auth), { status: 200, clipSkip: 2 });
  assert.deepEqual(await postOptions('127.0.0.1', {}), { status: 200, clipSkip: 2 });
  // the flag wins both ways
  assert.equal((await postOptions('127.0.0.1', { readOnlyOptions: true })).status, 403);
  assert.deepEqual(await postOptions('0.0.0.0', { readOnlyOptions: false }), { status: 200, clipSkip: 2 });
});

test('read-only options still take per-request override_settings', async () => {
  const { app, fake } = setup({ readOnlyOptions: true });
  assert.equal((await app.inject({ method: 'POST', url: '/sdapi/v1/options', payload: { CLIP_stop_at_last_layers: 2 } })).statusCode, 403);
  const res = await txt2img(app, { ...small, override_settings: { CLIP_stop_at_last_layers: 2 } });
  assert.equal(res.statusCode, 200, res.body);
  assert.equal(fake.calls[0]!.clipSkip, 2);
  await app.close();
});

test('progress and interrupt with id_task concern that job alone; without it, the running call (A1111)', async () => {
  const { app, fake } = setup();
  fake.hold();
  const a = txt2img(app, { ...small, steps: 4, prompt: 'a' }, { 'x-sd-job-id': 'job-a' });
  const b = txt2img(app, { ...small, steps: 4, prompt: 'b', force_task_id: 'job-b' });
  await waitFor(() => fake.calls.length === 1 && app.sd.queue.waiting === 1, 'a running, b waiting');
  fake.step(2);
  await waitFor(() => app.sd.queue.running?.step === 2, 'two steps of a');
  const get = async (query: string) => (await app.inject({ method: 'GET', url: `/sdapi/v1/progress${query}` })).json();
  const pa = await get('?id_task=job-a');
  assert.deepEqual([pa.progress, pa.state.job, pa.state.sampling_step, pa.textinfo], [0.5, 'job-a', 2, 'running']);
  assert.notEqual(pa.current_image, null);
  const pb = await get('?id_task=job-b');
  assert.deepEqual([pb.progress, pb.state.job, pb.state.queued, pb.textinfo, pb.current_image], [0, 'job-b', 0, 'queued at position 1', null]);
  assert.ok(pb.eta_relative > pa.eta_relative, `b waits for a: ${pb.eta_relative} > ${pa.eta_relative}`);
  assert.equal((await get('')).state.job, 'txt2img'); // the global view is A1111's
  const unknown = await app.inject({ method: 'GET', url: '/sdapi/v1/progress?id_task=nobody' });
  assert.equal(unknown.statusCode, 404);

  // interrupting b (body, as A1111's UI sends it) leaves a running; an unknown id cancels nothing
  assert.equal((await app.inject({ method: 'POST', url: '/sdapi/v1/interrupt', payload: { id_task: 'nobody' } })).statusCode, 404);
  const int = await app.inject({ method: 'POST', url: '/sdapi/v1/interrupt', payload: { id_task: 'job-b' } });
  assert.deepEqual([int.statusCode, int.json()], [200, {}]);
  const rb = await b;
  assert.equal(rb.statusCode, 409);
  assert.equal(rb.json().detail, 'job job-b was interrupted by POST /sdapi/v1/interrupt');
  assert.equal(app.sd.queue.running?.jobs[0]!.id, 'job-a');
  assert.equal((await get('?id_task=job-b')).state.interrupted, true);
  fake.release();
  assert.equal((await a).statusCode, 200);
  assert.equal((await get('?id_task=job-a')).progress, 1);
  assert.equal(fake.calls.length, 1, 'b never ran');
  await app.close();
});
