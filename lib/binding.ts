// The only file that loads the native addon. If nothing loads, the error says what was tried
// and what the user can do about it.
import { createRequire } from 'node:module';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface TensorHeader { name: string; dtype: string; shape: number[]; bytes: number }
export interface SafetensorsHeader { tensors: TensorHeader[]; metadata: Record<string, string>; fileBytes: number }
export interface SystemInfo { isa: string; cpuPaths: string[]; hardwareThreads: number; cuda: boolean }

export interface NativeBinding {
  systemInfo(): SystemInfo;
  inspectSafetensors(path: string): SafetensorsHeader;
  [name: string]: unknown;
}

const require = createRequire(import.meta.url);
export const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function candidates(): string[] {
  const tried: string[] = [];
  if (process.env.SD_NATIVE_BINARY) tried.push(resolve(process.env.SD_NATIVE_BINARY));
  const prebuildDir = join(packageRoot, 'prebuilds', `${process.platform}-${process.arch}`);
  if (existsSync(prebuildDir)) for (const f of readdirSync(prebuildDir)) if (f.endsWith('.node')) tried.push(join(prebuildDir, f));
  tried.push(join(packageRoot, 'build', 'Release', 'sd_native.node'));
  tried.push(join(packageRoot, 'build', 'Debug', 'sd_native.node'));
  return tried;
}

function load(): { binding: NativeBinding; path: string } {
  const errors: string[] = [];
  for (const path of candidates()) {
    if (!existsSync(path)) {
      errors.push(`  ${path}: not found`);
      continue;
    }
    try {
      return { binding: require(path) as NativeBinding, path };
    } catch (e) {
      errors.push(`  ${path}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  throw new Error(
    `sd-native could not load its native addon for ${process.platform}-${process.arch} (Node ${process.versions.node}, N-API ${process.versions.napi}).\n` +
      `Tried:\n${errors.join('\n')}\n` +
      'Possible solutions:\n' +
      '- Build it from source: `npm rebuild sd-native` (needs python3, make and a C++17 compiler).\n' +
      '- In a clone of the repository: `npm install` builds it, or `npm run build`.\n' +
      '- For the CUDA build: `npm run build:cuda`, then set SD_NATIVE_BINARY to build/Release/sd_native.node.\n' +
      '- Check that `npm install` ran with --ignore-scripts off.',
  );
}

const loaded = load();
export const native: NativeBinding = loaded.binding;
export const nativePath: string = loaded.path;
