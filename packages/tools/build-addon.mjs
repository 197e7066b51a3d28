// Builds the CPU addon in a clone with node-gyp (from `npm install` via prepare, or
// `npm run build:addon`): a full configure the first time or when the source list or binding.gyp
// changed, incremental builds otherwise.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const nodeGyp = createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
const makefile = join(root, 'build', 'Makefile');
const inputs = [join(root, 'binding.gyp'), join(root, 'native', 'sources.json')];
const fresh = existsSync(join(root, 'build', 'config.gypi')) && existsSync(makefile) &&
  inputs.every((f) => statSync(f).mtimeMs < statSync(makefile).mtimeMs);
const verb = fresh ? 'build' : 'rebuild';
const r = spawnSync(process.execPath, [nodeGyp, verb, '-j', String(availableParallelism())], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
