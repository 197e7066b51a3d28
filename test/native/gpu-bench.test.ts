// What bench/gpu/run.sh needs, checked without a GPU: its tensor lists still equal what
// bench/make-random-checkpoint lists, its checkpoint tool writes what the list says at the scales
// it says, and its driver (gpu_bench) makes the same image on the "emulated" device as on the CPU
// and prints every figure the summary reads. The GPU itself is checked by run.sh on a GPU machine.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { f32, i64, readSafetensors } from '../helpers/safetensors.js';
import { cmake, root } from './suites.js';

const buildDir = join(root, 'build-native', 'tests');
const bin = (name: string) => join(buildDir, name);
const model = join(root, 'models', 'sd-native-tiny.safetensors');

const listing = (arch: string, extra: string[]) => {
  const r = spawnSync(process.execPath, [join(root, 'bench', 'make-random-checkpoint'), '--arch', arch, '--list', ...extra], { encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
};

for (const arch of ['sd1', 'sdxl']) {
  test(`bench/gpu/${arch}.tensors is what make-random-checkpoint --list prints, with its inits`, () => {
    const committed = readFileSync(join(root, 'bench', 'gpu', `${arch}.tensors`), 'utf8');
    assert.equal(committed, listing(arch, ['--with-init']), `regenerate: bench/make-random-checkpoint --arch ${arch} --list --with-init > bench/gpu/${arch}.tensors`);
    assert.equal(committed.replace(/ \S+$/gm, ''), listing(arch, []));
  });
}

let built = false;
test('gpu_bench and make_random_checkpoint build (CMake, the native tests\' build)', { timeout: 30 * 60_000 }, () => {
  // Configured every time: a build dir made before these targets existed does not know them.
  assert.equal(cmake(['-S', root, '-B', buildDir, '-DSD_TESTS=ON', '-DSD_ADDON=OFF']).status, 0, 'cmake could not configure');
  assert.equal(cmake(['--build', buildDir, '-j', String(availableParallelism()), '--target', 'gpu_bench', 'make_random_checkpoint']).status, 0, 'the build failed');
  built = true;
});

test('make_random_checkpoint writes the listed tensors at the listed scales', (t) => {
  if (!built) return t.skip('not built');
  const dir = mkdtempSync(join(tmpdir(), 'sd-gpu-ckpt-'));
  try {
    writeFileSync(join(dir, 'list.tensors'), [
      'w F32 [256, 64] normal:0.125',
      'norm F32 [4096] normal:0.02:1',
      'scale F32 [] const:2.659260036932778',
      'ids I64 [1, 77] arange',
      'half F16 [3, 5] normal:0.5',
      '',
    ].join('\n'));
    const out = join(dir, 'out.safetensors');
    const r = spawnSync(bin('make_random_checkpoint'), [join(dir, 'list.tensors'), out, '7', '2'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).tensors, 5);
    const file = readSafetensors(out);
    assert.deepEqual([...file.tensors.keys()].sort(), ['half', 'ids', 'norm', 'scale', 'w']);
    const stats = (v: Float32Array) => {
      const mean = v.reduce((a, b) => a + b, 0) / v.length;
      return { mean, std: Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length) };
    };
    const w = stats(f32(file.tensors.get('w'), 'w'));
    assert.ok(Math.abs(w.mean) < 0.01 && Math.abs(w.std / 0.125 - 1) < 0.02, JSON.stringify(w));
    const norm = stats(f32(file.tensors.get('norm'), 'norm'));
    assert.ok(Math.abs(norm.mean - 1) < 0.002 && Math.abs(norm.std / 0.02 - 1) < 0.05, JSON.stringify(norm));
    assert.equal(f32(file.tensors.get('scale'), 'scale')[0], Math.fround(2.659260036932778));
    assert.deepEqual(i64(file.tensors.get('ids'), 'ids'), [...Array(77).keys()]);
    const half = file.tensors.get('half')!;
    assert.deepEqual([half.dtype, half.shape, half.data.length], ['F16', [3, 5], 30]);
    // Seeded by name: the same list and seed give the same bytes on any thread count.
    const again = join(dir, 'again.safetensors');
    assert.equal(spawnSync(bin('make_random_checkpoint'), [join(dir, 'list.tensors'), again, '7', '1']).status, 0);
    assert.ok(readFileSync(out).equals(readFileSync(again)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('gpu_bench: the emulated device\'s image equals the CPU\'s (PSNR >= 40 dB), every figure present', { timeout: 10 * 60_000 }, (t) => {
  if (!built) return t.skip('not built');
  const dir = mkdtempSync(join(tmpdir(), 'sd-gpu-bench-'));
  try {
    const runOn = (device: string) => {
      const r = spawnSync(bin('gpu_bench'), ['run', '--model', model, '--device', device, '--size', '64', '--steps', '2', '--batches', '1,2', '--warmup', '1', '--threads', '2', '--out', join(dir, `${device}.rgba`)], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    };
    const emulated = runOn('emulated');
    runOn('cpu');
    assert.deepEqual(emulated.map((r) => r.batch), [1, 2]);
    for (const key of ['it_per_s', 'decode_ms', 'images_per_s', 'step_ms_median', 'peak_rss_bytes', 'plan_total_bytes'])
      assert.ok(typeof emulated[0]![key] === 'number' && (emulated[0]![key] as number) > 0, `${key}: ${emulated[0]![key]}`);
    assert.equal(emulated[0]!.device_used_peak_bytes, null, 'only CUDA has device memory to sample');
    assert.equal(emulated[0]!.latent_finite, true);
    const p = spawnSync(bin('gpu_bench'), ['psnr', join(dir, 'emulated.rgba'), join(dir, 'cpu.rgba'), '--min', '40'], { encoding: 'utf8' });
    assert.equal(p.status, 0, p.stdout + p.stderr);
    const psnr = JSON.parse(p.stdout) as { psnr_db: number; pass: boolean };
    assert.ok(psnr.pass && psnr.psnr_db >= 40, p.stdout);
    t.diagnostic(`emulated vs cpu: ${psnr.psnr_db} dB; emulated ${emulated[0]!.it_per_s} it/s at 64²`);
    // A different image must fail the bound (the check can fail).
    writeFileSync(join(dir, 'other.rgba'), Buffer.alloc(64 * 64 * 4, 255));
    assert.equal(spawnSync(bin('gpu_bench'), ['psnr', join(dir, 'other.rgba'), join(dir, 'cpu.rgba'), '--min', '40']).status, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
