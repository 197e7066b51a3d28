// The sd-native command, spawned as users run it (bin/sd-native.js → dist/esm/cli/main.js, built by
// `npm run build:dist` before the tests).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { StableDiffusion, readPngText, systemInfo } from '../../lib/index.js';
import { native } from '../../lib/binding.js';
import { decodePng, encodePng } from '../../lib/png.js';
import { defaultModelPath } from '../../lib/default-model.js';
import { run } from '../../lib/cli/main.js';
import { formatDuration, progressLine } from '../../lib/cli/progress.js';
import { readSafetensors } from '../helpers/safetensors.js';
import { tempDir, tinyCheckpoint } from '../helpers/tiny-checkpoint.js';

const root = resolve(import.meta.dirname, '..', '..');
const bin = join(root, 'bin', 'sd-native.js');

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: tempDir(), encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('--device: cuda in a CPU-only build fails with the reason; emulated, the test device, gives the CPU image', () => {
  const r = cli('generate', 'a cat', '-m', tinyCheckpoint(), '-W', '32', '-H', '32', '--steps', '2', '--device', 'cuda', '-q');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^sd-native: device 'cuda' was asked for but this build of sd-native has no CUDA backend/m);
  const outs = ['cpu', 'emulated'].map((device) => {
    const out = join(tempDir(), `cli-device-${device}.png`);
    const g = cli('generate', 'a cat', '-m', tinyCheckpoint(), '-W', '32', '-H', '32', '--steps', '2', '--seed', '3', '--threads', '2', '--device', device, '-q', '-o', out);
    assert.equal(g.code, 0, g.stderr);
    return readFileSync(out);
  });
  assert.ok(outs[0]!.equals(outs[1]!));
});

