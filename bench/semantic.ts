// npm run bench:semantic — does the shipped model draw what the prompt asks for, through the public
// API and the native runtime? Held-out prompts (their colour+shape+position never appear together in
// training) × seeds, every sampler the pipeline ships, scored as train/eval_spec.md says
// (test/helpers/shape-score.ts, pinned to the Python scorer by test/js/scorer.test.ts).
// Issue 4's bar: colour ≥ 0.9, shape ≥ 0.7, position ≥ 0.8 with every sampler; once the model
// meets it this becomes a test. Last line: one JSON object.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { StableDiffusion } from '../lib/index.js';
import { SAMPLER_NAMES } from '../lib/options.js';
import { accuracy, analyseHeldout, heldoutCases } from '../test/helpers/heldout-run.js';
import type { HeldoutSpec } from '../test/helpers/shape-score.js';

const root = resolve(import.meta.dirname, '..');
const spec = JSON.parse(readFileSync(join(root, 'train', 'heldout_prompts.json'), 'utf8')) as HeldoutSpec;
const model = process.env.SD_NATIVE_MODEL ?? join(root, 'models', 'sd-native-tiny.safetensors');
const seeds = (process.env.SD_NATIVE_SEEDS ?? '0,1').split(',').map(Number);
const samplers = process.env.SD_NATIVE_SAMPLERS ? process.env.SD_NATIVE_SAMPLERS.split(',') : [...SAMPLER_NAMES];
const steps = Number(process.env.SD_NATIVE_STEPS ?? 20);
const cfgScale = Number(process.env.SD_NATIVE_CFG ?? 6);
const BAR = { color: 0.9, shape: 0.7, position: 0.8 };

const sd = await StableDiffusion.load(model, { threads: Number(process.env.SD_NATIVE_THREADS ?? 2) });
const cases = heldoutCases(spec, seeds);
const results: Record<string, { color: number; shape: number; position: number; images: number; seconds: number }> = {};
console.log(`${model}: ${spec.prompts.length} held-out prompts × seeds ${seeds.join(',')}, ${steps} steps, CFG ${cfgScale}, rng cpu`);
console.log('sampler              colour  shape  position  images  seconds');
for (const sampler of samplers) {
  const t0 = performance.now();
  const acc = accuracy(cases, await analyseHeldout(sd, spec, cases, { steps, cfgScale, sampler }));
  const n = cases.length;
  const r = { ...acc, images: n, seconds: (performance.now() - t0) / 1000 };
  results[sampler] = r;
  console.log(`${sampler.padEnd(20)} ${r.color.toFixed(3)}  ${r.shape.toFixed(3)}  ${r.position.toFixed(3)}     ${n}      ${r.seconds.toFixed(1)}`);
}
sd.dispose();
const meets = Object.values(results).every((r) => r.color >= BAR.color && r.shape >= BAR.shape && r.position >= BAR.position);
console.log(`bar (colour ${BAR.color}, shape ${BAR.shape}, position ${BAR.position}) with every sampler: ${meets ? 'met' : 'NOT met'}`);
console.log(JSON.stringify({ bench: 'semantic', date: new Date().toISOString(), model, seeds, meets, results }));
