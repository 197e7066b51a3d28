// State every client shares, over the fake pipeline: A1111's /options (read-only when the server
// is open to a network without a token), and progress / interrupt, global as A1111 has them or
// scoped to one job when the caller names it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';

import { FakePipeline, setup, small, txt2img } from '../helpers/fake-pipeline.js';
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