test('generate writes PNGs whose parameters chunk matches the library', async () => {
  const out = join(tempDir(), 'cli-out.png');
  const r = cli('generate', 'a photo of a cat', '-n', 'blurry', '-m', tinyCheckpoint(), '-W', '32', '-H', '32', '--steps', '3',
    '--seed', '7', '--cfg', '6.5', '--sampler', 'DPM++ 2M Karras', '--batch', '2', '--clip-skip', '2', '-o', out, '--threads', '2');
  assert.equal(r.code, 0, r.stderr);
  const second = join(tempDir(), 'cli-out-1.png');
  assert.deepEqual(r.stdout.trim().split('\n'), [out, second]);
  assert.match(r.stderr, /^step 1\/3 \[.*\] .* ETA /m); // plain progress lines when stderr is not a TTY
  assert.match(r.stderr, /^step 3\/3 \[#{20}\]/m);
  const want = 'a photo of a cat\nNegative prompt: blurry\nSteps: 3, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, ' +
    'Seed: 7, Size: 32x32, Model: sd-tiny, Clip skip: 2, RNG: CPU';
  assert.equal(readPngText(readFileSync(out)).parameters, want);
  assert.equal(readPngText(readFileSync(second)).parameters, want.replace('Seed: 7', 'Seed: 8'));
  // The same bytes as the library gives for the same options.
  const sd = await StableDiffusion.load(tinyCheckpoint(), { threads: 2 });
  const imgs = await sd.generate({ prompt: 'a photo of a cat', negativePrompt: 'blurry', width: 32, height: 32, steps: 3, seed: 7, cfgScale: 6.5, sampler: 'DPM++ 2M Karras', batchSize: 2, clipSkip: 2 });
  sd.dispose();
  assert.ok(readFileSync(out).equals(imgs[0]!.toPNG()));
  assert.ok(readFileSync(second).equals(imgs[1]!.toPNG()));
});

test('img2img from the command line: --init and --strength', () => {
  const init = join(tempDir(), 'cli-init.png');
  const px = Buffer.alloc(32 * 32 * 3);
  for (let i = 0; i < px.length; i++) px[i] = (i * 13) & 255;
  writeFileSync(init, encodePng({ data: px, width: 32, height: 32, channels: 3 }));
  const out = join(tempDir(), 'cli-i2i.png');
  const r = cli('generate', 'a dog', '-m', tinyCheckpoint(), '--init', init, '--strength', '0.6', '--steps', '5', '--seed', '1', '-o', out, '-q');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.match(readPngText(readFileSync(out)).parameters!, /Size: 32x32, Model: sd-tiny, Denoising strength: 0\.6, RNG: CPU$/);
});

test('inpaint and hires fix from the command line: --mask, --inpaint-masked, --hires', () => {
  const init = join(tempDir(), 'cli-init.png'), mask = join(tempDir(), 'cli-mask.png');
  const px = Buffer.alloc(32 * 32 * 3);
  for (let i = 0; i < px.length; i++) px[i] = (i * 13) & 255;
  writeFileSync(init, encodePng({ data: px, width: 32, height: 32, channels: 3 }));
  const m = Buffer.alloc(32 * 32);
  for (let i = 0; i < 32 * 8; i++) m[i] = 255; // the top 8 rows
  writeFileSync(mask, encodePng({ data: m, width: 32, height: 32, channels: 1 }));
  const out = join(tempDir(), 'cli-inpaint.png');
  const r = cli('generate', 'a dog', '-m', tinyCheckpoint(), '--init', init, '--mask', mask, '--mask-blur', '0', '--inpaint-masked', '--steps', '3', '-o', out, '-q');
  assert.equal(r.code, 0, r.stderr);
  // rows 20.. are far from the padded box around the mask: the original bytes
  const decoded = decodePng(readFileSync(out));
  let same = 0;
  for (let p = 32 * 20; p < 32 * 32; p++) for (let c = 0; c < 3; c++) same += Number(decoded.data[p * 4 + c] === px[p * 3 + c]);
  assert.equal(same, 32 * 12 * 3);
  const big = join(tempDir(), 'cli-hires.png');
  const h = cli('generate', 'a dog', '-m', tinyCheckpoint(), '-W', '32', '-H', '32', '--hires', '2', '--hires-steps', '2', '--hires-prompt', 'a cat', '--steps', '2', '-o', big, '-q');
  assert.equal(h.code, 0, h.stderr);
  assert.match(readPngText(readFileSync(big)).parameters!, /Size: 32x32, .*Hires upscale: 2, Hires steps: 2, Hires upscaler: Latent, Hires prompt: a cat$/);
  const bad = cli('generate', 'a dog', '-m', tinyCheckpoint(), '--mask', mask, '-q');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--mask inpaints an --init image/);
});

test('bad usage exits 2 with the message and the usage', () => {
  const a = cli('generate', 'x', '--bogus', '-m', tinyCheckpoint());
  assert.equal(a.code, 2);
  assert.match(a.stderr, /^sd-native: unknown option --bogus\n\nusage: sd-native generate "<prompt>"/);
  const b = cli('generate', 'x', '--steps', 'many', '-m', tinyCheckpoint());
  assert.equal(b.code, 2);
  assert.match(b.stderr, /^sd-native: --steps expects a number, got "many"/);
  const c = cli('generate', 'x', '--steps', '0', '-m', tinyCheckpoint());
  assert.equal(c.code, 2);
  assert.match(c.stderr, /^sd-native: steps must be an integer between 1 and 1000, got 0$/m);
  const d = cli('serve', '-m', tinyCheckpoint(), '--port', '0', '--preview', 'full');
  assert.equal(d.code, 2);
  assert.match(d.stderr, /^sd-native: --preview must be cheap or taesd, got full/);
  const e = cli('serve', '-m', tinyCheckpoint(), '--port', '0', '--preview', 'taesd', '--taesd', join(tempDir(), 'none.safetensors'), '-q');
  assert.equal(e.code, 2, e.stderr);
  assert.match(e.stderr, /^sd-native: --preview taesd: TAESD decoder ".*none\.safetensors" not found/);
});

// In-process (no spawn) for the cheap paths: run() with stdout/stderr captured.
async function runCaptured(...args: string[]) {
  const out: string[] = [], err: string[] = [];
  const code = await run(args, { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } });
  return { code, stdout: out.join(''), stderr: err.join('') };
}

test('usage paths of run(): unknown command, missing prompt, help, version', async () => {
  const d = await runCaptured('frobnicate');
  assert.equal(d.code, 2);
  assert.match(d.stderr, /^sd-native: unknown command "frobnicate"\n\nusage: sd-native <command>/);
  const e = await runCaptured('generate', '-m', tinyCheckpoint());
  assert.equal(e.code, 2);
  assert.match(e.stderr, /^sd-native: generate needs a prompt\n\nusage: sd-native generate/);
  const f = await runCaptured('generate', 'x', '--strength', '0.5', '-m', tinyCheckpoint());
  assert.equal(f.code, 2);
  assert.match(f.stderr, /--strength applies to img2img; give the input image with --init/);
  const h = await runCaptured('help', 'generate');
  assert.equal(h.code, 0);
  assert.match(h.stdout, /--clip-skip <n>/);
  assert.equal((await runCaptured()).code, 2);
  const v = await runCaptured('--version');
  assert.equal(v.stdout, `${JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version}\n`);
});

