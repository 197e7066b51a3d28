// Compile check for the CUDA backend that CI can run without a GPU: every source in
// native/core/cuda (the .cu kernels and the host .cpp files), the GPU op test and the CUDA
// kernel lab compile with nvcc, the kernels for every architecture we ship code for (sm_80 A100,
// sm_86 RTX 30xx, sm_89 RTX 40xx / L4, sm_90 H100 / H200: each picks its own paths under
// __CUDA_ARCH__). The numerical checks need a device: they are
// test/native/test_cuda.cpp (built with -DSD_CUDA=ON), which skips cleanly without one.
//
// Skipped when nvcc is not on PATH, in $CUDA_HOME/bin or /usr/local/cuda/bin. At most two
// compilers run at once, largest files first. ptxas runs at -O0 (SD_NATIVE_CUDA_PTXAS_OPT=3 for
// the release setting): it still checks every kernel's resources (shared memory, registers)
// but takes a third of the time on the template-heavy GEMM files (conv: 30 s instead of 96 s
// of CPU), and this check is about the code compiling, not about its speed.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { test } from 'node:test';

const root = resolve(import.meta.dirname, '..', '..');
const cudaDir = join(root, 'native', 'core', 'cuda');

function findNvcc(): string | null {
  if (spawnSync('nvcc', ['--version'], { encoding: 'utf8' }).status === 0) return 'nvcc';
  const candidates = [process.env.CUDA_HOME && join(process.env.CUDA_HOME, 'bin', 'nvcc'), '/usr/local/cuda/bin/nvcc'];
  for (const p of candidates) if (p && existsSync(p)) return p;
  return null;
}

interface Job {
  source: string;
  extra: string[];
}

export const CUDA_ARCHS = [80, 86, 89, 90];

function compile(nvcc: string, job: Job, outDir: string): Promise<{ job: Job; code: number; output: string; seconds: number }> {
  const ptxasOpt = process.env.SD_NATIVE_CUDA_PTXAS_OPT ?? '0';
  // device code once per architecture; host-only .cpp files have none
  const archs = job.source.endsWith('.cu') ? CUDA_ARCHS.flatMap((a) => ['-gencode', `arch=compute_${a},code=sm_${a}`]) : ['-arch=sm_80'];
  const args = ['-std=c++17', ...archs, `-Xptxas=-O${ptxasOpt}`, '-I', join(root, 'native'), ...job.extra, '-c', job.source,
    '-o', join(outDir, `${basename(job.source)}.o`)];
  const start = Date.now();
  return new Promise((done) => {
    const child = spawn(nvcc, args, { cwd: root });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', (e) => done({ job, code: -1, output: String(e), seconds: 0 }));
    child.on('close', (code) => done({ job, code: code ?? -1, output, seconds: (Date.now() - start) / 1000 }));
  });
}

async function pool<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

const nvcc = findNvcc();

test(`CUDA backend sources compile with nvcc (sm_${CUDA_ARCHS.join(', sm_')})`, {
  skip: nvcc ? false : 'nvcc not found (PATH, $CUDA_HOME/bin, /usr/local/cuda/bin): CUDA compile check skipped',
  timeout: 25 * 60_000,
}, async () => {
  const sources = readdirSync(cudaDir).filter((f) => f.endsWith('.cu') || f.endsWith('.cpp')).sort();
  assert.ok(sources.includes('cuda_backend.cpp'), 'native/core/cuda/cuda_backend.cpp is missing');
  // Largest first so the two compilers finish together.
  const weight = (f: string) => (f.startsWith('gemm') ? 0 : f.startsWith('conv') ? 1 : f.startsWith('attention') ? 2 : 3);
  const jobs: Job[] = sources.sort((a, b) => weight(a) - weight(b)).map((f) => ({ source: join(cudaDir, f), extra: [] }));
  jobs.push({ source: join(root, 'test', 'native', 'test_cuda.cpp'), extra: ['-DSD_WITH_CUDA=1', '-I', join(root, 'test', 'native')] });
  const bench = join(root, 'bench', 'kernels', 'cuda', 'bench_cuda.cpp');
  if (existsSync(bench)) jobs.push({ source: bench, extra: ['-DSD_WITH_CUDA=1'] });

  const outDir = mkdtempSync(join(tmpdir(), 'sd-cuda-check-'));
  try {
    const results = await pool(jobs, 2, (job) => compile(nvcc!, job, outDir));
    for (const r of results) process.stdout.write(`# ${basename(r.job.source)}: ${r.code === 0 ? 'ok' : 'FAILED'} in ${r.seconds.toFixed(1)} s\n`);
    const failed = results.filter((r) => r.code !== 0);
    assert.equal(failed.length, 0,
      failed.map((r) => `${r.job.source} failed (exit ${r.code}):\n${r.output.split('\n').slice(0, 40).join('\n')}`).join('\n\n'));
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
});
