// sd-native bench with fake second runtimes (test/fixtures/fake-runtime.ts): the command
// template, timing parsing, PSNR, peak RSS, skip lines, the JSON last line and the SVG chart,
// on the shipped small model at 64x64.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';

import { parseTimings } from '../../lib/bench/timings.js';
import { psnr } from '../../lib/bench/psnr.js';
import { expand, splitCommand } from '../../lib/bench/template.js';
import { loaderFlags } from '../../lib/bench/runtimes.js';
import { run } from '../../lib/cli/main.js';

const fixtures = resolve(import.meta.dirname, '..', 'fixtures');
const fake = `${JSON.stringify(process.execPath)} --import tsx ${JSON.stringify(join(fixtures, 'fake-runtime.ts'))}`;

async function cli(...args: string[]) {
  let stdout = '', stderr = '';
  const code = await run(args, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } });
  return { code, stdout, stderr };
}

test('psnr: every channel off by 4 → 10·log10(255²/16) = 36.0896 dB; alpha ignored; identical → Infinity', () => {
  const a = { data: Buffer.from([10, 20, 30, 255, 200, 100, 0, 255]), width: 2, height: 1 };
  const b = { data: Buffer.from([14, 16, 34, 0, 196, 104, 4, 7]), width: 2, height: 1 };
  assert.equal(psnr(a, b).toFixed(4), '36.0896');
  assert.equal(psnr(a, a), Infinity);
  assert.throws(() => psnr(a, { ...b, width: 1, height: 2 }), /equal sizes, got 2×1 and 1×2/);
});

test('parseTimings reads sd.cpp output: phases, \\r progress bar (s/it and it/s), sequential batch sums', () => {
  const out = '[INFO ] model_loader.cpp:1304 - loading tensors completed, taking 2.50s (read: 1.00s)\n' +
    '  |=>   | 1/3 - 0.00s/it\r  |==>  | 2/3 - 4.00s/it\r  |====| 3/3 - 2.00it/s\n' +
    'sampling completed, taking 9.00s\nsampling completed, taking 3.00s\n' +
    'hires sampling 1/2 completed, taking 99.00s\ndecode_first_stage completed, taking 1.25s\n';
  assert.deepEqual(parseTimings(out), { loadSeconds: 2.5, samplingSeconds: 12, decodeSeconds: 1.25, stepSeconds: [0, 4, 0.5] });
  assert.deepEqual(parseTimings('nothing here'), { stepSeconds: [] });
});

test('command templates split like a shell but substitute inside arguments; child loaders exclude -e', () => {
  assert.deepEqual(splitCommand(`run "a b" 'c "d"' e\\ f`), ['run', 'a b', 'c "d"', 'e f']);
  const values = { model: 'm', prompt: 'a "cat"; rm -rf /', negative: '', seed: '1', width: '8', height: '16', size: '8x16', steps: '2', sampler: 'euler', scheduler: 'normal', cfg: '7', output: 'o.png', batch: '1', dtype: 'f32', threads: '2' };
  assert.deepEqual(expand('gen --p {prompt} -s {size} --out=dir/{output}', values), ['gen', '--p', 'a "cat"; rm -rf /', '-s', '8x16', '--out=dir/o.png']);
  assert.throws(() => expand('gen {modle}', values), /unknown placeholder \{modle\}/);
  assert.deepEqual(loaderFlags(['--import', 'tsx', '-e', 'x()', '--loader=y', '-r', 'z']), ['--import', 'tsx', '--loader=y', '-r', 'z']);
});

