// native/sources.json is the one source list of binding.gyp and CMakeLists.txt: every C++/CUDA
// source on disk is in it exactly once, and everything it names exists.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const root = resolve(import.meta.dirname, '..', '..');

interface Sources {
  core: string[];
  isa: Record<string, Record<string, { flags: string[]; sources: string[] }>>;
  addon: string[];
  cuda: string[];
  tests: Record<string, string[]>;
  cudaTests: Record<string, string[]>;
  fuzzers: Record<string, string[]>;
}
const sources = JSON.parse(readFileSync(join(root, 'native', 'sources.json'), 'utf8')) as Sources;

function walk(dir: string, keep: (name: string) => boolean): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...walk(path, keep));
    else if (keep(name)) out.push(relative(root, path));
  }
  return out;
}

const listed = [
  ...sources.core, ...sources.addon, ...sources.cuda,
  ...Object.values(sources.isa).flatMap((groups) => Object.values(groups).flatMap((g) => g.sources)),
];

test('every native source file is listed once in native/sources.json, and every listed file exists', () => {
  const onDisk = walk(join(root, 'native'), (n) => n.endsWith('.cpp') || n.endsWith('.cu')).sort();
  const seen = new Set<string>();
  for (const f of listed) {
    assert.ok(!seen.has(f), `${f} is listed twice`);
    seen.add(f);
    assert.ok(existsSync(join(root, f)), `${f} is listed but does not exist`);
  }
  assert.deepEqual(onDisk.filter((f) => !seen.has(f)), [], 'sources on disk that no build compiles');
});

test('ISA files carry their ISA in the name, so nothing else gets their flags', () => {
  for (const [arch, groups] of Object.entries(sources.isa)) {
    for (const [name, group] of Object.entries(groups)) {
      for (const f of group.sources) assert.match(f, new RegExp(`_${name}\\.cpp$`), `${f} in ${arch}/${name}`);
    }
  }
  for (const f of sources.core) assert.doesNotMatch(f, /_(avx2|avx512|avx512bf16|neon|neonbf16)\.cpp$/, `${f} is an ISA file in core`);
});

test('every fuzz harness is listed and exists', () => {
  const harnesses = readdirSync(join(root, 'test', 'fuzz')).filter((n) => /^fuzz_.*\.cpp$/.test(n)).map((n) => n.replace(/\.cpp$/, '')).sort();
  assert.deepEqual(Object.keys(sources.fuzzers).sort(), harnesses);
  for (const files of Object.values(sources.fuzzers)) for (const f of files) assert.ok(existsSync(join(root, f)), `${f} does not exist`);
});

test('every native test program is listed', () => {
  const programs = readdirSync(join(root, 'test', 'native')).filter((n) => /^test_.*\.cpp$/.test(n)).map((n) => n.replace(/\.cpp$/, '')).sort();
  const named = [...Object.keys(sources.tests), ...Object.keys(sources.cudaTests)].sort();
  assert.deepEqual(named, programs);
  for (const files of [...Object.values(sources.tests), ...Object.values(sources.cudaTests)]) {
    for (const f of files) assert.ok(existsSync(join(root, f)), `${f} does not exist`);
  }
});
