// What a LoRA set costs on a full-size checkpoint (see bench/make-random-checkpoint): time to merge
// a set, to switch sets, a request with the set already merged against a plain one, and the memory
// the merged copies take. The two LoRAs are random, rank 8, over every attention projection of the
// UNet (attn1/attn2 to_q, to_k, to_v, to_out) and of the text encoder (q, k, v, out).
//
//   node --import tsx bench/lora.ts --model /tmp/sd15-random.safetensors --size 256 --steps 2
//
// Last line is JSON.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { native } from '../lib/binding.js';
import { StableDiffusion } from '../lib/index.js';
import { writeSafetensors, type StTensor } from '../test/helpers/safetensors.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    size: { type: 'string', default: '256' },
    steps: { type: 'string', default: '2' },
    rank: { type: 'string', default: '8' },
    threads: { type: 'string', default: '0' },
  },
});
if (!values.model) throw new Error('--model <checkpoint.safetensors> is required');
const size = Number(values.size), steps = Number(values.steps), rank = Number(values.rank);

function randomLora(path: string, seed: number): number {
  const targets = native.inspectSafetensors(values.model!).tensors.map((t) => [t.name, t] as const).filter(([k]) =>
    /^model\.diffusion_model\..*\.attn[12]\.(to_q|to_k|to_v|to_out\.0)\.weight$/.test(k) ||
    /^cond_stage_model\.transformer\.text_model\.encoder\.layers\.\d+\.self_attn\.(q|k|v|out)_proj\.weight$/.test(k));
  let s = seed >>> 0;
  const rand = (n: number, scale: number) => {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      s ^= s << 13, s >>>= 0, s ^= s >>> 17, s ^= s << 5, s >>>= 0;
      out[i] = (s / 4294967296 - 0.5) * scale;
    }
    return Buffer.from(out.buffer);
  };
  const tensors: Array<[string, StTensor]> = [];
  for (const [key, { shape }] of targets) {
    const [out, inp] = shape as [number, number];
    const stem = key.startsWith('model.diffusion_model.')
      ? 'lora_unet_' + key.slice(22, -7).replaceAll('.', '_')
      : 'lora_te_' + key.slice(29, -7).replaceAll('.', '_');
    tensors.push([`${stem}.lora_down.weight`, { dtype: 'F32', shape: [rank, inp], data: rand(rank * inp, 2 / Math.sqrt(inp)) }]);
    tensors.push([`${stem}.lora_up.weight`, { dtype: 'F32', shape: [out, rank], data: rand(out * rank, 0.02) }]);
    tensors.push([`${stem}.alpha`, { dtype: 'F32', shape: [], data: Buffer.from(new Float32Array([rank]).buffer) }]);
  }
  writeSafetensors(path, tensors, { ss_network_dim: String(rank), ss_network_alpha: String(rank) });
  return targets.length;
}

const dir = mkdtempSync(join(tmpdir(), 'sd-lora-bench-'));
const a = join(dir, 'a.safetensors'), b = join(dir, 'b.safetensors');
const modules = randomLora(a, 1);
randomLora(b, 2);
const loraBytes = readFileSync(a).length;

const sd = await StableDiffusion.load(values.model, { threads: Number(values.threads) });
const rssMB = () => process.memoryUsage().rss / 2 ** 20;
const request = async (loras: Array<{ path: string; weight: number }>) => {
  const t0 = performance.now();
  const [img] = await sd.generate({ prompt: 'a lighthouse at dusk', width: size, height: size, steps, seed: 1, sampler: 'euler', preview: false, loras });
  return { seconds: (performance.now() - t0) / 1000, stats: img!.stats };
};

await request([]); // warm: pages of the checkpoint, planned graphs
const plain1 = await request([]);
const rssBase = rssMB();
const first = await request([{ path: a, weight: 0.8 }]);
const rssWithA = rssMB();
const cachedA = await request([{ path: a, weight: 0.8 }]);
const switchB = await request([{ path: b, weight: 0.8 }]);
const backA = await request([{ path: a, weight: 0.8 }]);
const cachedA2 = await request([{ path: a, weight: 0.8 }]);
const plain2 = await request([]);
sd.dispose();

const plain = Math.min(plain1.seconds, plain2.seconds), cached = Math.min(cachedA.seconds, cachedA2.seconds);
const result = {
  bench: 'lora', size, steps, rank, modules, loraFileMB: loraBytes / 2 ** 20,
  mergeSeconds: first.stats.loras!.mergeSeconds, switchSeconds: switchB.stats.loras!.mergeSeconds,
  backFromCacheSeconds: backA.stats.loras!.mergeSeconds, mergedMB: first.stats.loras!.mergedBytes / 2 ** 20,
  requestSeconds: { plain, firstWithSet: first.seconds, cachedSet: cached },
  cachedOverPlain: cached / plain - 1,
  samplingSecondsPerStep: {
    plain: Math.min(plain1.stats.samplingSeconds, plain2.stats.samplingSeconds) / steps,
    withSet: Math.min(cachedA.stats.samplingSeconds, cachedA2.stats.samplingSeconds) / steps,
  },
  rssMB: { base: rssBase, withSet: rssWithA },
};
console.log(`${modules} modules, rank ${rank}, ${result.loraFileMB.toFixed(1)} MB file (f32)`);
console.log(`merge ${result.mergeSeconds.toFixed(2)} s, switch to another set ${result.switchSeconds.toFixed(2)} s, back to a cached set ${result.backFromCacheSeconds.toFixed(3)} s`);
console.log(`request ${size}² × ${steps} steps: plain ${plain.toFixed(2)} s, first with the set ${first.seconds.toFixed(2)} s, set already merged ${cached.toFixed(2)} s (${(100 * result.cachedOverPlain).toFixed(1)} % over plain)`);
console.log(`sampling per step: plain ${result.samplingSecondsPerStep.plain.toFixed(2)} s, with the set ${result.samplingSecondsPerStep.withSet.toFixed(2)} s; RSS ${rssBase.toFixed(0)} → ${rssWithA.toFixed(0)} MB (merged copies ${result.mergedMB.toFixed(0)} MiB)`);
console.log(JSON.stringify(result));