test('bench: sd-native vs a fake sd-cli and a fake template runtime; table, skip line, JSON last line, SVG', async () => {
  const out = mkdtempSync(join(tmpdir(), 'sd-bench-'));
  try {
    const ours = join(out, '64x64-euler-3steps-b1-f32-sd-native.png');
    const r = await cli('bench', '--size', '64', '--steps', '3', '--threads', '2', '--seed', '7', '--out', out, '-q',
      '--sdcpp', join(fixtures, 'fake-sd-cli'),
      '--runtime', `fake=${fake} --model {model} --prompt {prompt} --seed {seed} --width {width} --height {height} --steps {steps} --sampler {sampler} --cfg {cfg} --output {output} --xor-of ${JSON.stringify(ours)}`,
      '--runtime', `walltime=${fake} --no-timings --width 32 --height 32 --steps {steps} --output {output}`,
      '--runtime', 'missing=/nonexistent/runtime {output}');
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const lines = r.stdout.trimEnd().split('\n');
    const report = JSON.parse(lines.at(-1)!);
    assert.deepEqual(report.runtimes.map((x: { name: string }) => x.name), ['sd-native', 'stable-diffusion.cpp', 'fake', 'walltime']);
    const [native, sdcpp, fakeRun, wall] = report.runtimes;
    assert.deepEqual(Object.keys(native).slice(0, 5), ['name', 'secondsPerStep', 'vaeDecodeSeconds', 'peakRssBytes', 'loadSeconds']);
    assert.ok(native.secondsPerStep > 0 && native.vaeDecodeSeconds > 0 && native.loadSeconds > 0 && native.peakRssBytes > 2 ** 20);
    assert.equal(native.psnr, undefined);

    // sd.cpp's flags, the same seed and prompt, the sampler and schedule in its own names
    const sdArgs = JSON.parse(readFileSync(join(out, '64x64-euler-3steps-b1-f32-stable-diffusion.cpp.png.args.json'), 'utf8'));
    assert.deepEqual([sdArgs.seed, sdArgs['sampling-method'], sdArgs.scheduler, sdArgs.rng, sdArgs['cfg-scale'], sdArgs.prompt],
      ['7', 'euler', 'discrete', 'cuda', '7', 'a photograph of an astronaut riding a horse']);
    assert.deepEqual([sdcpp.loadSeconds, sdcpp.secondsPerStep, sdcpp.vaeDecodeSeconds, sdcpp.textSeconds, sdcpp.timing], [0.25, 0.5, 0.75, 0.12, 'phases']);
    assert.deepEqual(sdcpp.stepSeconds, [0, 0.5, 0.5]);
    assert.ok(sdcpp.peakRssBytes >= 64 * 2 ** 20, `peak RSS ${sdcpp.peakRssBytes} holds the fake's 64 MiB`);
    assert.ok(Number.isFinite(sdcpp.psnr));

    assert.equal(fakeRun.psnr.toFixed(4), '36.0896');
    assert.equal(wall.timing, 'wall');
    assert.equal(wall.secondsPerStep, wall.wallSeconds / 3);
    assert.deepEqual([wall.vaeDecodeSeconds, wall.loadSeconds, wall.psnr], [null, null, null]);

    assert.equal(report.skipped.length, 1);
    assert.match(report.skipped[0].reason, /could not start \/nonexistent\/runtime|exit/);
    assert.ok(lines.some((l) => /^skipped missing \(64x64-euler-3steps-b1-f32\): /.test(l)), r.stdout);
    assert.match(r.stdout, /^sd-native\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+\d+\s+ref\s+[\d.]+$/m);
    assert.match(r.stdout, /^fake\s+0\.25\s+0\.50\s+0\.75\s+\d+\s+36\.1\s+[\d.]+$/m);
    assert.match(r.stdout, /^walltime \*\s+-\s+[\d.]+\s+-\s+\d+\s+-\s+[\d.]+$/m);

    const svg = readFileSync(join(out, 'bench.svg'), 'utf8');
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.equal((svg.match(/<rect x=/g) ?? []).length, 4 + 3 + 4, 'bars: s/step and RSS for all four, decode for the three that print it');
    assert.ok(svg.includes('>0.75 s</text>') && svg.includes('>stable-diffusion.cpp</text>'));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('bench: a missing --sdcpp is one skip line; bad flags are usage errors', async () => {
  const out = mkdtempSync(join(tmpdir(), 'sd-bench-'));
  try {
    const r = await cli('bench', '--size', '64', '--steps', '1', '--out', out, '-q', '--sdcpp', '/nonexistent/sd-cli');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^skipped stable-diffusion\.cpp: \/nonexistent\/sd-cli does not exist$/m);
    assert.deepEqual(JSON.parse(r.stdout.trimEnd().split('\n').at(-1)!).runtimes.map((x: { name: string }) => x.name), ['sd-native']);
    const bad = await cli('bench', '--runtime', 'x=gen {modle} {output}');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown placeholder \{modle\}/);
    assert.equal((await cli('bench', '--random', 'sd3')).code, 2);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
