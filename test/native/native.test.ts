// Runs the native test executables (op table, kernels, samplers, RNG, safetensors, parity)
// built by node-gyp next to the addon. Builds them first if this checkout has only a prebuild.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..', '..');
const bin = (name: string) => join(root, 'build', 'Release', name);
const fixtures = join(root, 'test', 'fixtures');

const suites: Array<{ name: string; args: () => string[] }> = [
  { name: 'test_ops', args: () => [] },
  { name: 'test_gemm', args: () => [] },
  { name: 'test_thread_pool', args: () => [] },
  { name: 'test_attention', args: () => [] },
  { name: 'test_safetensors', args: () => [mkdtempSync(join(tmpdir(), 'sd-st-'))] },
  { name: 'test_samplers', args: () => [fixtures] },
  { name: 'test_rng', args: () => [fixtures] },
  { name: 'test_parity', args: () => [fixtures] },
];

if (suites.some((s) => !existsSync(bin(s.name)))) {
  // A checkout that loaded a prebuild has no build tree yet: configure it first.
  const verb = existsSync(join(root, 'build', 'config.gypi')) ? 'build' : 'rebuild';
  const r = spawnSync('npx', ['node-gyp', verb, '-j', '2'], { cwd: root, stdio: 'inherit' });
  assert.equal(r.status, 0, 'building the native tests failed');
}

for (const suite of suites) {
  test(`native ${suite.name}`, { timeout: 15 * 60_000 }, () => {
    assert.ok(existsSync(bin(suite.name)), `${bin(suite.name)} was not built`);
    const args = suite.args();
    const r = spawnSync(bin(suite.name), args, { encoding: 'utf8', maxBuffer: 64 << 20 });
    if (suite.name === 'test_safetensors') rmSync(args[0], { recursive: true, force: true });
    const tail = (r.stdout + r.stderr).split('\n').slice(-40).join('\n');
    assert.equal(r.status, 0, `${suite.name} failed:\n${tail}`);
    process.stdout.write(`# ${r.stdout.trim().split('\n').slice(-1)[0]}\n`);
  });
}
