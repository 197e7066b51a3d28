// The package as users get it: `npm run pack:all` writes the tarballs, which are installed into a
// fresh project with every compiler shadowed by a stub that records any call and fails. Then plain
// node (ESM and CommonJS) makes images, a strict TypeScript consumer type-checks, `npx sd-native
// generate` writes a PNG, the README's examples run as written, and nothing was compiled. Last, the
// shipped sources compile when asked (`npx sd-native build`, with the real compilers).
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';

import { StableDiffusion } from '../../lib/index.js';

const root = resolve(import.meta.dirname, '..', '..');
const npmCli = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');
const npxCli = join(dirname(npmCli), 'npx-cli.js');
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

interface Manifest { packages: Array<{ name: string; file: string; bytes: number }>; skipped: Array<{ name: string; reason: string }> }

const work = mkdtempSync(join(tmpdir(), 'sd-native-package-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
const project = join(work, 'consumer');
const stubs = join(work, 'stubs');
const compileLog = join(work, 'compiler-calls.log');

// Compilers and build tools, shadowed: a call is recorded and fails, as on a machine without them.
mkdirSync(stubs);
for (const tool of ['cc', 'gcc', 'g++', 'c++', 'clang', 'clang++', 'make', 'cmake', 'python', 'python3', 'node-gyp']) {
  writeFileSync(join(stubs, tool), `#!/bin/sh\necho "${tool} $*" >> '${compileLog}'\nexit 127\n`);
  chmodSync(join(stubs, tool), 0o755);
}
const env = {
  ...process.env,
  PATH: `${stubs}:${dirname(process.execPath)}:/usr/bin:/bin`,
  npm_config_node_gyp: join(stubs, 'node-gyp'),
  NODE_OPTIONS: '',
  SD_NATIVE_BINARY: '',
  npm_config_audit: 'false',
  npm_config_fund: 'false',
  npm_config_update_notifier: 'false',
};
function sh(cmd: string, args: string[], options: SpawnSyncOptions = {}) {
  const r = spawnSync(cmd, args, { cwd: project, env, encoding: 'utf8', maxBuffer: 64 << 20, ...options });
  return { code: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}

let manifest: Manifest;
let installed = false;

test('npm run pack:all writes the main, platform and model tarballs', { timeout: 30 * 60_000 }, (t) => {
  const r = spawnSync(process.execPath, [join(root, 'packages', 'tools', 'pack-all.mjs'), '--skip-missing-toolchains'], { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, `pack:all failed:\n${(r.stdout + r.stderr).slice(-4000)}`);
  manifest = JSON.parse(readFileSync(join(root, 'packages', 'dist', 'manifest.json'), 'utf8')) as Manifest;
  const names = manifest.packages.map((p) => p.name);
  for (const name of ['sd-native', '@sd-native/linux-x64', '@sd-native/tiny-model']) assert.ok(names.includes(name), `${name} was not packed`);
  for (const p of manifest.packages) t.diagnostic(`${p.name}: ${(p.bytes / 1e6).toFixed(2)} MB`);
  for (const s of manifest.skipped) t.diagnostic(`${s.name}: skipped, ${s.reason}`);
  const main = manifest.packages.find((p) => p.name === 'sd-native')!;
  assert.ok(main.bytes < 3e6, `the main tarball should hold no model or binaries: ${main.bytes} bytes`);
});

test('the tarballs install into a fresh project without compiling anything', { timeout: 10 * 60_000 }, (t) => {
  if (!manifest) return t.skip('no tarballs');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
  // What `npm install sd-native` brings on this machine; the CUDA package is the user's choice (last test).
  const files = manifest.packages.filter((p) => !['@sd-native/linux-arm64', '@sd-native/linux-x64-cuda'].includes(p.name)).map((p) => p.file);
  const start = performance.now();
  const r = sh(process.execPath, [npmCli, 'install', '--no-audit', '--no-fund', ...files]);
  const seconds = (performance.now() - start) / 1000;
  assert.equal(r.code, 0, `npm install failed:\n${r.stdout}\n${r.stderr}`);
  t.diagnostic(`npm install of the tarballs: ${seconds.toFixed(1)} s`);
  assert.ok(!existsSync(compileLog), `the install called build tools:\n${existsSync(compileLog) ? readFileSync(compileLog, 'utf8') : ''}`);
  assert.ok(!existsSync(join(project, 'node_modules', 'sd-native', 'build')), 'the install made a build directory');
  assert.ok(existsSync(join(project, 'node_modules', '@sd-native', 'linux-x64', 'sd_native.node')), 'no prebuilt binary installed');
  installed = true;
});

const PROMPT = 'a red circle on a white background';

test('plain node, ESM: import, one 64×64 image from the prebuilt binary equal to the clone build\'s, fastify not loaded', async (t) => {
  if (!installed) return t.skip('not installed');
  const code = `
    import { createRequire } from 'node:module';
    import { StableDiffusion, systemInfo } from 'sd-native';
    const cache = () => Object.keys(createRequire(import.meta.url).cache).filter((k) => k.includes('/node_modules/fastify/')).length;
    const sd = await StableDiffusion.load();
    const [img] = await sd.generate({ prompt: ${JSON.stringify(PROMPT)}, seed: 42, steps: 8 });
    sd.dispose();
    const before = cache();
    await import('sd-native/server');
    console.log(JSON.stringify({ w: img.width, h: img.height, rgba: img.data.toString('base64'),
      binary: systemInfo().binary, fastifyBefore: before, fastifyAfter: cache() }));`;
  const r = sh(process.execPath, ['--input-type=module', '-e', code]);
  assert.equal(r.code, 0, r.stderr);
  const o = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, number | string>;
  assert.equal(o.w, 64);
  assert.equal(o.h, 64);
  // Reference: the same image from this clone's own build (node-gyp) of the same sources.
  const sd = await StableDiffusion.load();
  const [want] = await sd.generate({ prompt: PROMPT, seed: 42, steps: 8 });
  sd.dispose();
  const got = Buffer.from(String(o.rgba), 'base64');
  assert.equal(got.length, want!.data.length);
  let max = 0;
  for (let i = 0; i < got.length; i++) max = Math.max(max, Math.abs(got[i]! - want!.data[i]!));
  t.diagnostic(`prebuilt vs clone build: max abs pixel difference ${max}`);
  assert.ok(max <= 1, `the prebuilt binary's image differs from the clone build's by up to ${max}`);
  assert.match(String(o.binary), /node_modules\/@sd-native\/linux-x64\/sd_native\.node$/);
  assert.equal(o.fastifyBefore, 0, 'importing sd-native loaded fastify');
  assert.ok(Number(o.fastifyAfter) > 0, 'sd-native/server did not load fastify (the check cannot see it)');
});

test('plain node, CommonJS: require, one image equal to the ESM one, fastify not loaded', (t) => {
  if (!installed) return t.skip('not installed');
  const image = (kind: 'esm' | 'cjs') => {
    const body = `const [img] = await sd.generate({ prompt: ${JSON.stringify(PROMPT)}, seed: 42, steps: 8 }); sd.dispose();
      console.log(require('node:crypto').createHash('sha256').update(img.data).digest('hex'),
        Object.keys(require.cache).filter((k) => k.includes('/node_modules/fastify/')).length);`;
    const code = kind === 'cjs'
      ? `const { StableDiffusion } = require('sd-native'); (async () => { const sd = await StableDiffusion.load(); ${body} })();`
      : `import { createRequire } from 'node:module'; const require = createRequire(import.meta.url); import { StableDiffusion } from 'sd-native';
         const sd = await StableDiffusion.load(); ${body}`;
    const r = sh(process.execPath, kind === 'cjs' ? ['-e', code] : ['--input-type=module', '-e', code]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim().split(/\s+/);
  };
  const [cjsHash, cjsFastify] = image('cjs');
  const [esmHash] = image('esm');
  assert.equal(cjsFastify, '0', 'require("sd-native") loaded fastify');
  assert.equal(cjsHash, esmHash, 'CommonJS and ESM builds made different images');
});

test('a strict TypeScript consumer (ESM and CommonJS files) type-checks with zero errors', (t) => {
  if (!installed) return t.skip('not installed');
  const dir = join(project, 'ts');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      strict: true, exactOptionalPropertyTypes: true, noPropertyAccessFromIndexSignature: true, noUncheckedIndexedAccess: true,
      module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', noEmit: true, skipLibCheck: false,
      typeRoots: [join(root, 'node_modules', '@types')], types: ['node'],
    },
    include: ['*.mts', '*.cts'],
  }));
  writeFileSync(join(dir, 'app.mts'), `
    import { StableDiffusion, SdError, systemInfo, type GenerateOptions, type StepEvent } from 'sd-native';
    import { createServer } from 'sd-native/server';
    const options: GenerateOptions = { prompt: 'a red circle', seed: 1, sampler: 'euler', onStep: (e: StepEvent) => void e.step };
    const sd = await StableDiffusion.load(undefined, { threads: 2 });
    const [image] = await sd.generate(options);
    const png: Buffer | undefined = image?.toPNG();
    const info: string = systemInfo().isa;
    const app = createServer(sd, { queueSize: 4 });
    await app.close();
    try { await sd.generate({ prompt: 'x', width: 500 }); } catch (e) { if (e instanceof SdError) console.log(e.code, png?.length, info); }
    sd.dispose();
  `);
  writeFileSync(join(dir, 'app.cts'), `
    import sdNative = require('sd-native');
    async function main(): Promise<number> {
      const sd = await sdNative.StableDiffusion.load();
      const images = await sd.generate({ prompt: 'a blue star', steps: 4 });
      sd.dispose();
      return images.length + sdNative.version.length;
    }
    void main();
  `);
  const r = sh(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir]);
  assert.equal(r.code, 0, `tsc reported errors:\n${r.stdout}${r.stderr}`);
});

