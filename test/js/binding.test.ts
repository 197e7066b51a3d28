import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native } from '../../lib/binding.js';

test('systemInfo reports the CPU paths this binary can use', () => {
  const info = native.systemInfo();
  assert.ok(info.cpuPaths.includes('scalar'));
  assert.equal(info.cpuPaths[info.cpuPaths.length - 1], info.isa);
});

test('inspectSafetensors reads a golden header (names, dtypes, shapes)', () => {
  const h = native.inspectSafetensors('test/fixtures/rng.safetensors');
  const t = h.tensors.find((x) => x.name === 'golden.output.torch_cpu_avx2.seed42.shape_1x4x8x8');
  assert.ok(t, 'tensor present');
  assert.deepEqual(t.shape, [1, 4, 8, 8]);
  assert.equal(t.dtype, 'f32');
  assert.equal(t.bytes, 256 * 4);
});
