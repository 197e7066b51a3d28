// The everyday workflows at full size, each in its own process (so peak RSS is its own): a 512²
// inpaint (whole picture and only masked), and a 512 → 1024 hires fix (latent and Lanczos).
//   node --import tsx bench/workflows.ts --model /tmp/sd15-random.safetensors [--steps 2] [--only inpaint,hires_latent]
// (bench/make-random-checkpoint --arch sd1 -o /tmp/sd15-random.safetensors makes the model.)
// Prints seconds, text/sampling/decode split and peak RSS (VmHWM) per run; last line is JSON.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { StableDiffusion, type GenerateOptions } from '../lib/index.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    steps: { type: 'string', default: '2' },
    threads: { type: 'string', default: '0' },
    only: { type: 'string' },
    child: { type: 'string' },
  },
});
if (!values.model) throw new Error('--model <checkpoint.safetensors> is required');
const steps = Number(values.steps);

function image(size: number): { data: Uint8Array; width: number; height: number; channels: 3 } {
  const data = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) for (let c = 0; c < 3; c++) data[(y * size + x) * 3 + c] = (x * (c + 1) + y * 3) & 255;
  return { data, width: size, height: size, channels: 3 };
}
function disk(size: number, cx: number, cy: number, r: number): { data: Uint8Array; width: number; height: number; channels: 1 } {
  const data = new Uint8Array(size * size);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) data[y * size + x] = (x - cx) ** 2 + (y - cy) ** 2 < r * r ? 255 : 0;
  return { data, width: size, height: size, channels: 1 };
}

const RUNS: Record<string, () => GenerateOptions> = {
  inpaint_whole: () => ({ prompt: 'a red door', steps, seed: 1, initImage: image(512), mask: disk(512, 256, 256, 100), strength: 0.75 }),
  inpaint_masked: () => ({ prompt: 'a red door', steps, seed: 1, initImage: image(512), mask: disk(512, 256, 256, 100), inpaintArea: 'masked', inpaintPadding: 32 }),
  hires_latent: () => ({ prompt: 'a lighthouse', steps, seed: 1, width: 512, height: 512, hires: true, hiresScale: 2, hiresSteps: steps }),
  hires_lanczos: () => ({ prompt: 'a lighthouse', steps, seed: 1, width: 512, height: 512, hires: true, hiresScale: 2, hiresSteps: steps, hiresUpscaler: 'lanczos' }),
};

if (values.child) {
  const sd = await StableDiffusion.load(values.model, { threads: Number(values.threads) });
  const t0 = performance.now();
  const [img] = await sd.generate(RUNS[values.child]!());
  const seconds = (performance.now() - t0) / 1000;
  const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) / 1024;
  const s = img!.stats;
  process.stdout.write(JSON.stringify({ run: values.child, size: `${img!.width}x${img!.height}`, seconds: +seconds.toFixed(1), text: +s.textSeconds.toFixed(1),
    sampling: +s.samplingSeconds.toFixed(1), decode: +s.decodeSeconds.toFixed(1), peakRssMB: Math.round(hwm), decodeTiles: s.decodeTiles }) + '\n');
  sd.dispose();
} else {
  const names = values.only ? values.only.split(',') : Object.keys(RUNS);
  const results = [];
  for (const name of names) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', import.meta.filename, '--model', values.model, '--steps', values.steps!, '--threads', values.threads!, '--child', name],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    if (r.status !== 0) throw new Error(`${name} failed (${r.status})`);
    const line = JSON.parse(r.stdout.trim().split('\n').pop()!);
    console.log(`${name}: ${line.size} in ${line.seconds} s (text ${line.text}, sampling ${line.sampling}, decode ${line.decode}), peak RSS ${line.peakRssMB} MB`);
    results.push(line);
  }
  console.log(JSON.stringify({ steps, results }));
}
