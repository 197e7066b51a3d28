// Tokenizer timings, reported as diagnostics. Targets: vocabulary load < 300 ms, a 75-token
// prompt well under 1 ms, a 4096-letter word (hostile input) around 10 ms. The asserts are
// only loose guards (the CI machine is shared), so they catch an accidental O(n^2) or a
// per-call rebuild, not noise. Runs in its own process, so the
// load below is a cold one.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ClipTokenizer, PAD_SD1 } from '../../lib/tokenizer/index.js';

function cpuMs(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1000;
}

test('tokenizer timings', (t) => {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const tok = ClipTokenizer.load();
  const loadWall = performance.now() - t0;
  const loadCpu = cpuMs(cpu0);

  const prompt75 =
    'a highly detailed digital painting of a majestic lion standing on a rocky cliff at sunset, dramatic ' +
    'lighting, golden hour, volumetric fog, ultra realistic, 8k, trending on artstation, by greg rutkowski ' +
    'and alphonse mucha, intricate details, sharp focus, cinematic composition, award winning photography, ' +
    'depth of field, bokeh, vibrant colors, highly detailed fur, realistic';
  const t1 = performance.now();
  const firstResult = tok.tokenizeWeighted(prompt75, { padId: PAD_SD1 });
  const first = performance.now() - t1;
  assert.equal(firstResult.tokenCount, 75);

  const N = 1000;
  for (let i = 0; i < 2000; i++) tok.tokenizeWeighted(prompt75, { padId: PAD_SD1 }); // JIT warm-up
  const cpu2 = process.cpuUsage();
  const t2 = performance.now();
  for (let i = 0; i < N; i++) tok.tokenizeWeighted(prompt75, { padId: PAD_SD1 });
  const warm = (performance.now() - t2) / N;
  const warmCpu = cpuMs(cpu2) / N;

  // Unseen words every call: no help from the BPE cache.
  const words = prompt75.split(' ');
  const fresh = Array.from({ length: N }, (_, i) => words.map((w) => `${w}q${i}`).join(' '));
  const cpu3 = process.cpuUsage();
  const t3 = performance.now();
  for (const p of fresh) tok.tokenizeWeighted(p, { padId: PAD_SD1 });
  const uncached = (performance.now() - t3) / N;
  const uncachedCpu = cpuMs(cpu3) / N;

  // Hostile words: 4096 random letters (one merge per round: O(n^2) in the plain BPE loop, 140 ms
  // mean for the two before the heap merge) and 4096 of one letter (halves every round).
  let seed = 1;
  const letter = () => String.fromCharCode(97 + ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % 26));
  const hostile = [Array.from({ length: 4096 }, letter).join(''), 'a'.repeat(4096)];
  const t4 = performance.now();
  for (const w of hostile) tok.encode(w);
  const longWords = (performance.now() - t4) / hostile.length;

  const lines = [
    `4096-letter word (random, repeated), mean: ${longWords.toFixed(2)} ms`,
    `vocabulary load: ${loadWall.toFixed(1)} ms wall, ${loadCpu.toFixed(1)} ms CPU (target < 300 ms)`,
    `75-token prompt, first call (cold JIT + cold BPE cache): ${first.toFixed(3)} ms`,
    `75-token prompt, tokenizeWeighted mean of ${N}: ${warm.toFixed(4)} ms wall / ${warmCpu.toFixed(4)} ms CPU (words cached)`,
    `75-token prompt with unseen words, mean of ${N}: ${uncached.toFixed(4)} ms wall / ${uncachedCpu.toFixed(4)} ms CPU`,
  ];
  for (const l of lines) {
    t.diagnostic(l);
    console.log(`tokenizer perf: ${l}`);
  }
  assert.ok(loadWall < 3000, `vocabulary load took ${loadWall.toFixed(0)} ms`);
  assert.ok(warm < 10 && uncached < 10, `tokenizing 75 tokens took ${warm.toFixed(2)} / ${uncached.toFixed(2)} ms`);
  assert.ok(longWords < 60, `a 4096-letter word took ${longWords.toFixed(1)} ms`);
});
