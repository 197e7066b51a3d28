// The sd-native side of the bench, in its own process so that its peak RSS is measured the same
// way as any other runtime's and the harness's memory stays out of it. argv[2]: a ChildJob as JSON.
// Prints one JSON line of phase timings and writes the first image to job.output.
import { writeFileSync } from 'node:fs';

import { StableDiffusion } from '../pipeline.js';

export interface ChildJob {
  model: string;
  prompt: string;
  negativePrompt: string;
  seed: number;
  width: number;
  height: number;
  steps: number;
  sampler: string;
  scheduler: string;
  cfgScale: number;
  batchSize: number;
  dtype: 'f32' | 'bf16';
  threads: number;
  output: string;
}

async function main(job: ChildJob): Promise<void> {
  const t0 = performance.now();
  const sd = await StableDiffusion.load(job.model, { threads: job.threads, dtype: job.dtype });
  const loadSeconds = (performance.now() - t0) / 1000;
  const stepSeconds: number[] = [];
  let last = 0;
  const images = await sd.generate({
    prompt: job.prompt, negativePrompt: job.negativePrompt, seed: job.seed, width: job.width, height: job.height,
    steps: job.steps, sampler: job.sampler, scheduler: job.scheduler, cfgScale: job.cfgScale, batchSize: job.batchSize,
    rng: 'cuda', preview: false,
    onStep: (e) => {
      stepSeconds.push((e.elapsedMs - last) / 1000);
      last = e.elapsedMs;
    },
  });
  sd.dispose();
  writeFileSync(job.output, images[0]!.toPNG());
  const s = images[0]!.stats!;
  console.log(JSON.stringify({ loadSeconds, textSeconds: s.textSeconds, samplingSeconds: s.samplingSeconds, decodeSeconds: s.decodeSeconds, stepSeconds }));
}

main(JSON.parse(process.argv[2]!) as ChildJob).catch((e: unknown) => {
  console.error(`sd-native: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
});
