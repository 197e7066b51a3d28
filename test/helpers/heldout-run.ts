// Draws held-out (prompt, seed) cases through the public API and analyses each picture with the scorer:
// the one loop behind test/e2e/semantic.test.ts and bench/semantic.ts.
import type { StableDiffusion } from '../../lib/index.js';
import { analyse, type Analysis, type HeldoutItem, type HeldoutSpec } from './shape-score.js';

export interface HeldoutCase { item: HeldoutItem; seed: number }
export type Accuracy = Record<'color' | 'shape' | 'position', number>;

export function heldoutCases(spec: HeldoutSpec, seeds: number[]): HeldoutCase[] {
  return seeds.flatMap((seed) => spec.prompts.map((item) => ({ item, seed })));
}

/** Analyses in the order of `cases`; generateBatch takes 16 at a time. */
export async function analyseHeldout(sd: StableDiffusion, spec: HeldoutSpec, cases: HeldoutCase[],
  options: { steps: number; cfgScale: number; sampler: string; scheduler?: string }): Promise<Analysis[]> {
  const out: Analysis[] = [];
  for (let i = 0; i < cases.length; i += 16) {
    const chunk = cases.slice(i, i + 16);
    const images = await sd.generateBatch(chunk.map(({ item, seed }) => ({ prompt: item.prompt, negativePrompt: '', seed })), {
      width: 64, height: 64, rng: 'cpu', ...options,
    });
    for (const img of images) out.push(analyse(img.data, img.width, img.height, spec));
  }
  return out;
}

/** Fraction of cases whose analysis agrees with the prompt's own colour / shape / position. */
export function accuracy(cases: HeldoutCase[], analyses: Analysis[]): Accuracy {
  const right: Accuracy = { color: 0, shape: 0, position: 0 };
  analyses.forEach((a, k) => {
    for (const key of ['color', 'shape', 'position'] as const) if (a[key] === cases[k]!.item[key]) right[key]++;
  });
  return { color: right.color / cases.length, shape: right.shape / cases.length, position: right.position / cases.length };
}
