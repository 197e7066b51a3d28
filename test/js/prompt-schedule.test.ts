// Prompt editing and alternation against A1111's own parser (35 prompts × 5 step counts, plain and
// hires-fix scheduling; generator test/fixtures/generators/prompt_schedule_golden.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { promptSchedule } from '../../lib/tokenizer/prompt-schedule.js';
import { fixtures } from '../helpers/tiny-checkpoint.js';

test('promptSchedule equals A1111 get_learned_conditioning_prompt_schedules on every golden case', () => {
  const golden = JSON.parse(readFileSync(join(fixtures, 'prompt_schedule_a1111.json'), 'utf8')) as {
    cases: Array<{ prompt: string; steps: number; hires_steps: number | null; schedule: Array<[number, string]> }>;
  };
  const wrong = golden.cases.filter((c) => JSON.stringify(promptSchedule(c.prompt, c.steps, c.hires_steps ?? undefined)) !== JSON.stringify(c.schedule));
  assert.deepEqual(wrong.map((c) => ({ ...c, ours: promptSchedule(c.prompt, c.steps, c.hires_steps ?? undefined) })), []);
  assert.equal(golden.cases.length, 175);
});

// Through the whole pipeline (tiny SD1, Euler: one model call per step, as A1111 counts its steps):
// the conditioning switches exactly where the schedule says.
test('prompt editing and alternation switch the conditioning per step', async () => {
  const { StableDiffusion } = await import('../../lib/index.js');
  const { tinyCheckpoint } = await import('../helpers/tiny-checkpoint.js');
  const sd = await StableDiffusion.load(tinyCheckpoint(), { threads: 2 });
  try {
    // latents, not bytes: a switch late in the schedule moves the image by less than a grey level
    const run = async (prompt: string, negativePrompt = '', extra: object = {}) =>
      Buffer.from((await sd.generate({ prompt, negativePrompt, width: 32, height: 32, steps: 4, seed: 9, cfgScale: 5, sampler: 'euler', scheduler: 'normal', ...extra }))[0]!.latent.buffer);
    const cat = await run('a cat'), dog = await run('a dog');
    assert.ok(!cat.equals(dog));
    assert.ok((await run('a [cat:dog:3]')).equals(cat), 'calls 0..3 all ≤ 3: cat throughout');
    assert.ok((await run('a [cat:dog:0]')).equals(dog), 'when 0: dog from the start');
    assert.ok((await run('a [cat|cat]')).equals(cat));
    const switched = await run('a [cat:dog:2]'), alternating = await run('a [cat|dog]');
    for (const [what, img] of [['edit at 2', switched], ['alternation', alternating]] as const) {
      assert.ok(!img.equals(cat) && !img.equals(dog), `${what} differs from both prompts`);
    }
    assert.ok(!(await run('a cat', '[blurry:ugly:1]')).equals(await run('a cat', 'blurry')), 'negative prompts are scheduled too');
    const [hires] = await sd.generate({ prompt: 'a [cat:dog:1.5]', width: 32, height: 32, steps: 2, seed: 9, hires: true, hiresSteps: 2 });
    assert.equal(hires!.width, 64);
    const batch = await sd.generateBatch([{ prompt: 'a [cat:dog:3]', seed: 9 }, { prompt: 'a dog', seed: 9 }],
      { width: 32, height: 32, steps: 4, cfgScale: 5, sampler: 'euler', scheduler: 'normal' });
    const latent = (i: number) => Buffer.from(batch[i]!.latent.slice().buffer);
    assert.ok(latent(0).equals(cat) && latent(1).equals(dog), 'per-image schedules in one batch');
  } finally {
    sd.dispose();
  }
});

test('fuzz findings: deep or unclosed nesting returns at once (was exponential); beyond 64 levels the prompt is kept as is', () => {
  let t0 = performance.now();
  // 40 levels, balanced: every "[" tried three rules over the same inside, 3^40 parses before the memo
  assert.deepEqual(promptSchedule(`${'['.repeat(40)}a${']'.repeat(40)} [b:c:2]`, 4), [[2, `${'['.repeat(40)}a${']'.repeat(40)} b`], [4, `${'['.repeat(40)}a${']'.repeat(40)} c`]]);
  assert.ok(performance.now() - t0 < 500, `${(performance.now() - t0).toFixed(0)} ms`);
  t0 = performance.now();
  const unclosed = `[a:b:2] ${'[x '.repeat(150)}`;
  assert.deepEqual(promptSchedule(unclosed, 4), [[4, unclosed]]);
  assert.ok(performance.now() - t0 < 500, `${(performance.now() - t0).toFixed(0)} ms`);
  // 64 levels still parse
  assert.deepEqual(promptSchedule(`${'('.repeat(63)}[a:b:2]${')'.repeat(63)}`, 4).map(([end]) => end), [2, 4]);
});
