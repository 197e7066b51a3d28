// Builds the CPU addon in a clone with node-gyp (from `npm install` via prepare, or
// `npm run build:addon`): a full configure the first time, then incremental builds.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const nodeGyp = createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
const verb = existsSync(join(root, 'build', 'config.gypi')) && existsSync(join(root, 'build', 'Makefile')) ? 'build' : 'rebuild';
const r = spawnSync(process.execPath, [nodeGyp, verb, '-j', String(availableParallelism())], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
