// The shipped model through the public API and the native runtime draws what PyTorch draws with the
// same weights, noise and sampler, judged the way issue 4 judges pictures: every held-out prompt × seed
// gets the same colour / shape / position verdicts as train/evaluate.py recorded (train/eval_results.json),
// and every part of the bar (colour ≥ 0.9, shape ≥ 0.7, position ≥ 0.8) that PyTorch's evaluation meets
// holds through the runtime too; so does the whole bar with every sampler at the model's recorded settings.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { StableDiffusion, inspect } from '../../lib/index.js';
import { SAMPLER_NAMES } from '../../lib/options.js';
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
const modelFile = join(root, 'models', 'sd-native-tiny.safetensors');
const model = () => (loaded ??= StableDiffusion.load(modelFile, { threads: 2 }));
after(async () => (await loaded)?.dispose());

for (const sampler of ['euler', 'dpmpp_2m'] as const) {
  const pytorch = evaluation.samplers[sampler]!;
  const barsMet = (['color', 'shape', 'position'] as const).filter((k) => pytorch[k] >= BAR[k]);
  test(`held-out prompts with ${sampler}: the runtime's pictures get PyTorch's verdicts and meet ${barsMet.map((k) => `${k} ≥ ${BAR[k]}`).join(', ') || 'no part of the bar (nor does PyTorch)'}`, async (t) => {
    const want = pytorch.per_image;
    assert.ok(want.length >= 48, `${want.length} reference images`);
    const expected = new Map(spec.prompts.map((p) => [p.prompt, p]));
    const cases = want.map((v) => ({ item: expected.get(v.prompt)!, seed: v.seed }));
    // train/evaluate.py samples over CompVis get_sigmas, our 'normal' (A1111's Automatic is Karras for DPM++ 2M)
    const got = await analyseHeldout(await model(), spec, cases, { steps: evaluation.steps, cfgScale: evaluation.cfg, sampler, scheduler: 'normal' });
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

// Every sampler the pipeline ships, at the settings the model records in its file (and generate() uses by
// default; models/README.md), judged against the prompts' own labels (PyTorch's evaluation covers 5 samplers
// at 20 steps, CFG 6): the whole bar. At 30 steps, CFG 4, LMS (a 4th-order multistep method) gets 57 of 64
// colours right on this small model's rough eps surface; at 40 it gets 64 (docs/experiments/2026-11-28-small-model-runs.md, sessions 14-15).
const recorded = inspect(modelFile).metadata;
const settings = { steps: Number(recorded['sd_native.steps'] ?? 20), cfgScale: Number(recorded['sd_native.cfg_scale'] ?? 7) };
for (const sampler of SAMPLER_NAMES) {
  test(`held-out prompts with ${sampler} at the model's ${settings.steps} steps, CFG ${settings.cfgScale}: colour ≥ ${BAR.color}, shape ≥ ${BAR.shape}, position ≥ ${BAR.position} through the runtime`, async (t) => {
    const cases = heldoutCases(spec, [0, 1]);
    assert.ok(cases.length >= 48, `${cases.length} held-out cases`);
    const acc = accuracy(cases, await analyseHeldout(await model(), spec, cases, { ...settings, sampler }));
    t.diagnostic(`${sampler}, ${settings.steps} steps, CFG ${settings.cfgScale}: colour ${acc.color.toFixed(3)} shape ${acc.shape.toFixed(3)} position ${acc.position.toFixed(3)}`);
    for (const k of ['color', 'shape', 'position'] as const) assert.ok(acc[k] >= BAR[k], `${k} accuracy ${acc[k]} < ${BAR[k]}`);
  });
}
