// The linux-arm64 build, without arm64 hardware: the same CMake tree that `npm run pack:all`
// packs, cross-compiled with Debian's aarch64-linux-gnu-g++, its native test programs run under
// qemu-user on a CPU with FEAT_BF16 (paths scalar, neon, neonbf16) and on one without (scalar,
// neon), and one image of the small model through the C++ API compared with x64's, byte for byte.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

// @ts-expect-error: a plain .mjs build script, no declarations
import { buildDir, cmakeBuild, hasCommand, platforms, root } from '../../packages/tools/platforms.mjs';

interface Platform { name: string; cxx: string; hint: string; sysroot?: string; emulator?: string }
const [x64, arm64] = platforms as [Platform, Platform];
const fixtures = join(root, 'test', 'fixtures');
const model = join(root, 'models', 'sd-native-tiny.safetensors');
const sources = JSON.parse(readFileSync(join(root, 'native', 'sources.json'), 'utf8')) as { tests: Record<string, string[]> };

const missing = [
  !hasCommand(arm64.cxx) && `${arm64.cxx} (${arm64.hint})`,
  !hasCommand(arm64.emulator!) && `${arm64.emulator} (apt-get install qemu-user)`,
].filter(Boolean);
const skip = missing.length ? `not installed: ${missing.join(', ')}` : false;

const qemu = (cpu: string, program: string, args: string[]) =>
  spawnSync(arm64.emulator!, ['-L', arm64.sysroot!, '-cpu', cpu, join(buildDir(arm64), program), ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });

let built = false;
test('the arm64 core and test programs cross-compile', { skip, timeout: 30 * 60_000 }, () => {
  cmakeBuild(arm64, [...Object.keys(sources.tests), 'tiny_image']);
  built = true;
});

for (const cpu of ['max', 'cortex-a72']) {
  for (const name of Object.keys(sources.tests)) {
    test(`arm64 ${name} under qemu -cpu ${cpu}`, { skip, timeout: 10 * 60_000 }, (t) => {
      if (!built) return t.skip('not built');
      const dir = name === 'test_safetensors' ? mkdtempSync(join(tmpdir(), 'sd-st-arm64-')) : undefined;
      const args = dir ? [dir] : ['test_samplers', 'test_rng', 'test_parity'].includes(name) ? [fixtures] : name === 'test_winograd' ? ['--quick'] : [];
      const r = qemu(cpu, name, args);
      if (dir) rmSync(dir, { recursive: true, force: true });
      const out = `${r.stdout}${r.stderr}`;
      assert.equal(r.status, 0, `${name} failed under qemu -cpu ${cpu}:\n${out.split('\n').slice(-30).join('\n')}`);
      if (name === 'test_ops') {
        // The op table runs every path the CPU has and names the ones it skips.
        assert.doesNotMatch(out, /skipping neon:/, 'the NEON path did not run');
        if (cpu === 'max') assert.doesNotMatch(out, /skipping neonbf16/, 'the BF16 path did not run on a BF16 CPU');
        else assert.match(out, /skipping neonbf16/, 'the BF16 path ran on a CPU without BF16');
      }
      t.diagnostic(out.trim().split('\n').pop()!);
    });
  }
}

test('one small-model image: arm64 under qemu equals x64 to within rounding (f32)', { skip, timeout: 10 * 60_000 }, (t) => {
  if (!built) return t.skip('not built');
  const x64Dir = cmakeBuild(x64, ['tiny_image']);
  const work = mkdtempSync(join(tmpdir(), 'sd-tiny-arm64-'));
  try {
    const tokens = join(fixtures, 'tiny_prompt_tokens.txt');
    const native = spawnSync(join(x64Dir, 'tiny_image'), [model, tokens, join(work, 'x64.rgba')], { encoding: 'utf8' });
    assert.equal(native.status, 0, native.stderr);
    const emulated = qemu('max', 'tiny_image', [model, tokens, join(work, 'arm64.rgba')]);
    assert.equal(emulated.status, 0, emulated.stderr);
    t.diagnostic(`x64: ${native.stdout.trim().split('\n').pop()}`);
    t.diagnostic(`arm64: ${emulated.stdout.trim().split('\n').pop()}`);
    // Kernels sum in different orders on each ISA: a byte may round the other way, no more.
    const a = readFileSync(join(work, 'arm64.rgba')), b = readFileSync(join(work, 'x64.rgba'));
    assert.equal(a.length, 64 * 64 * 4);
    assert.equal(b.length, a.length);
    let max = 0, sum = 0;
    for (let i = 0; i < a.length; i++) {
      const d = Math.abs(a[i]! - b[i]!);
      max = Math.max(max, d);
      sum += d;
    }
    t.diagnostic(`max abs pixel difference ${max}, mean ${(sum / a.length).toFixed(4)}`);
    assert.ok(max <= 2 && sum / a.length < 0.05, `arm64 and x64 images differ: max ${max}, mean ${sum / a.length}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
