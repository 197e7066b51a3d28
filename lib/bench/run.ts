// bench(): runs the matrix on every runtime, compares images, writes the images and the chart into
// `out`, and returns the report (the CLI prints it as a table and a JSON line).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join, resolve } from 'node:path';

import { requireDefaultModel } from '../default-model.js';
import { SdError } from '../errors.js';
import { resolveSampler, resolveScheduler } from '../options.js';
import { decodePng } from '../png.js';
import { cellLabel, cells, type Cell, type Common, type Dtype } from './matrix.js';
import { measure } from './measure.js';
import { psnr } from './psnr.js';
import { NATIVE_SIZE, RANDOM_ARCHS, randomCheckpoint, type RandomArch } from './random.js';
import type { BenchReport, RunResult, Skipped } from './result.js';
import { adapter, findSdcpp, sdcpp, sdNative, type Runtime, type Timings } from './runtimes.js';
import { chartSvg } from './chart.js';

export interface BenchOptions {
  /** checkpoints; default: the shipped small model, unless `random` is given */
  models?: string[];
  /** full-size random checkpoints, made once and cached */
  random?: RandomArch[];
  /** square N or [width, height]; default: 512, or the random architecture's native size */
  sizes?: Array<number | [number, number]>;
  samplers?: string[];
  steps?: number[];
  batches?: number[];
  /** sd-native's compute dtype (other runtimes use the checkpoint's own; adapters get {dtype}) */
  dtypes?: Dtype[];
  prompt?: string;
  negativePrompt?: string;
  seed?: number;
  cfgScale?: number;
  scheduler?: string;
  /** threads for every runtime; default: the available cores */
  threads?: number;
  /** stable-diffusion.cpp's sd-cli (or a folder holding it) */
  sdcpp?: string;
  /** other runtimes: NAME=COMMAND-TEMPLATE with {model} {prompt} {negative} {seed} {width} {height} {size} {steps} {sampler} {scheduler} {cfg} {output} {batch} {dtype} {threads} */
  runtimes?: string[];
  /** where images and bench.svg go; default: the current directory */
  out?: string;
  /** progress and skip lines */
  log?: (line: string) => void;
}

const invalid = (msg: string) => new SdError(msg, 'ERR_SD_INVALID_OPTION');

function positiveInts(name: string, list: number[]): number[] {
  for (const v of list) if (!Number.isInteger(v) || v < 1) throw invalid(`${name} must be positive integers, got ${v}`);
  return list;
}

function modelList(o: BenchOptions, log: (l: string) => void): Array<{ path: string; size: number }> {
  const out: Array<{ path: string; size: number }> = [];
  for (const arch of o.random ?? []) {
    if (!RANDOM_ARCHS.includes(arch)) throw invalid(`random must be one of ${RANDOM_ARCHS.join(', ')}, got ${JSON.stringify(arch)}`);
    out.push({ path: randomCheckpoint(arch, log), size: NATIVE_SIZE[arch] });
  }
  for (const m of o.models ?? []) out.push({ path: resolve(m), size: 512 });
  if (out.length === 0) out.push({ path: requireDefaultModel(), size: 64 });
  return out;
}

function secondsPerStep(t: Timings, m: { wallSeconds: number }, steps: number): number | null {
  if (t.source === 'wall') return m.wallSeconds / steps;
  if (t.samplingSeconds !== undefined) return t.samplingSeconds / steps;
  // a progress bar only: its first entry has no start mark when it reads 0
  const s = t.stepSeconds.filter((v, i) => i > 0 || v > 0);
  return s.length ? s.reduce((a, b) => a + b, 0) / s.length : null;
}

const slug = (s: string) => s.replace(/[^A-Za-z0-9._+-]/g, '_');

