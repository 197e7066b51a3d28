// The shipped model through the public API and the native runtime draws what PyTorch draws with the
// same weights, noise and sampler, judged the way issue 4 judges pictures: every held-out prompt × seed
// gets the same colour / shape / position verdicts as train/evaluate.py recorded (train/eval_results.json),
// and every part of the bar (colour ≥ 0.9, shape ≥ 0.7, position ≥ 0.8) that PyTorch's evaluation meets
// holds through the runtime too; colour and position with every sampler at 30 steps, CFG 4. The full bar with
// every sampler: npm run bench:semantic.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { StableDiffusion } from '../../lib/index.js';
import { SAMPLER_NAMES } from '../../lib/samplers.js';
import { accuracy, analyseHeldout, heldoutCases } from '../helpers/heldout-run.js';
import type { HeldoutSpec } from '../helpers/shape-score.js';

const root = resolve(import.meta.dirname, '..', '..');
const spec = JSON.parse(readFileSync(join(root, 'train', 'heldout_prompts.json'), 'utf8')) as HeldoutSpec;
interface Verdict { prompt: string; seed: number; color: string | null; shape: string | null; position: string | null }
const evaluation = JSON.parse(readFileSync(join(root, 'train', 'eval_results.json'), 'utf8')) as {
  steps: number; cfg: number;
  samplers: Record<string, { per_image: Verdict[]; color: number; shape: number; position: number }>;
};
const BAR = { color: 0.9, shape: 0.7, position: 0.8 } as const;

let loaded: Promise<StableDiffusion> | undefined;
const model = () => (loaded ??= StableDiffusion.load(join(root, 'models', 'sd-native-tiny.safetensors'), { threads: 2 }));
after(async () => (await loaded)?.dispose());

for (const sampler of ['euler', 'dpmpp_2m'] as const) {
  const pytorch = evaluation.samplers[sampler]!;
  const barsMet = (['color', 'shape', 'position'] as const).filter((k) => pytorch[k] >= BAR[k]);
  test(`held-out prompts with ${sampler}: the runtime's pictures get PyTorch's verdicts and meet ${barsMet.map((k) => `${k} ≥ ${BAR[k]}`).join(', ') || 'no part of the bar (nor does PyTorch)'}`, async (t) => {
    const want = pytorch.per_image;
    assert.ok(want.length >= 48, `${want.length} reference images`);
    const expected = new Map(spec.prompts.map((p) => [p.prompt, p]));
    const cases = want.map((v) => ({ item: expected.get(v.prompt)!, seed: v.seed }));
    const got = await analyseHeldout(await model(), spec, cases, { steps: evaluation.steps, cfgScale: evaluation.cfg, sampler });
    const differ = want.flatMap((ref, k) => (['color', 'shape', 'position'] as const)
      .filter((key) => got[k]![key] !== ref[key])
      .map((key) => `${key} ${ref[key]}→${got[k]![key]} (seed ${ref.seed}: ${ref.prompt})`));
    const acc = accuracy(cases, got);
    t.diagnostic(`${sampler}: colour ${acc.color.toFixed(3)} shape ${acc.shape.toFixed(3)} position ${acc.position.toFixed(3)}; ${differ.length} of ${3 * want.length} verdicts differ from PyTorch`);
    // f16 weights vs PyTorch's f32 upcast move a pixel or two at an object's edge: allow 3% of verdicts to flip
    assert.ok(differ.length <= Math.floor(0.03 * 3 * want.length), differ.join('; '));
    for (const k of barsMet) assert.ok(acc[k] >= BAR[k], `${k} accuracy ${acc[k]} < ${BAR[k]} (PyTorch: ${pytorch[k]})`);
  });
}

// Every sampler the pipeline ships, at the settings this model is documented with (models/README.md: 30 steps,
// CFG 4), judged against the prompts' own labels (PyTorch's evaluation covers 5 samplers at 20 steps, CFG 6).
// Colour and position are asserted; shape is reported (the model does not meet that part of the bar yet).
// At 20 steps LMS, a 4th-order multistep method, overshoots on this small model's rough eps surface
// (position 0.75), and at CFG 6 five samplers sit at colour 0.81-0.89 (train/run_notes.md, session 6).
for (const sampler of SAMPLER_NAMES) {
  test(`held-out prompts with ${sampler} at 30 steps, CFG 4: colour ≥ ${BAR.color}, position ≥ ${BAR.position} through the runtime`, async (t) => {
    const cases = heldoutCases(spec, [0, 1]);
    assert.ok(cases.length >= 48, `${cases.length} held-out cases`);
    const acc = accuracy(cases, await analyseHeldout(await model(), spec, cases, { steps: 30, cfgScale: 4, sampler }));
    t.diagnostic(`${sampler}, 30 steps, CFG 4: colour ${acc.color.toFixed(3)} shape ${acc.shape.toFixed(3)} position ${acc.position.toFixed(3)}`);
    assert.ok(acc.color >= BAR.color, `colour accuracy ${acc.color} < ${BAR.color}`);
    assert.ok(acc.position >= BAR.position, `position accuracy ${acc.position} < ${BAR.position}`);
  });
}
