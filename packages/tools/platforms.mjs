// The platforms we publish prebuilt addons for, and how CMake builds each: one place for
// pack-all.mjs and the tests that run the same build (test/e2e/arm64.test.ts).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(import.meta.url);

export const platforms = [
  { name: 'linux-x64', cxx: 'g++', strip: 'strip', toolchain: undefined, hint: 'apt-get install g++' },
  {
    name: 'linux-arm64', cxx: 'aarch64-linux-gnu-g++', strip: 'aarch64-linux-gnu-strip',
    toolchain: join(root, 'packages', 'linux-arm64', 'toolchain.cmake'), hint: 'apt-get install g++-aarch64-linux-gnu',
    sysroot: '/usr/aarch64-linux-gnu', emulator: 'qemu-aarch64',
  },
  // The x64 addon with the CUDA backend linked in (CUDA runtime static): the CPU path too, so it
  // loads and runs without a GPU or a driver. nvcc builds the kernels for CMakeLists' architectures.
  {
    name: 'linux-x64-cuda', cxx: 'g++', strip: 'strip', toolchain: undefined, needs: 'nvcc',
    hint: 'install the CUDA toolkit (nvcc) from https://developer.nvidia.com/cuda-downloads', cmakeArgs: ['-DSD_CUDA=ON'],
  },
];

export const buildDir = (platform) => join(root, 'build-native', platform.name);
export const hasCommand = (cmd) => spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
/** the tools a platform's build needs that this machine lacks */
export const missingTools = (platform) => [platform.cxx, platform.needs].filter((cmd) => cmd && !hasCommand(cmd));

export function run(cmd, args, cwd = root) {
  const r = spawnSync(cmd, args, { cwd, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal})`);
}

/** Configures (once) and builds targets in the platform's Release tree: the addon, test programs. */
export function cmakeBuild(platform, targets) {
  const dir = buildDir(platform);
  run('cmake', ['-S', root, '-B', dir, '-DCMAKE_BUILD_TYPE=Release', '-DSD_STATIC_RUNTIME=ON', '-DSD_TESTS=ON',
    `-DSD_NODE_INCLUDE_DIR=${require('node-api-headers').include_dir}`,
    ...(platform.toolchain ? [`-DCMAKE_TOOLCHAIN_FILE=${platform.toolchain}`] : []), ...(platform.cmakeArgs ?? [])]);
  run('cmake', ['--build', dir, '-j', String(availableParallelism()), ...targets.flatMap((t) => ['--target', t])]);
  return dir;
}
