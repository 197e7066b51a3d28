// npm run bench:ops — op GFLOP/s at SD1.5 shapes next to the machine's measured FMA peak.
// Compiles the peak probe and the graph-level op bench against the static libraries that
// `npm install` / `npm run build` left in build/Release, runs both, prints a table, and ends
// with one JSON line combining them.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const out = join(root, 'bench', 'out');
mkdirSync(out, { recursive: true });
const libs = ['sd_core', 'sd_core_avx2', 'sd_core_avx512', 'sd_core_avx512bf16'].map((l) => join(root, 'build', 'Release', 'obj.target', `${l}.a`));
for (const l of libs) if (!existsSync(l)) throw new Error(`${l} is missing: run \`npm run build\` first`);

const cxx = process.env.CXX ?? 'g++';
const peakBin = join(out, 'peak');
// no ISA flags: the probe picks its loops at run time, so it runs on AVX2-only machines too
execFileSync(cxx, ['-O2', '-std=c++17', `-I${join(root, 'native')}`, join(root, 'bench/kernels/peak/peak.cpp'), '-o', peakBin, ...libs, '-lpthread'], { stdio: 'inherit' });
const opsBin = join(out, 'ops_graph');
execFileSync(cxx, ['-O2', '-std=c++17', `-I${join(root, 'native')}`, join(root, 'bench/ops_graph.cpp'), '-o', opsBin, ...libs, '-lpthread'], { stdio: 'inherit' });

const lastJson = (text: string) => JSON.parse(text.trim().split('\n').filter((l) => l.startsWith('{')).pop() ?? '{}');
const peakText = execFileSync(peakBin, { encoding: 'utf8' });
process.stdout.write(peakText);
const peak = lastJson(peakText);
const opsText = execFileSync(opsBin, [process.env.SD_NATIVE_REPS ?? '5'], { encoding: 'utf8' });
process.stdout.write(opsText);
const ops = lastJson(opsText);
console.log(JSON.stringify({ bench: 'ops', date: new Date().toISOString(), peak, ops: ops.results, winograd: ops.winograd }));
