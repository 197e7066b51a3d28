// sd-native: Stable Diffusion for Node.js.
//
//   import { StableDiffusion } from 'sd-native';
//   await using sd = await StableDiffusion.load('v1-5-pruned-emaonly.safetensors');
//   const [image] = await sd.generate({ prompt: 'a photo of a cat', steps: 20, seed: 42 });
//   writeFileSync('cat.png', image.toPNG());      // A1111 "parameters" chunk included
import { native, nativePath } from './binding.js';
import type { SafetensorsHeader, SystemInfo } from './native.js';
import { packageVersion } from './package-root.js';
import { fromNative } from './errors.js';

export { StableDiffusion } from './pipeline.js';
export type { BatchItem, GenerateOptions, LoadOptions, MemoryPlan, ModelInfo, NoiseImage, StepEvent, TextEmbedding } from './pipeline.js';
export { GeneratedImage, formatParameters } from './image.js';
export type { GenerationParameters, GenerationStats, ImageLike } from './image.js';
export { a1111Parameters, generateOptions, parseParameters, readParameters } from './infotext.js';
export type { A1111Value, ReadParameters } from './infotext.js';
export { SdError } from './errors.js';
export type { SdErrorCode } from './errors.js';
export { decodePng, encodePng, readPngText } from './png.js';
export { GENERATE_OPTIONS, LOAD_OPTIONS } from './options.js';
export type { OptionSpec } from './options.js';
export { samplers, schedulers } from './options.js';
export type { SamplerName, SchedulerName } from './options.js';
export type { SafetensorsHeader, SystemInfo, TensorHeader } from './native.js';
export { bench } from './bench/run.js';
export type { BenchOptions } from './bench/run.js';
export type { BenchReport, RunResult, Skipped } from './bench/result.js';

/** The package version. */
export const version: string = packageVersion;

/** What this binary can use: CPU paths (scalar … avx512bf16, neon, neonbf16), the one selected, threads, CUDA. */
export function systemInfo(): SystemInfo & { binary: string } {
  return { ...native.systemInfo(), binary: nativePath };
}

/** A safetensors file's validated header (names, dtypes, shapes, metadata) without reading data. */
export function inspect(path: string): SafetensorsHeader {
  try {
    return native.inspectSafetensors(path);
  } catch (e) {
    throw fromNative(e, 'ERR_SD_LOAD');
  }
}
