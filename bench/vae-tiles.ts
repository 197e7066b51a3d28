// VAE decode of one latent, whole vs tiled, each in its own process (so peak RSS is its own):
//   node --import tsx bench/vae-tiles.ts --model /tmp/sd15-random.safetensors --size 1024 --tiles 64,8 --tiles 64,16
// Prints seconds, tiles, peak RSS (VmHWM) and RSS before the decode for each run, and each tiled
// image's PSNR against the whole-image decode; last line is JSON.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { native } from '../lib/binding.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    size: { type: 'string', default: '1024' },
    threads: { type: 'string', default: '0' },
    tiles: { type: 'string', multiple: true, default: ['64,8'] },
    child: { type: 'string' }, // internal: "whole" or a tile spec
    out: { type: 'string' },
  },
});
if (!values.model) throw new Error('--model <checkpoint.safetensors> is required');

function rssKiB(field: 'VmHWM' | 'VmRSS'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync('/proc/self/status', 'utf8'));
  return Number(m![1]);
}

// A fixed latent: N(0, 1) from a 32-bit LCG through Box-Muller (the scaled latent space has unit variance).
function latent(n: number): Float32Array {
  let s = 12345;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return out;
}

if (values.child) {
  const model = await native.loadModel(values.model, { threads: Number(values.threads), compute: 'f32', prediction: '', vae: '', loraCacheMB: 0, vaeMemoryMB: 3072, taesd: '', device: 'cpu' });
  const f = model.info().vaeDownscale, h = Number(values.size) / f;
  const z = latent(4 * h * h);
  const before = rssKiB('VmRSS');
  const r = await model.decodeLatent(z, 1, h, h, values.child === 'whole' ? 'false' : 'true');
  writeFileSync(values.out!, r.images[0]!);
  console.log(JSON.stringify({ seconds: r.seconds, tiles: r.tiles, peakRssMB: rssKiB('VmHWM') / 1024, rssBeforeMB: before / 1024 }));
  model.dispose();
} else {
  const runs: Record<string, unknown>[] = [];
  let whole: Buffer | undefined;
  for (const spec of ['whole', ...values.tiles!]) {
    const out = join(tmpdir(), `vae-tiles-${spec.replace(',', '-')}.rgba`);
    const env = { ...process.env, SD_NATIVE_VAE_TILE: spec === 'whole' ? '' : spec };
    const args = ['--import', 'tsx', 'bench/vae-tiles.ts', '--model', values.model, '--size', values.size!, '--threads', values.threads!, '--child', spec, '--out', out];
    const p = spawnSync(process.execPath, args, { env, encoding: 'utf8' });
    if (p.status !== 0) throw new Error(`${spec}: ${p.stderr}`);
    const r = JSON.parse(p.stdout.trim().split('\n').pop()!) as Record<string, number>;
    const img = readFileSync(out);
    let psnr: number | undefined;
    if (spec === 'whole') whole = img;
    else {
      let se = 0, n = 0;
      for (let i = 0; i < img.length; i++) if (i % 4 !== 3) (se += (img[i]! - whole![i]!) ** 2), n++;
      psnr = se === 0 ? Infinity : 10 * Math.log10((255 * 255) / (se / n));
    }
    console.log(`${spec}: ${r.seconds!.toFixed(1)} s, ${r.tiles} tiles, peak RSS ${r.peakRssMB!.toFixed(0)} MB (before decode ${r.rssBeforeMB!.toFixed(0)} MB)` +
      (psnr !== undefined ? `, PSNR vs whole ${psnr.toFixed(2)} dB` : ''));
    runs.push({ spec, ...r, ...(psnr !== undefined ? { psnr } : {}) });
  }
  console.log(JSON.stringify({ bench: 'vae-tiles', size: Number(values.size), runs }));
}