test('npx sd-native generate writes a PNG, and --help starts without the addon', (t) => {
  if (!installed) return t.skip('not installed');
  const out = join(project, 'cli.png');
  const r = sh(process.execPath, [npxCli, '--no-install', 'sd-native', 'generate', PROMPT, '-o', out, '--seed', '3']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(readFileSync(out).subarray(0, 8), PNG_SIGNATURE);
  const help = sh(process.execPath, [npxCli, '--no-install', 'sd-native', '--help']);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /^usage: sd-native <command>/);
  const bin = join(project, 'node_modules', '.bin', 'sd-native');
  const times = Array.from({ length: 5 }, () => {
    const start = performance.now();
    assert.equal(sh(bin, ['--help']).code, 0);
    return performance.now() - start;
  }).sort((a, b) => a - b);
  t.diagnostic(`sd-native --help: median ${(times[2]! / 1000).toFixed(3)} s of 5 runs`);
});

test("the README's examples run as written", (t) => {
  if (!installed) return t.skip('not installed');
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```js\n\/\/ (example\.[cm]js)\n([\s\S]*?)```/g)];
  assert.equal(blocks.length, 2, 'README should hold example.mjs and example.cjs');
  for (const [, name, body] of blocks) {
    const file = join(project, name!);
    writeFileSync(file, body!);
    rmSync(join(project, 'out.png'), { force: true });
    const r = sh(process.execPath, [file]);
    assert.equal(r.code, 0, `${name}: ${r.stderr}`);
    if (name === 'example.mjs') assert.deepEqual(readFileSync(join(project, 'out.png')).subarray(0, 8), PNG_SIGNATURE);
    else assert.match(r.stdout, /^64 64 7\n$/);
  }
  assert.ok(!existsSync(compileLog), 'something called a compiler');
});

