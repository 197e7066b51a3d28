// npm run pack:all: writes every tarball we publish into packages/dist/:
//   sd-native-<v>.tgz                 the main package (dist/, bin/, native/ sources, no binaries)
//   sd-native-linux-x64-<v>.tgz       the prebuilt addon for x86-64 (CMake, libstdc++ static)
//   sd-native-linux-arm64-<v>.tgz     the same for AArch64, cross-compiled (g++-aarch64-linux-gnu)
//   sd-native-linux-x64-cuda-<v>.tgz  the x86-64 addon with the CUDA backend (nvcc; CUDA runtime static)
//   sd-native-tiny-model-<v>.tgz      the small model and its card
// and packages/dist/manifest.json (each tarball's file and size).
//   --skip-missing-toolchains   leave out a platform whose cross compiler is not installed
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { cmakeBuild, missingTools, platforms, root, run } from './platforms.mjs';

const out = join(root, 'packages', 'dist');
const stage = join(root, 'build-native', 'stage');
const skipMissing = process.argv.includes('--skip-missing-toolchains');

function pack(dir) {
  const json = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', out], { cwd: dir, encoding: 'utf8' });
  const [info] = JSON.parse(json);
  const file = join(out, info.filename);
  return { name: info.name, version: info.version, file, bytes: statSync(file).size, unpackedBytes: info.unpackedSize, entries: info.entryCount };
}

function stagePackage(name, extra) {
  const dir = join(stage, name);
  rmSync(dir, { recursive: true, force: true });
  cpSync(join(root, 'packages', name), dir, { recursive: true });
  for (const [from, to] of extra) cpSync(from, join(dir, to));
  return dir;
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
run(process.execPath, [join(root, 'packages', 'tools', 'build-dist.mjs')]);

const results = [];
const skipped = [];
results.push(pack(root));
for (const p of platforms) {
  const missing = missingTools(p);
  if (missing.length > 0) {
    const reason = `${missing.join(', ')} not found (${p.hint})`;
    if (!skipMissing) throw new Error(`${p.name}: ${reason}`);
    skipped.push({ name: p.name, reason });
    continue;
  }
  const addon = join(cmakeBuild(p, ['sd_native']), 'sd_native.node');
  const dir = stagePackage(p.name, [[addon, 'sd_native.node']]);
  run(p.strip, ['--strip-unneeded', join(dir, 'sd_native.node')]);
  results.push(pack(dir));
}
results.push(pack(stagePackage('tiny-model', [[join(root, 'models', 'sd-native-tiny.safetensors'), 'sd-native-tiny.safetensors']])));

const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
writeFileSync(join(out, 'manifest.json'), `${JSON.stringify({ version, packages: results, skipped }, null, 2)}\n`);
for (const r of results) console.log(`${r.name.padEnd(24)} ${(r.bytes / 1e6).toFixed(2).padStart(7)} MB  ${r.file}`);
for (const s of skipped) console.log(`${s.name.padEnd(24)} skipped: ${s.reason}`);
