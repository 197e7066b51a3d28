// End-to-end speed on a full-size checkpoint (see bench/make-random-checkpoint):
//   node --import tsx bench/full-size.ts --model /tmp/sd15-random.safetensors --size 512 --steps 2 --compute bf16
// Prints seconds per CFG step, text encoding, VAE decode and peak RSS; last line is JSON.
import { parseArgs } from 'node:util';
import { StableDiffusion } from '../lib/index.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    size: { type: 'string', default: '512' },
    steps: { type: 'string', default: '2' },
    compute: { type: 'string', default: 'f32' },
    threads: { type: 'string', default: '0' },
    sampler: { type: 'string', default: 'euler' },
  },
});
if (!values.model) throw new Error('--model <checkpoint.safetensors> is required');
if (values.compute !== 'f32' && values.compute !== 'bf16') throw new Error('--compute is f32 or bf16');

const size = Number(values.size);
const steps = Number(values.steps);
const t0 = performance.now();
const sd = await StableDiffusion.load(values.model, { threads: Number(values.threads), dtype: values.compute });
const loadSeconds = (performance.now() - t0) / 1000;
const info = sd.info;
const stepTimes: number[] = [];
let last = 0;
const [image] = await sd.generate({
  prompt: 'a photograph of an astronaut riding a horse', width: size, height: size, steps, cfgScale: 7, seed: 42,
  sampler: values.sampler, preview: false,
  onStep: (e) => { stepTimes.push((e.elapsedMs - last) / 1000); last = e.elapsedMs; },
});
sd.dispose();
const stats = image!.stats!;
const r = { secondsText: stats.textSeconds, secondsSampling: stats.samplingSeconds, secondsDecode: stats.decodeSeconds, peakActivationBytes: stats.peakActivationBytes };
const peakRssMB = process.resourceUsage().maxRSS / 1024;
const perStep = r.secondsSampling / steps;
console.log(`model ${values.model} (${info.family}), ${info.backend}, ${size}x${size}, ${steps} steps, CFG batch of 2`);
console.log(`load ${loadSeconds.toFixed(2)} s, text ${r.secondsText.toFixed(2)} s, sampling ${r.secondsSampling.toFixed(1)} s = ${perStep.toFixed(2)} s per CFG step (steps: ${stepTimes.map((s) => s.toFixed(1)).join(', ')}), VAE decode ${r.secondsDecode.toFixed(1)} s`);
console.log(`peak RSS ${peakRssMB.toFixed(0)} MB, peak UNet activations ${(r.peakActivationBytes / 2 ** 20).toFixed(0)} MiB`);
console.log(JSON.stringify({ bench: 'full-size', family: info.family, backend: info.backend, size, steps, secondsPerStep: perStep, stepSeconds: stepTimes, secondsText: r.secondsText, secondsDecode: r.secondsDecode, peakRssMB, peakActivationMiB: r.peakActivationBytes / 2 ** 20, loadSeconds }));
