// The native test programs and how to build and run them, shared by the plain build
// (native.test.ts) and the AddressSanitizer + UBSan build (sanitizers.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const root = resolve(import.meta.dirname, '..', '..');
const fixtures = join(root, 'test', 'fixtures');

const suites: Array<{ name: string; args: () => string[] }> = [
  { name: 'test_ops', args: () => [] },
  { name: 'test_gemm', args: () => [] },
  { name: 'test_winograd', args: () => [] },
  { name: 'test_thread_pool', args: () => [] },
  { name: 'test_attention', args: () => [] },
  { name: 'test_safetensors', args: () => [mkdtempSync(join(tmpdir(), 'sd-st-'))] },
  { name: 'test_samplers', args: () => [fixtures] },
  { name: 'test_rng', args: () => [fixtures] },
  { name: 'test_parity', args: () => [fixtures] },
  { name: 'test_seamless', args: () => [fixtures] },
  { name: 'test_contract', args: () => [] },
  { name: 'test_adapters', args: () => [fixtures] },
  { name: 'test_vae_tiles', args: () => [] },
  { name: 'test_taesd', args: () => [fixtures] },
  { name: 'test_emulated', args: () => [] },
];

export const cmake = (args: string[], env: NodeJS.ProcessEnv = process.env) => spawnSync('cmake', args, { cwd: root, stdio: 'inherit', env });

/** Registers "build" and one test per program, built in build-native/<dir> with extra CMake flags. */
export function nativeSuites(label: string, dir: string, flags: string[], env: NodeJS.ProcessEnv = process.env): void {
  const buildDir = join(root, 'build-native', dir);
  const bin = (name: string) => join(buildDir, name);
  let built = false;
  test(`${label} test programs build (CMake)`, { timeout: 30 * 60_000 }, () => {
    const configured = existsSync(join(buildDir, 'CMakeCache.txt')) ||
      cmake(['-S', root, '-B', buildDir, '-DSD_TESTS=ON', '-DSD_ADDON=OFF', ...flags]).status === 0;
    assert.ok(configured, 'cmake could not configure the native tests (is cmake >= 3.19 installed?)');
    assert.equal(cmake(['--build', buildDir, '-j', String(availableParallelism())]).status, 0, 'building the native tests failed');
    built = true;
  });
  for (const suite of suites) {
    test(`${label} ${suite.name}`, { timeout: 30 * 60_000 }, (t) => {
      if (!built) return t.skip('the native tests did not build');
      assert.ok(existsSync(bin(suite.name)), `${bin(suite.name)} was not built`);
      const args = suite.args();
      const r = spawnSync(bin(suite.name), args, { encoding: 'utf8', maxBuffer: 64 << 20, env });
      if (suite.name === 'test_safetensors') rmSync(args[0]!, { recursive: true, force: true });
      const tail = (r.stdout + r.stderr).split('\n').slice(-40).join('\n');
      assert.equal(r.status, 0, `${suite.name} failed:\n${tail}`);
      process.stdout.write(`# ${r.stdout.trim().split('\n').slice(-1)[0]}\n`);
    });
  }
}
