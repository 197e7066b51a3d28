// Runs the native test programs (op table, kernels, samplers, RNG, safetensors, parity). They are
// built here with CMake into build-native/tests (incrementally), never by the package's install.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..', '..');
const buildDir = join(root, 'build-native', 'tests');
const bin = (name: string) => join(buildDir, name);
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
  { name: 'test_contract', args: () => [] },
  { name: 'test_adapters', args: () => [fixtures] },
];

const cmake = (args: string[]) => spawnSync('cmake', args, { cwd: root, stdio: 'inherit' });
let built = false;
test('native test programs build (CMake)', { timeout: 20 * 60_000 }, () => {
  const configured = existsSync(join(buildDir, 'CMakeCache.txt')) ||
    cmake(['-S', root, '-B', buildDir, '-DSD_TESTS=ON', '-DSD_ADDON=OFF']).status === 0;
  assert.ok(configured, 'cmake could not configure the native tests (is cmake >= 3.19 installed?)');
  assert.equal(cmake(['--build', buildDir, '-j', String(availableParallelism())]).status, 0, 'building the native tests failed');
  built = true;
});

for (const suite of suites) {
  test(`native ${suite.name}`, { timeout: 15 * 60_000 }, (t) => {
    if (!built) return t.skip('the native tests did not build');
    assert.ok(existsSync(bin(suite.name)), `${bin(suite.name)} was not built`);
    const args = suite.args();
    const r = spawnSync(bin(suite.name), args, { encoding: 'utf8', maxBuffer: 64 << 20 });
    if (suite.name === 'test_safetensors') rmSync(args[0], { recursive: true, force: true });
    const tail = (r.stdout + r.stderr).split('\n').slice(-40).join('\n');
    assert.equal(r.status, 0, `${suite.name} failed:\n${tail}`);
    process.stdout.write(`# ${r.stdout.trim().split('\n').slice(-1)[0]}\n`);
  });
}