test('runtime failures exit 1: an unreadable model', () => {
  const r = cli('generate', 'x', '-m', join(tempDir(), 'no-such.safetensors'));
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^sd-native: ".*no-such\.safetensors": cannot open the file: No such file or directory; check the path\n$/);
});

test('the default model comes from @sd-native/tiny-model (in a clone: the workspace, reading models/)', () => {
  assert.equal(defaultModelPath(), join(root, 'models', 'sd-native-tiny.safetensors'));
});

test('doctor prints the ISA, the binary and the versions', () => {
  const r = cli('doctor');
  assert.equal(r.code, 0, r.stderr);
  const s = systemInfo();
  assert.match(r.stdout, new RegExp(`^cpu +${s.isa} selected; paths this CPU runs: ${s.cpuPaths.join(', ')}$`, 'm'));
  assert.match(r.stdout, new RegExp(`^binary +${s.binary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'm'));
  assert.match(r.stdout, new RegExp(`^node +${process.version} \\(N-API ${process.versions.napi}`, 'm'));
  assert.match(r.stdout, new RegExp(`^device +'auto' runs on ${s.autoDevice === 'cuda' ? 'the GPU' : 'the CPU'}`, 'm'));
});

test('info: family, tensors, dtypes and parameters per component, from the header', () => {
  const r = cli('info', tinyCheckpoint());
  assert.equal(r.code, 0, r.stderr);
  const st = readSafetensors(tinyCheckpoint());
  const params = (prefix: string) => [...st.tensors].filter(([n]) => n.startsWith(prefix)).reduce((a, [, t]) => a + t.shape.reduce((x, y) => x * y, 1), 0);
  assert.match(r.stdout, /^family +sd1 \(UNet 32 channels, VAE ×2\)$/m);
  assert.match(r.stdout, new RegExp(`^tensors +${st.tensors.size}$`, 'm'));
  assert.match(r.stdout, /^dtypes +f32 \d+ \(.*\), i64 1 \(/m);
  const fmt = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : `${(n / 1e3).toFixed(1)}K`);
  assert.match(r.stdout, new RegExp(`^  UNet +${fmt(params('model.diffusion_model.'))} .* model\\.diffusion_model\\.\\*$`, 'm'));
  assert.match(r.stdout, new RegExp(`^  VAE +${fmt(params('first_stage_model.'))} .* first_stage_model\\.\\*$`, 'm'));
  assert.match(r.stdout, new RegExp(`^  text encoder +${fmt(params('cond_stage_model.'))} .* cond_stage_model\\.\\*$`, 'm'));
  assert.match(r.stdout, /^  128x128 .* = ~/m);
});

const hasNoiseStrip = typeof (native.ModelHandle as { prototype?: Record<string, unknown> } | undefined)?.prototype?.noiseStrip === 'function';

test('noise: a forward-diffusion strip', { skip: !hasNoiseStrip && 'the addon has no noiseStrip yet' }, () => {
  const init = join(tempDir(), 'noise-in.png');
  const px = Buffer.alloc(32 * 32 * 3, 128);
  writeFileSync(init, encodePng({ data: px, width: 32, height: 32, channels: 3 }));
  const out = join(tempDir(), 'strip.png');
  const r = cli('noise', init, '--steps', '0,500,999', '-o', out, '-m', tinyCheckpoint());
  assert.equal(r.code, 0, r.stderr);
  const png = readFileSync(out);
  assert.equal(png.readUInt32BE(16), 96); // IHDR width: 3 frames of 32
  assert.equal(png.readUInt32BE(20), 32);
});

test('progress line: step/steps, bar, it/s (s/it when slow), ETA', () => {
  assert.equal(progressLine({ step: 5, steps: 20, elapsedMs: 2000 }), 'step 5/20 [#####...............] 2.50 it/s  ETA 0:06');
  assert.equal(progressLine({ step: 1, steps: 4, elapsedMs: 4000 }), 'step 1/4 [#####...............] 4.00 s/it  ETA 0:12');
  assert.equal(formatDuration(3725), '1:02:05');
});
