// The runtimes the bench compares: sd-native itself (a child process running child.ts),
// stable-diffusion.cpp's sd-cli, and any command template (--runtime NAME=TEMPLATE). Each turns a
// cell into an argv and its console output into timings.
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { moduleUrl } from '../package-root.js';
import type { ChildJob } from './child.js';
import type { Cell, Common } from './matrix.js';
import type { Measured } from './measure.js';
import { expand, PLACEHOLDERS, type Values } from './template.js';
import { parseTimings } from './timings.js';

export interface Timings {
  loadSeconds?: number;
  textSeconds?: number;
  samplingSeconds?: number;
  decodeSeconds?: number;
  stepSeconds: number[];
  /** 'phases': the runtime's own phase timings; 'wall': none printed, seconds per step = wall time / steps */
  source: 'phases' | 'wall';
}

export interface Runtime {
  name: string;
  /** the argv for one cell, or why this runtime cannot run it */
  command(cell: Cell, common: Common, output: string): string[] | { skip: string };
  timings(measured: Measured): Timings;
  /** where the first image is: the output path, or a runtime's own naming for batches */
  image(output: string): string | undefined;
}

function exactImage(output: string): string | undefined {
  return existsSync(output) ? output : undefined;
}

/** timings printed in sd.cpp's format, or wall time when there are none */
function printedOrWall(m: Measured): Timings {
  const t = parseTimings(m.output);
  return { ...t, source: t.samplingSeconds !== undefined || t.stepSeconds.length > 0 ? 'phases' : 'wall' };
}

// lib/bench/child.ts under tsx, dist/{esm,cjs}/bench/child.js when built: found beside package-root.
const childScript = join(dirname(fileURLToPath(moduleUrl)), 'bench', `child${extname(fileURLToPath(moduleUrl))}`);

/** The module loaders among node's flags (tsx's --import when the harness runs from source); never -e/-p. */
export function loaderFlags(execArgv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const a = execArgv[i]!;
    if (/^--(import|loader|experimental-loader|require)=/.test(a)) out.push(a);
    else if (/^(--import|--loader|--experimental-loader|--require|-r)$/.test(a) && i + 1 < execArgv.length) out.push(a, execArgv[++i]!);
  }
  return out;
}

export const sdNative: Runtime = {
  name: 'sd-native',
  command(cell, common, output) {
    const job: ChildJob = {
      model: cell.model, prompt: common.prompt, negativePrompt: common.negativePrompt, seed: common.seed,
      width: cell.width, height: cell.height, steps: cell.steps, sampler: cell.sampler, scheduler: common.scheduler,
      cfgScale: common.cfgScale, batchSize: cell.batch, dtype: cell.dtype, threads: common.threads, output,
    };
    return [process.execPath, ...loaderFlags(process.execArgv), childScript, JSON.stringify(job)];
  },
  timings(m) {
    const line = m.output.trim().split('\n').pop() ?? '';
    const j = JSON.parse(line) as Omit<Timings, 'source'>;
    return { ...j, source: 'phases' };
  },
  image: exactImage,
};

// sd-native's canonical names → sd.cpp's --sampling-method / --scheduler names.
const SDCPP_SAMPLERS: Record<string, string> = {
  euler: 'euler', euler_ancestral: 'euler_a', heun: 'heun', dpm_2: 'dpm2', dpmpp_2s_ancestral: 'dpm++2s_a',
  dpmpp_2m: 'dpm++2m', dpmpp_2m_sde: 'dpm++2m_sde', ipndm: 'ipndm', ipndm_v: 'ipndm_v', lcm: 'lcm', lms: 'lms',
};
const SDCPP_SCHEDULERS: Record<string, string> = {
  normal: 'discrete', karras: 'karras', exponential: 'exponential', sgm_uniform: 'sgm_uniform', simple: 'simple',
  align_your_steps: 'ays', align_your_steps_gits: 'gits',
};

/** sd-cli (or the older `sd`) at PATH, or in the folder PATH (also its bin/); a reason when absent. */
export function findSdcpp(path: string): string | { skip: string } {
  const candidates = existsSync(path) && statSync(path).isDirectory()
    ? ['sd-cli', 'sd', 'bin/sd-cli', 'bin/sd'].map((n) => join(path, n))
    : [path];
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      if (statSync(c).isFile()) return c;
    } catch {
      // next
    }
  }
  return { skip: existsSync(path) ? `no executable sd-cli or sd at ${path}` : `${path} does not exist` };
}

export function sdcpp(binary: string): Runtime {
  return {
    name: 'stable-diffusion.cpp',
    command(cell, common, output) {
      const sampler = SDCPP_SAMPLERS[cell.sampler];
      if (!sampler) return { skip: `sampler ${cell.sampler} has no stable-diffusion.cpp equivalent` };
      const scheduler = SDCPP_SCHEDULERS[common.scheduler];
      if (!scheduler) return { skip: `scheduler ${common.scheduler} has no stable-diffusion.cpp equivalent` };
      // --rng cuda: the Philox noise sd-native is given too, so the same seed gives the same start latent.
      return [binary, '-m', cell.model, '-p', common.prompt, '-n', common.negativePrompt, '--seed', String(common.seed),
        '-W', String(cell.width), '-H', String(cell.height), '--steps', String(cell.steps), '--sampling-method', sampler,
        '--scheduler', scheduler, '--cfg-scale', String(common.cfgScale), '-b', String(cell.batch), '-t', String(common.threads),
        '--rng', 'cuda', '-o', output];
    },
    timings: printedOrWall,
    // a batch is written as NAME_0.png, NAME_1.png, …
    image: (output) => exactImage(output) ?? exactImage(output.replace(/(\.png)?$/, '_0.png')),
  };
}

/** --runtime NAME=TEMPLATE; the template is checked (quotes, placeholders) before anything runs. */
export function adapter(spec: string): Runtime {
  const eq = spec.indexOf('=');
  if (eq <= 0) throw new Error(`--runtime expects NAME=COMMAND-TEMPLATE, got ${JSON.stringify(spec)}`);
  const name = spec.slice(0, eq).trim();
  const template = spec.slice(eq + 1);
  if (!/\{output\}/.test(template)) throw new Error(`--runtime ${name}: the template must write the image to {output}`);
  // fail on quotes and unknown placeholders now, not after the other runtimes have run
  expand(template, Object.fromEntries(PLACEHOLDERS.map((p) => [p, ''])) as Values);
  return {
    name,
    command(cell, common, output) {
      const values: Values = {
        model: cell.model, prompt: common.prompt, negative: common.negativePrompt, seed: String(common.seed),
        width: String(cell.width), height: String(cell.height), size: `${cell.width}x${cell.height}`, steps: String(cell.steps),
        sampler: cell.sampler, scheduler: common.scheduler, cfg: String(common.cfgScale), output, batch: String(cell.batch),
        dtype: cell.dtype, threads: String(common.threads),
      };
      return expand(template, values);
    },
    timings: printedOrWall,
    image: exactImage,
  };
}
