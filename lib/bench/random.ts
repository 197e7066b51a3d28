// --random sd1|sd2|sdxl: full-size checkpoints with deterministic random weights, made once by
// bench/make-random-checkpoint (shipped with the package) and cached, so the bench runs anywhere
// without downloading weights. The cache key is the architecture, dtype and seed.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

import { packageRoot } from '../package-root.js';

export const RANDOM_ARCHS = ['sd1', 'sd2', 'sdxl'] as const;
export type RandomArch = (typeof RANDOM_ARCHS)[number];

/** each architecture's native size, the bench's default size for it */
export const NATIVE_SIZE: Record<RandomArch, number> = { sd1: 512, sd2: 768, sdxl: 1024 };

export function randomCacheDir(): string {
  return process.env.SD_NATIVE_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'sd-native');
}

/** The cached checkpoint's path, written first when missing (minutes for SDXL: 5 GB of f16). */
export function randomCheckpoint(arch: RandomArch, log: (line: string) => void, dir = randomCacheDir()): string {
  const file = join(dir, `random-${arch}-f16-seed1.safetensors`);
  if (existsSync(file)) return file;
  const script = join(packageRoot, 'bench', 'make-random-checkpoint');
  if (!existsSync(script)) throw new Error(`--random needs ${script}, which this installation lacks`);
  mkdirSync(dir, { recursive: true });
  log(`making ${file} (random ${arch} weights, cached for later runs)`);
  const r = spawnSync(process.execPath, [script, '--arch', arch, '--dtype', 'f16', '--seed', '1', '-o', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`make-random-checkpoint failed (exit ${r.status}): ${r.stderr?.toString().trim()}`);
  return file;
}
