// The only file that loads the native addon: the platform package that matches this machine
// first (@sd-native/<platform>-<arch>-cuda when the user installed it, then
// @sd-native/<platform>-<arch>, an optional dependency with a prebuilt binary), then a local
// build (`npx sd-native build`). If nothing loads, the error says what was tried and
// what the user can do about it.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';

import type { NativeBinding } from './native.js';
import { moduleUrl, packageRoot } from './package-root.js';

export type { SafetensorsHeader, SystemInfo, TensorHeader } from './native.js';

const require = createRequire(moduleUrl);

/** the platforms we publish prebuilt binaries for */
export const PREBUILT_PLATFORMS = ['linux-x64', 'linux-arm64'] as const;

/**
 * glibc or musl on Linux, undefined elsewhere; only asked when nothing loaded (a process report
 * costs ~5 ms): npm installs the glibc packages only where their `libc` field matches.
 */
function linuxLibc(): 'glibc' | 'musl' | undefined {
  if (process.platform !== 'linux') return undefined;
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return report?.header?.glibcVersionRuntime ? 'glibc' : 'musl';
}

/** the platform package for this machine, e.g. @sd-native/linux-x64 */
export const platformPackage = `@sd-native/${process.platform}-${process.arch}`;
/** the same addon with the CUDA backend: never a dependency of ours, installed by the user, so preferred */
export const cudaPackage = `${platformPackage}-cuda`;

/** where `npx sd-native build` (node-gyp) leaves the addon */
export const localBuildPath: string = join(packageRoot, 'build', 'Release', 'sd_native.node');

interface Candidate { path: string | undefined; label: string; missing: string }

function resolvePackage(name: string): string | undefined {
  try {
    return require.resolve(`${name}/sd_native.node`);
  } catch {
    return undefined;
  }
}

function candidates(): Candidate[] {
  const list: Candidate[] = [];
  const override = process.env.SD_NATIVE_BINARY;
  if (override) list.push({ path: resolve(override), label: `SD_NATIVE_BINARY=${override}`, missing: 'file not found' });
  const cuda = resolvePackage(cudaPackage);
  // Only worth a line in the error when it was installed: most users never install it.
  if (cuda) list.push({ path: cuda, label: cudaPackage, missing: 'not installed' });
  list.push({ path: resolvePackage(platformPackage), label: platformPackage, missing: 'not installed' });
  list.push({ path: localBuildPath, label: 'local build', missing: 'not built' });
  return list;
}

function load(): { binding: NativeBinding; path: string } {
  const errors: string[] = [];
  for (const c of candidates()) {
    if (c.path === undefined || !existsSync(c.path)) {
      errors.push(`  ${c.label}: ${c.missing}${c.path ? ` (${c.path})` : ''}`);
      continue;
    }
    try {
      return { binding: require(c.path) as NativeBinding, path: c.path };
    } catch (e) {
      errors.push(`  ${c.label} (${c.path}): ${(e as Error).message.split('\n')[0]}`);
    }
  }
  const platform = `${process.platform}-${process.arch}`;
  const libc = linuxLibc();
  const published = (PREBUILT_PLATFORMS as readonly string[]).includes(platform) && libc !== 'musl';
  throw new Error(
    `sd-native could not load its native addon for ${platform}${libc ? ` (${libc})` : ''} ` +
      `(Node ${process.versions.node}, N-API ${process.versions.napi}).\n` +
      `Tried:\n${errors.join('\n')}\n` +
      'Possible solutions:\n' +
      (published
        ? `- Install the prebuilt binary: \`npm install ${platformPackage}\`, or reinstall without --omit=optional / --no-optional.\n`
        : `- No prebuilt binary is published for ${platform}${libc === 'musl' ? ' with musl' : ''} (we publish ${PREBUILT_PLATFORMS.join(', ')}, glibc).\n`) +
      '- Build it from source: `npx sd-native build` (needs python3, make and a C++17 compiler).\n' +
      '- Point SD_NATIVE_BINARY at a sd_native.node you built (e.g. `npm run build:cuda` in a clone).',
  );
}

const loaded = load();
export const native: NativeBinding = loaded.binding;
export const nativePath: string = loaded.path;
