// End-to-end speed on a full-size checkpoint (see bench/make-random-checkpoint):
//   node --import tsx bench/full-size.ts --model /tmp/sd15-random.safetensors --size 512 --steps 2 --compute bf16
// Prints seconds per CFG step, text encoding, VAE decode and peak RSS; last line is JSON.
import { parseArgs } from 'node:util';
import { native } from '../lib/binding.js';
import { ClipTokenizer } from '../lib/tokenizer/index.js';

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

interface Handle {
  info(): { family: string; padToken: number; backend: string };
  generate(p: object, onStep?: (e: { step: number; elapsedMs: number }) => void): Promise<{
    secondsText: number; secondsSampling: number; secondsDecode: number; peakActivationBytes: number; cancelled: boolean;
  }>;
  dispose(): void;
}

const size = Number(values.size);
const steps = Number(values.steps);
const t0 = performance.now();
const handle = (await (native.loadModel as (p: string, o: object) => Promise<Handle>)(values.model, {
  threads: Number(values.threads),
  compute: values.compute,
})) as Handle;
const loadSeconds = (performance.now() - t0) / 1000;
const info = handle.info();
const tok = ClipTokenizer.load();
const encode = (text: string) => {
  const { chunks } = tok.tokenizeWeighted(text, { padId: info.padToken });
  const ids = new Int32Array(chunks.length * 77);
  const weights = new Float32Array(chunks.length * 77);
  chunks.forEach((c, i) => { ids.set(c.ids, i * 77); weights.set(c.weights, i * 77); });
  return { ids, weights, eot: Int32Array.from(chunks.map((c) => c.eotIndex)) };
};
const stepTimes: number[] = [];
let last = 0;
const r = await handle.generate(
  {
    cond: encode('a photograph of an astronaut riding a horse'),
    uncond: encode(''),
    width: size, height: size, steps, batch: 1, cfgScale: 7, seed: 42, sampler: values.sampler, scheduler: '', rng: 'cpu', preview: false,
  },
  (e) => { stepTimes.push((e.elapsedMs - last) / 1000); last = e.elapsedMs; },
);
handle.dispose();
const peakRssMB = process.resourceUsage().maxRSS / 1024;
const perStep = r.secondsSampling / steps;
console.log(`model ${values.model} (${info.family}), ${info.backend}, ${size}x${size}, ${steps} steps, CFG batch of 2`);
console.log(`load ${loadSeconds.toFixed(2)} s, text ${r.secondsText.toFixed(2)} s, sampling ${r.secondsSampling.toFixed(1)} s = ${perStep.toFixed(2)} s per CFG step (steps: ${stepTimes.map((s) => s.toFixed(1)).join(', ')}), VAE decode ${r.secondsDecode.toFixed(1)} s`);
console.log(`peak RSS ${peakRssMB.toFixed(0)} MB, peak UNet activations ${(r.peakActivationBytes / 2 ** 20).toFixed(0)} MiB`);
console.log(JSON.stringify({ bench: 'full-size', family: info.family, backend: info.backend, size, steps, secondsPerStep: perStep, stepSeconds: stepTimes, secondsText: r.secondsText, secondsDecode: r.secondsDecode, peakRssMB, peakActivationMiB: r.peakActivationBytes / 2 ** 20, loadSeconds }));
