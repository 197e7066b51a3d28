// The JS fuzzers (test/fuzz/js): the PNG decoder, the tokenizer and the prompt parsers, each run
// from its corpus (test/fuzz/corpus/<png|prompt>) and then on mutated inputs for
// SD_NATIVE_JS_FUZZ_SECONDS each (default 8; `npm run fuzz` runs them long with a new seed).
// A broken invariant, an unexpected exception or an input slower than a second fails the test
// and names the saved input: replay it with `node --import tsx test/fuzz/js/run.ts --replay <file> <target>`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { fuzz } from './js/run.js';
import { Invariant, TARGETS, type Target } from './js/targets.js';

const seconds = Number(process.env.SD_NATIVE_JS_FUZZ_SECONDS ?? 8);
const seed = Number(process.env.SD_NATIVE_FUZZ_SEED ?? 1);

test('the mutation loop finds a planted bug within a second (the engine works)', () => {
  const planted: Target = {
    name: 'planted', corpus: 'prompt', maxLength: 512,
    run(input) {
      if (input.includes('[[[[')) throw new Invariant('four brackets');
      return String(input.length % 7);
    },
  };
  const r = fuzz(planted, { seconds: 1, seed: 7, out: mkdtempSync(join(tmpdir(), 'sd-js-fuzz-')), maxFindings: 1 });
  assert.equal(r.findings.length, 1, `no finding in ${r.executions} executions`);
  assert.match(r.findings[0]!.error, /^Invariant: four brackets$/);
});

test('a long run resumes where it stopped: executions add up over starts, the pool is kept', () => {
  const counting: Target = { name: 'counting', corpus: 'prompt', maxLength: 256, run: (input) => String(input.length % 13) };
  const state = mkdtempSync(join(tmpdir(), 'sd-js-fuzz-state-'));
  const out = mkdtempSync(join(tmpdir(), 'sd-js-fuzz-'));
  const first = fuzz(counting, { seconds: Infinity, seed: 3, out, state, executions: 5000 });
  assert.equal(first.executions, 5000);
  const saved = JSON.parse(readFileSync(join(state, 'counting.json'), 'utf8'));
  assert.equal(saved.executions, 5000);
  assert.equal(saved.starts, 1);
  const second = fuzz(counting, { seconds: Infinity, seed: 3, out, state, executions: 12000 });
  assert.equal(second.executions, 12000);
  const again = JSON.parse(readFileSync(join(state, 'counting.json'), 'utf8'));
  assert.equal(again.starts, 2);
  assert.equal(again.pool.length, saved.pool.length + second.kept - first.kept);
  assert.ok(again.signatures.length >= saved.signatures.length);
});

for (const target of TARGETS) {
  test(`fuzz ${target.name} for ${seconds} s (seed ${seed})`, { timeout: (seconds + 60) * 1000 }, () => {
    const out = mkdtempSync(join(tmpdir(), `sd-js-fuzz-${target.name}-`));
    const r = fuzz(target, { seconds, seed, out });
    process.stdout.write(`# ${target.name}: ${r.executions} executions in ${r.seconds.toFixed(1)} s, ${r.signatures} signatures, ${r.kept} inputs kept\n`);
    assert.deepEqual(r.findings, [], `${target.name} found failures (inputs saved in ${out})`);
    assert.ok(r.executions > 100, `only ${r.executions} executions`);
  });
}