test('the type declarations resolve under every module mode (@arethetypeswrong/cli)', (t) => {
  if (!manifest) return t.skip('no tarballs');
  const main = manifest.packages.find((p) => p.name === 'sd-native')!;
  const attw = join(root, 'node_modules', '@arethetypeswrong', 'cli', 'dist', 'index.js');
  const r = spawnSync(process.execPath, [attw, main.file, '--format', 'json'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  // problems: grouped by kind, {} when there are none
  const report = JSON.parse(r.stdout) as { problems?: Record<string, unknown> };
  assert.deepEqual(report.problems ?? {}, {}, 'attw found problems');
  assert.equal(r.status, 0, r.stderr);
});

test('without the platform package and without a local build, loading fails with what was tried and what to do', (t) => {
  if (!installed) return t.skip('not installed');
  const platform = join(project, 'node_modules', '@sd-native', 'linux-x64');
  renameSync(platform, `${platform}.hidden`);
  try {
    const r = sh(process.execPath, ['-e', "require('sd-native')"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /could not load its native addon for linux-x64/);
    assert.match(r.stderr, /@sd-native\/linux-x64: not installed/);
    assert.match(r.stderr, /local build: not built/);
    assert.match(r.stderr, /Possible solutions:[\s\S]*npm install @sd-native\/linux-x64[\s\S]*npx sd-native build/);
    const help = sh(join(project, 'node_modules', '.bin', 'sd-native'), ['--help']);
    assert.equal(help.code, 0, 'the CLI needs no addon for --help');
  } finally {
    renameSync(`${platform}.hidden`, platform);
  }
});

test('npx sd-native build compiles the shipped sources when asked, and the local build then loads', { timeout: 20 * 60_000 }, (t) => {
  if (!installed) return t.skip('not installed');
  const realEnv = { ...env, PATH: process.env.PATH ?? '', npm_config_node_gyp: '' };
  const r = sh(process.execPath, [npxCli, '--no-install', 'sd-native', 'build'], { env: realEnv });
  assert.equal(r.code, 0, `sd-native build failed:\n${r.stderr.slice(-3000)}`);
  const platform = join(project, 'node_modules', '@sd-native', 'linux-x64');
  renameSync(platform, `${platform}.hidden`);
  try {
    const load = sh(process.execPath, ['-e', `const sd = require('sd-native'); console.log(sd.systemInfo().binary)`]);
    assert.equal(load.code, 0, load.stderr);
    assert.match(load.stdout, /node_modules\/sd-native\/build\/Release\/sd_native\.node/);
  } finally {
    renameSync(`${platform}.hidden`, platform);
  }
});

// Last, as it changes which addon loads: the CUDA package, installed beside the CPU one on this
// GPU-less machine, must load, be preferred, and run 'auto' on the CPU with the same image.
test('@sd-native/linux-x64-cuda loads without a GPU or driver, is preferred, and runs device auto on the CPU', (t) => {
  if (!installed) return t.skip('not installed');
  const cuda = manifest.packages.find((p) => p.name === '@sd-native/linux-x64-cuda');
  if (!cuda) return t.skip(`not packed: ${manifest.skipped.find((s) => s.name === 'linux-x64-cuda')?.reason ?? 'unknown'}`);
  t.diagnostic(`@sd-native/linux-x64-cuda: ${(cuda.bytes / 1e6).toFixed(2)} MB`);
  const addon = join(project, 'node_modules', '@sd-native', 'linux-x64-cuda', 'sd_native.node');
  const r = sh(process.execPath, [npmCli, 'install', '--no-audit', '--no-fund', cuda.file]);
  assert.equal(r.code, 0, `npm install of the CUDA package failed:\n${r.stdout}\n${r.stderr}`);
  assert.ok(!existsSync(compileLog), 'installing the CUDA package called build tools');
  // The CUDA runtime is inside: a machine without the toolkit must not need libcudart, and
  // libcuda (the driver) is opened at run time only if present.
  const needed = spawnSync('readelf', ['-d', addon], { encoding: 'utf8' }).stdout.match(/\(NEEDED\).*\[(.+)\]/g) ?? [];
  const libs = needed.map((l) => l.replace(/.*\[(.+)\]/, '$1'));
  t.diagnostic(`NEEDED: ${libs.join(' ')}`);
  assert.ok(libs.length > 0, 'readelf listed no libraries');
  for (const lib of libs) assert.match(lib, /^(libc|libm|libdl|libpthread|librt|ld-linux-x86-64)\.so/, `the CUDA addon needs ${lib}`);
  const code = `
    import { StableDiffusion, systemInfo } from 'sd-native';
    const sd = await StableDiffusion.load();
    const [img] = await sd.generate({ prompt: ${JSON.stringify(PROMPT)}, seed: 42, steps: 8 });
    console.log(JSON.stringify({ sys: systemInfo(), device: sd.info.device, sha: (await import('node:crypto')).createHash('sha256').update(img.data).digest('hex') }));
    sd.dispose();`;
  const run = sh(process.execPath, ['--input-type=module', '-e', code]);
  assert.equal(run.code, 0, run.stderr);
  const o = JSON.parse(run.stdout.trim().split('\n').pop()!) as { sys: { cuda: boolean; autoDevice: string; noCudaReason: string; binary: string }; device: string; sha: string };
  t.diagnostic(`systemInfo: cuda ${o.sys.cuda}, autoDevice ${o.sys.autoDevice} (${o.sys.noCudaReason})`);
  assert.equal(o.sys.binary, addon);
  assert.equal(o.sys.cuda, true);
  assert.equal(o.sys.autoDevice, 'cpu');
  assert.match(o.sys.noCudaReason, /NVIDIA driver|CUDA GPU|CUDA is unavailable/);
  assert.equal(o.device, 'cpu');
  const doctor = sh(join(project, 'node_modules', '.bin', 'sd-native'), ['doctor']);
  assert.equal(doctor.code, 0, doctor.stderr);
  assert.match(doctor.stdout, /^cuda +yes/m);
  assert.match(doctor.stdout, /^device +'auto' runs on the CPU here: /m);
  // The same CPU code as the linux-x64 package: the same image.
  const cpuOnly = sh(process.execPath, ['--input-type=module', '-e', code], { env: { ...env, SD_NATIVE_BINARY: join(project, 'node_modules', '@sd-native', 'linux-x64', 'sd_native.node') } });
  assert.equal(cpuOnly.code, 0, cpuOnly.stderr);
  assert.equal((JSON.parse(cpuOnly.stdout.trim().split('\n').pop()!) as { sha: string }).sha, o.sha, 'the CUDA package made another image on the CPU');
  const asked = sh(process.execPath, ['--input-type=module', '-e',
    "import { StableDiffusion } from 'sd-native'; try { await StableDiffusion.load(undefined, { device: 'cuda' }); } catch (e) { console.log(e.code, e.message); }"]);
  assert.match(asked.stdout, /^ERR_SD_DEVICE device 'cuda' was asked for but no usable CUDA device was found: /);
});
