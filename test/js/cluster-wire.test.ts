// The shared queue's plain parts, without Redis: the --queue URL, and jobs, results and errors
// through their JSON form (the e2e test test/e2e/cluster.test.ts runs the processes).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { queueName, redactedUrl, redisOptions } from '../../lib/cluster/redis.js';
import { decodeError, decodeImages, decodeInput, encodeError, encodeImages, encodeInput } from '../../lib/cluster/wire.js';
import { SdError } from '../../lib/errors.js';
import { encodePng } from '../../lib/png.js';
import { HttpError, JobCancelledError } from '../../lib/server/errors.js';

test('redisOptions reads host, port, credentials, database and TLS from the URL', () => {
  const o = redisOptions('rediss://user:p%40ss@cache.example:6380/2');
  assert.deepEqual({ host: o.host, port: o.port, username: o.username, password: o.password, db: o.db, tls: o.tls },
    { host: 'cache.example', port: 6380, username: 'user', password: 'p@ss', db: 2, tls: {} });
  const plain = redisOptions('redis://127.0.0.1');
  assert.deepEqual([plain.host, plain.port, plain.db, plain.tls], ['127.0.0.1', 6379, undefined, undefined]);
  assert.throws(() => redisOptions('http://host:6379'), { message: '--queue must be a redis:// or rediss:// URL, got "http://host:6379"' });
  assert.throws(() => redisOptions('host:6379x'), { message: /--queue must be a redis/ });
  assert.throws(() => redisOptions('redis://h/abc'), { message: '--queue: the path of a redis URL is a database number, got "/abc"' });
  assert.equal(redactedUrl('redis://u:secret@h:1/0'), 'redis://u:***@h:1/0');
  assert.equal(queueName('a:b.safetensors'), 'model.a_b.safetensors');
});

test('a job input keeps its Buffers and settings through JSON', () => {
  const initImage = Buffer.from([137, 80, 78, 71, 0, 255]);
  const input = { kind: 'img2img' as const, n: 2, seed: 42, settings: { prompt: 'a cat', steps: 4, width: 64, initImage, strength: 0.5, negativePrompt: undefined } };
  const back = decodeInput(JSON.parse(JSON.stringify(encodeInput(input))) as Record<string, unknown>);
  assert.deepEqual(back, { kind: 'img2img', n: 2, seed: 42, settings: { prompt: 'a cat', steps: 4, width: 64, initImage, strength: 0.5 } });
});

test('result images keep PNG bytes, seed and infotext; raw pixels decode from the PNG', () => {
  const data = Buffer.from([10, 20, 30, 40, 50, 60]);
  const png = encodePng({ data, width: 2, height: 1, channels: 3 });
  const [img] = decodeImages(JSON.parse(JSON.stringify(encodeImages([{ data, width: 2, height: 1, seed: 7, parameters: 'p', toPNG: () => png }]))));
  assert.deepEqual([img!.toPNG(), img!.seed, img!.parameters, img!.width, img!.height], [png, 7, 'p', 2, 1]);
  assert.deepEqual(img!.data, data);
});

test('errors come back as the class that decides their HTTP status', () => {
  const sd = decodeError(encodeError(new SdError('width must be a multiple of 8', 'ERR_SD_INVALID_OPTION')));
  assert.ok(sd instanceof SdError);
  assert.deepEqual([sd.message, (sd as SdError).code], ['width must be a multiple of 8', 'ERR_SD_INVALID_OPTION']);
  const cancelled = decodeError(encodeError(new JobCancelledError('the client went away')));
  assert.ok(cancelled instanceof JobCancelledError);
  assert.equal((decodeError(encodeError(new HttpError(422, 'bad'))) as HttpError).status, 422);
  const stalled = decodeError('job stalled more than allowable limit');
  assert.equal((stalled as HttpError).status, 503);
  assert.equal(stalled.message, 'the job failed on its worker: job stalled more than allowable limit');
});
