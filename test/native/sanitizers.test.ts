// The same native test programs built with AddressSanitizer + UndefinedBehaviorSanitizer (every
// object, the core's kernels included) into build-native/asan: an out-of-bounds read, a use after
// free, a leak or undefined behaviour anywhere they reach fails the run. Then the addon itself, so
// instrumented, runs a JS workload end to end (the N-API layer, the threads, the cancel path) and
// must give the plain addon's results (to float rounding: the two builds' compilers may contract
// multiply-adds differently).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { StableDiffusion } from '../../lib/index.js';
import { tinyCheckpoint } from '../helpers/tiny-checkpoint.js';
import { workload } from './asan-addon-calls.mjs';
import { cmake, nativeSuites, root } from './suites.js';

nativeSuites('asan+ubsan', 'asan', ['-DSD_SANITIZE=ON'], {
  ...process.env,
  ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=1:strict_string_checks=1',
  UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1',
});

test("asan+ubsan addon: a JS workload end to end gives the plain addon's images", { timeout: 30 * 60_000 }, async (t) => {
  const buildDir = join(root, 'build-native', 'asan');
  const headers = createRequire(import.meta.url)('node-api-headers').include_dir as string;
  if (!existsSync(join(buildDir, 'CMakeCache.txt'))) return t.skip('the sanitizer build was not configured');
  assert.equal(cmake(['-S', root, '-B', buildDir, '-DSD_ADDON=ON', `-DSD_NODE_INCLUDE_DIR=${headers}`]).status, 0, 'configuring the ASan addon failed');
  assert.equal(cmake(['--build', buildDir, '--target', 'sd_native', '-j', String(availableParallelism())]).status, 0, 'building the ASan addon failed');
  const addon = join(buildDir, 'sd_native.node');
  // node is not instrumented: the runtime comes first through LD_PRELOAD; V8 keeps allocations
  // alive at exit by design, so leak checking stays with the native programs above
  const runtime = spawnSync('gcc', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).stdout.trim();
  const child = spawnSync(process.execPath, [join(root, 'test', 'native', 'asan-addon-workload.mjs'), pathToFileURL(join(root, 'dist', 'esm', 'index.js')).href, tinyCheckpoint()], {
    encoding: 'utf8', maxBuffer: 64 << 20,
    env: { ...process.env, LD_PRELOAD: runtime, SD_NATIVE_BINARY: addon, ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1', UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1' },
  });
  assert.equal(child.status, 0, `the instrumented run failed:\n${(child.stdout + child.stderr).split('\n').slice(-40).join('\n')}`);
  type Result = { pixels: string; latent: string } | string;
  const got = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as { binary: string; results: Result[] };
  assert.equal(got.binary, addon, 'the child loaded the instrumented addon, not a fallback');
  const want = (await workload(StableDiffusion, tinyCheckpoint())) as Result[];
  assert.equal(want.length, 5); // a batch of two, the inpaint, the hires image, the cancelled call
  assert.equal(got.results.length, want.length);
  assert.deepEqual([got.results.at(-1), want.at(-1)], ['aborted', 'aborted']);
  const floats = (b64: string) => { const b = Buffer.from(b64, 'base64'); return new Float32Array(b.buffer, b.byteOffset, b.length / 4); };
  let worst = 0;
  for (const [i, w] of want.slice(0, -1).entries()) {
    const g = got.results[i] as Exclude<Result, string>, r = w as Exclude<Result, string>;
    const a = floats(g.latent), b = floats(r.latent);
    assert.equal(a.length, b.length);
    let diff = 0, norm = 0;
    for (let k = 0; k < a.length; ++k) (diff += (a[k]! - b[k]!) ** 2), (norm += b[k]! ** 2);
    assert.ok(Math.sqrt(diff / norm) < 1e-4, `image ${i}: latent rel L2 ${Math.sqrt(diff / norm)}`);
    worst = Math.max(worst, Math.sqrt(diff / norm));
    const p = Buffer.from(g.pixels, 'base64'), q = Buffer.from(r.pixels, 'base64');
    assert.ok(p.every((v, k) => Math.abs(v - q[k]!) <= 2), `image ${i}: pixels differ by more than 2`);
  }
  t.diagnostic(`instrumented vs plain addon: worst latent rel L2 ${worst.toExponential(2)}`);
});
