// Compiles lib/ into dist/: dist/esm (ES modules + .d.ts, from esbuild and tsc) and dist/cjs
// (CommonJS, with the same .d.ts under a {"type":"commonjs"} package.json so TypeScript reads
// them as CommonJS declarations). Run by `npm run build:dist`, before `npm test` and by pack:all.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dist = join(root, 'dist');
const require = createRequire(import.meta.url);

function listTs(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...listTs(path));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

rmSync(dist, { recursive: true, force: true });
const entryPoints = listTs(join(root, 'lib'));
const common = { entryPoints, outbase: join(root, 'lib'), platform: 'node', target: 'node20', sourcemap: false, logLevel: 'warning' };

await build({ ...common, outdir: join(dist, 'esm'), format: 'esm' });
// CommonJS has no import.meta: the one use (lib/package-root.ts) gets the file's own URL.
await build({
  ...common,
  outdir: join(dist, 'cjs'),
  format: 'cjs',
  define: { 'import.meta.url': '__sdModuleUrl' },
  banner: { js: "const __sdModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
});
writeFileSync(join(dist, 'cjs', 'package.json'), '{ "type": "commonjs" }\n');

const tsc = require.resolve('typescript/bin/tsc');
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json'), '--emitDeclarationOnly', '--outDir', join(dist, 'esm')], { stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status ?? 1);
for (const file of listDts(join(dist, 'esm'))) {
  const target = join(dist, 'cjs', relative(join(dist, 'esm'), file));
  mkdirSync(dirname(target), { recursive: true });
  cpSync(file, target);
}

function listDts(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...listDts(path));
    else if (name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}
