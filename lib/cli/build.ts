// sd-native build: compiles the native addon from the sources this package ships, with node-gyp,
// into build/Release/sd_native.node (the loader's second choice, after the platform package).
// Only for machines no prebuilt binary fits, or to try local changes: it needs python3, make and
// a C++17 compiler; nothing else in sd-native ever compiles.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';

import { moduleUrl, packageRoot } from '../package-root.js';
import { num, parse, processIo, type Io } from './args.js';

export const BUILD_USAGE = `usage: sd-native build [--jobs N]

Compiles the CPU addon from source with node-gyp into ${join('build', 'Release', 'sd_native.node')} inside
the installed package. Needs python3, make and g++ (or clang) with C++17. The prebuilt binary of
your platform's package is used instead whenever it loads.

  -j, --jobs <n>     parallel compiler jobs (default: all cores)`;

/** node-gyp's entry script: npm's own copy, else one installed next to this package. */
export function findNodeGyp(): string | undefined {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  try {
    candidates.push(createRequire(moduleUrl).resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not installed beside us
  }
  return candidates.find((p): p is string => p !== undefined && existsSync(p));
}

export async function buildCommand(args: string[], io: Io = processIo): Promise<number> {
  const { values } = parse(args, { jobs: { type: 'string', short: 'j' } }, BUILD_USAGE);
  if (values.help) {
    io.stdout.write(`${BUILD_USAGE}\n`);
    return 0;
  }
  const jobs = num(values, 'jobs', BUILD_USAGE) ?? availableParallelism();
  const nodeGyp = findNodeGyp();
  if (nodeGyp === undefined) {
    io.stderr.write('sd-native build: node-gyp not found (npm ships it; or `npm install -g node-gyp`)\n');
    return 1;
  }
  io.stderr.write(`sd-native build: node-gyp rebuild in ${packageRoot} (${jobs} jobs)\n`);
  const r = spawnSync(process.execPath, [nodeGyp, 'rebuild', '-j', String(jobs)], { cwd: packageRoot, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) {
    io.stderr.write('sd-native build: the compile failed (see above); it needs python3, make and a C++17 compiler\n');
    return 1;
  }
  io.stderr.write(`sd-native build: done: ${join(packageRoot, 'build', 'Release', 'sd_native.node')}\n`);
  return 0;
}
