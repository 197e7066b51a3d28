// libFuzzer harnesses (test/fuzz/fuzz_*.cpp) over the native parsers that read untrusted files,
// built with clang + ASan + UBSan into build-native/fuzz and run from the corpus in
// test/fuzz/corpus/<name>/ for SD_NATIVE_FUZZ_SECONDS each (default 20; `npm run fuzz` runs long).
// A crash, sanitizer report or wrong result fails the test and leaves its input under tmp.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';

import { cmake, root } from '../native/suites.js';

const buildDir = join(root, 'build-native', 'fuzz');
const seconds = Number(process.env.SD_NATIVE_FUZZ_SECONDS ?? 20);
const harnesses = Object.keys((JSON.parse(readFileSync(join(root, 'native', 'sources.json'), 'utf8')) as { fuzzers: Record<string, string[]> }).fuzzers);
const clang = spawnSync('clang++', ['--version']).status === 0;

let built = false;
test('fuzz harnesses build (clang, libFuzzer, ASan, UBSan)', { timeout: 30 * 60_000 }, (t) => {
  if (!clang) return t.skip('clang++ is not installed (apt-get install clang libclang-rt-14-dev): the fuzzers need libFuzzer');
  const configured = existsSync(join(buildDir, 'CMakeCache.txt')) ||
    cmake(['-S', root, '-B', buildDir, '-DCMAKE_CXX_COMPILER=clang++', '-DSD_FUZZ=ON', '-DSD_ADDON=OFF']).status === 0;
  assert.ok(configured, 'cmake could not configure the fuzzers with clang++');
  const r = cmake(['--build', buildDir, '-j', String(availableParallelism()), '--target', ...harnesses]);
  assert.equal(r.status, 0, 'building the fuzzers failed (is libclang-rt-14-dev installed for -fsanitize=fuzzer?)');
  built = true;
});

for (const name of harnesses) {
  test(`fuzz ${name} for ${seconds} s`, { timeout: (seconds + 120) * 1000 }, (t) => {
    if (!built) return t.skip(clang ? 'the fuzzers did not build' : 'clang++ is not installed');
    const work = mkdtempSync(join(tmpdir(), `sd-${name}-`));
    const corpus = join(work, 'corpus');
    cpSync(join(root, 'test', 'fuzz', 'corpus', name.replace(/^fuzz_/, '')), corpus, { recursive: true });
    const r = spawnSync(join(buildDir, name), [`-max_total_time=${seconds}`, '-max_len=8192', '-timeout=10', `-artifact_prefix=${work}/`, corpus],
      { encoding: 'utf8', maxBuffer: 64 << 20 });
    const runs = /Done (\d+) runs in (\d+) second/.exec(r.stderr);
    assert.equal(r.status, 0, `${name} found a failure (input kept in ${work}):\n${r.stderr.split('\n').slice(-40).join('\n')}`);
    assert.ok(runs, `${name} printed no run count:\n${r.stderr.slice(-2000)}`);
    process.stdout.write(`# ${name}: ${runs![1]} executions in ${runs![2]} s, no failure\n`);
  });
}
