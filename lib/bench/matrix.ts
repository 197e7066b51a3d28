// The bench matrix: every combination of model × size × sampler × steps × batch × dtype, each run
// once per runtime with the same prompt, seed, CFG and schedule.

export type Dtype = 'f32' | 'bf16';

/** What every runtime is asked to do in one cell. */
export interface Cell {
  model: string;
  width: number;
  height: number;
  sampler: string;
  steps: number;
  batch: number;
  dtype: Dtype;
}

/** Settings shared by every cell. */
export interface Common {
  prompt: string;
  negativePrompt: string;
  seed: number;
  cfgScale: number;
  scheduler: string;
  threads: number;
}

export interface Axes {
  models: string[];
  sizes: Array<[width: number, height: number]>;
  samplers: string[];
  steps: number[];
  batches: number[];
  dtypes: Dtype[];
}

export function cells(axes: Axes): Cell[] {
  const out: Cell[] = [];
  for (const model of axes.models)
    for (const [width, height] of axes.sizes)
      for (const sampler of axes.samplers)
        for (const steps of axes.steps)
          for (const batch of axes.batches)
            for (const dtype of axes.dtypes) out.push({ model, width, height, sampler, steps, batch, dtype });
  return out;
}

/** "512" or "768x512" (width x height) */
export function parseSize(text: string): [number, number] {
  const m = /^\s*(\d+)\s*(?:[x×]\s*(\d+))?\s*$/.exec(text);
  if (!m) throw new Error(`size must be N or WIDTHxHEIGHT, got ${JSON.stringify(text)}`);
  return [Number(m[1]), Number(m[2] ?? m[1])];
}

/** A short name for files and chart labels: "512x512-euler-3s-b1-f32" (+ the model's file name when several). */
export function cellLabel(cell: Cell, withModel: boolean): string {
  const base = cell.model.split(/[\\/]/).pop()!.replace(/\.safetensors$/, '');
  const parts = [`${cell.width}x${cell.height}`, cell.sampler, `${cell.steps}steps`, `b${cell.batch}`, cell.dtype];
  return (withModel ? [base, ...parts] : parts).join('-').replace(/[^A-Za-z0-9._+-]/g, '_');
}
