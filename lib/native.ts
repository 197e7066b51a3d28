// The whole surface of the native addon (native/addon/*.cpp), typed in one place. Only
// lib/binding.ts loads the addon; everything else sees it through these types.
import type { ModelInfo, StepEvent } from './pipeline.js';

export interface TensorHeader { name: string; dtype: string; shape: number[]; bytes: number }
export interface SafetensorsHeader { tensors: TensorHeader[]; metadata: Record<string, string>; fileBytes: number }
export interface SystemInfo { isa: string; cpuPaths: string[]; hardwareThreads: number; cuda: boolean }

/** one prompt as token ids: chunks of 77 ids, their weights, and each chunk's first end token */
export interface NativePrompt { ids: Int32Array; weights: Float32Array; eot: Int32Array }

export interface NativeResult {
  images: Buffer[]; width: number; height: number; latent: Float32Array; seeds: number[]; cancelled: boolean;
  secondsText: number; secondsSampling: number; secondsDecode: number; peakActivationBytes: number;
}

export interface NativeLoadOptions { threads: number | undefined; compute: string | undefined; prediction: string | undefined }

/** a loaded checkpoint (native/addon/model.cpp) */
export interface NativeModel {
  info(): ModelInfo;
  generate(params: object, onStep: ((e: StepEvent) => void) | undefined, cancel: Int32Array): Promise<NativeResult>;
  encodeText(prompt: NativePrompt, clipSkip: number): Promise<Float32Array>;
  dispose(): void;
  noiseStrip?: (rgb: Uint8Array, width: number, height: number, timesteps: number[], seed: number) => Promise<Buffer[]>;
  addNoise(latent: Float32Array, t: number, noise: Float32Array): Float32Array;
}

export interface NativeBinding {
  systemInfo(): SystemInfo;
  inspectSafetensors(path: string): SafetensorsHeader;
  loadModel(path: string, options: NativeLoadOptions): Promise<NativeModel>;
}
