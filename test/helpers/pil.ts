// Pillow as a reference PNG codec (python3 + PIL when installed; tests skip otherwise).
import { spawnSync } from 'node:child_process';

const PYTHON = process.env.SD_NATIVE_TEST_PYTHON ?? '/usr/bin/python3';

let available: boolean | undefined;
export function hasPil(): boolean {
  available ??= spawnSync(PYTHON, ['-c', 'import PIL, numpy'], { stdio: 'ignore' }).status === 0;
  return available;
}

/** Runs a Python script (PIL and numpy importable) and returns its stdout; throws with stderr. */
export function python(script: string, args: string[] = []): string {
  const r = spawnSync(PYTHON, ['-c', script, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`python failed (${r.status}):\n${r.stderr}`);
  return r.stdout;
}