export async function bench(options: BenchOptions = {}): Promise<BenchReport> {
  const log = options.log ?? (() => {});
  const out = resolve(options.out ?? process.cwd());
  const threads = options.threads ?? availableParallelism();
  if (!Number.isInteger(threads) || threads < 1) throw invalid(`threads must be a positive integer, got ${threads}`);
  const samplers = (options.samplers ?? ['euler']).map((s) => {
    try {
      return resolveSampler(s);
    } catch (e) {
      throw invalid((e as Error).message);
    }
  });
  let scheduler: string;
  try {
    scheduler = resolveScheduler(options.scheduler ?? 'normal', samplers[0]);
  } catch (e) {
    throw invalid((e as Error).message);
  }
  const common: Common = {
    prompt: options.prompt ?? 'a photograph of an astronaut riding a horse',
    negativePrompt: options.negativePrompt ?? '',
    seed: options.seed ?? 42,
    cfgScale: options.cfgScale ?? 7,
    scheduler,
    threads,
  };
  const dtypes = options.dtypes ?? ['f32'];
  for (const d of dtypes) if (d !== 'f32' && d !== 'bf16') throw invalid(`dtype is f32 or bf16, got ${JSON.stringify(d)}`);
  const steps = positiveInts('steps', options.steps ?? [4]);
  const batches = positiveInts('batch', options.batches ?? [1]);
  const sizes = options.sizes?.map((s): [number, number] => (typeof s === 'number' ? [s, s] : s));
  for (const [w, h] of sizes ?? []) positiveInts('size', [w, h]);

  const skipped: Skipped[] = [];
  const skip = (s: Skipped) => {
    skipped.push(s);
    log(`skipped ${s.name}${s.cell ? ` (${s.cell})` : ''}: ${s.reason}`);
  };
  const runtimes: Runtime[] = [sdNative];
  if (options.sdcpp !== undefined) {
    const found = findSdcpp(options.sdcpp);
    if (typeof found === 'string') runtimes.push(sdcpp(found));
    else skip({ name: 'stable-diffusion.cpp', reason: found.skip });
  }
  for (const spec of options.runtimes ?? []) {
    try {
      runtimes.push(adapter(spec));
    } catch (e) {
      throw invalid((e as Error).message);
    }
  }

  mkdirSync(out, { recursive: true });
  const models = modelList(options, log);
  const matrix: Cell[] = models.flatMap((m) =>
    cells({ models: [m.path], sizes: sizes ?? [[m.size, m.size]], samplers, steps, batches, dtypes }));
  const results: RunResult[] = [];
  for (const cell of matrix) {
    const label = cellLabel(cell, models.length > 1);
    let reference: ReturnType<typeof decodePng> | undefined;
    for (const rt of runtimes) {
      const output = join(out, `${label}-${slug(rt.name)}.png`);
      const argv = rt.command(cell, common, output);
      if (!Array.isArray(argv)) {
        skip({ name: rt.name, cell: label, reason: argv.skip });
        continue;
      }
      log(`running ${rt.name}: ${label}`);
      let m;
      try {
        m = await measure(argv);
      } catch (e) {
        skip({ name: rt.name, cell: label, reason: `could not start ${argv[0]}: ${(e as Error).message}` });
        continue;
      }
      const tail = m.output.trim().split('\n').slice(-1)[0]?.slice(0, 300) ?? '';
      if (m.code !== 0) {
        skip({ name: rt.name, cell: label, reason: `exit ${m.code ?? m.signal}: ${tail}` });
        continue;
      }
      const image = rt.image(output);
      if (!image) {
        skip({ name: rt.name, cell: label, reason: `wrote no image at ${output}` });
        continue;
      }
      let t: Timings;
      try {
        t = rt.timings(m);
      } catch (e) {
        skip({ name: rt.name, cell: label, reason: `unreadable timings (${(e as Error).message}): ${tail}` });
        continue;
      }
      const r: RunResult = {
        name: rt.name,
        secondsPerStep: secondsPerStep(t, m, cell.steps),
        vaeDecodeSeconds: t.decodeSeconds ?? null,
        peakRssBytes: m.peakRssBytes ?? null,
        loadSeconds: t.loadSeconds ?? null,
        textSeconds: t.textSeconds ?? null,
        wallSeconds: m.wallSeconds,
        timing: t.source,
        stepSeconds: t.stepSeconds,
        ...cell,
        cell: label,
        image,
      };
      const decoded = decodePng(readFileSync(image), image);
      if (rt === sdNative) reference = decoded;
      else if (reference && reference.width === decoded.width && reference.height === decoded.height) {
        const db = psnr(reference, decoded);
        r.psnr = Number.isFinite(db) ? db : null;
        if (!Number.isFinite(db)) r.identical = true;
      } else {
        r.psnr = null;
        log(`${rt.name} (${label}): no PSNR, ${reference ? `image is ${decoded.width}x${decoded.height}` : 'no sd-native image to compare with'}`);
      }
      results.push(r);
    }
  }
  const cpu = cpus()[0];
  const report: BenchReport = {
    runtimes: results,
    skipped,
    settings: { ...common, rng: 'cuda' },
    machine: { platform: process.platform, arch: process.arch, cpus: availableParallelism(), cpuModel: cpu?.model ?? 'unknown' },
    chart: join(out, 'bench.svg'),
  };
  writeFileSync(report.chart, chartSvg(report));
  return report;
}
