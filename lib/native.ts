// The whole surface of the native addon (native/addon/*.cpp), typed in one place. Only
// lib/binding.ts loads the addon; everything else sees it through these types.
import type { ModelInfo, StepEvent } from './pipeline.js';

export interface TensorHeader { name: string; dtype: string; shape: number[]; bytes: number }
export interface SafetensorsHeader { tensors: TensorHeader[]; metadata: Record<string, string>; fileBytes: number }
/** cuda: this build has the CUDA backend; autoDevice: what device 'auto' picks on this machine */
export interface SystemInfo {
  isa: string; cpuPaths: string[]; hardwareThreads: number; cuda: boolean; autoDevice: 'cpu' | 'cuda';
  /** why 'auto' runs on the CPU here (no CUDA in this build, no driver, no device); '' when it takes CUDA */
  noCudaReason: string;
}

/** one prompt as token ids: chunks of 77 ids, their weights, and each chunk's first end token */
export interface NativePrompt {
  ids: Int32Array; weights: Float32Array; eot: Int32Array;
  /** textual-inversion rows: positions in ids, then one row per position per encoder (main; SDXL bigG) */
  embedPositions: Int32Array; embedMain: Float32Array; embedSecond: Float32Array;
}

export interface NativeResult {
  images: Buffer[]; width: number; height: number; latent: Float32Array; seeds: number[]; cancelled: boolean;
  secondsText: number; secondsSampling: number; secondsDecode: number; peakActivationBytes: number;
  /** VAE tiles per image (0: the whole image in one graph); encodeTiles for img2img's init image */
  decodeTiles: number; encodeTiles: number;
  adapters: { modulesApplied: number; modulesUnmatched: number; tensorsChanged: number; mergedBytes: number; mergeSeconds: number; cached: boolean };
}

export interface NativeLoadOptions { threads: number; compute: 'f32' | 'bf16'; prediction: '' | 'eps' | 'v'; vae: string; loraCacheMB: number; vaeMemoryMB: number; taesd: string; device: string }

/** host <-> device traffic of one model since load (sd::TransferStats; zeros on the CPU) */
export interface NativeTransfers { uploads: number; uploadBytes: number; downloads: number; downloadBytes: number; weightUploads: number; weightBytes: number }

/** planMemory()'s request: the shapes of one generate() call */
export interface NativePlanRequest { width: number; height: number; batch: number; chunks: number; cfg: boolean; img2img: boolean; vaeTiling: 'auto' | 'true' | 'false' }

/** bytes each stage of that call would plan (sd::MemoryPlan) */
export interface NativeMemoryPlan {
  weightsBytes: number; textBytes: number; unetBytes: number; vaeBytes: number; vaeWholeBytes: number; vaeTiledBytes: number;
  /** VAE tiles per image as vaeTiling would run it; 0: the whole image */
  vaeTiles: number;
  /** weights + the largest stage */
  totalBytes: number;
}

/** a loaded checkpoint (native/addon/model.cpp) */
export interface NativeModel {
  info(): ModelInfo;
  transfers(): NativeTransfers;
  generate(params: object, onStep: ((e: StepEvent) => void) | undefined, cancel: Int32Array): Promise<NativeResult>;
  encodeText(prompt: NativePrompt, clipSkip: number): Promise<Float32Array>;
  dispose(): void;
  noiseStrip(rgb: Uint8Array, width: number, height: number, timesteps: number[], seed: number): Promise<Buffer[]>;
  /** the VAE alone on a scaled latent [batch, 4, h, w]; tiles: per image, 0 = the whole image at once */
  decodeLatent(latent: Float32Array, batch: number, h: number, w: number, tiling: 'auto' | 'true' | 'false'): Promise<{ images: Buffer[]; tiles: number; seconds: number }>;
  addNoise(latent: Float32Array, t: number, noise: Float32Array): Float32Array;
  /** measures the graphs of such a call without allocating them */
  planMemory(request: NativePlanRequest): NativeMemoryPlan;
}

/** one option of the native table (native/runtime/contract.cpp) */
export interface NativeOptionSpec {
  name: string;
  type: 'string' | 'integer' | 'number' | 'seed' | 'enum' | 'boolean' | 'function' | 'signal' | 'image' | 'loras';
  min?: number;
  max?: number;
  multipleOf?: number;
  values?: string[];
  /** enum: the values true and false stand for */
  booleans?: [string, string];
  default?: unknown;
  required?: boolean;
  doc: string;
}

export interface NativeNameSpec { name: string; aliases: string[]; defaultScheduler?: string }

/** the core's contract: option tables, sampler and scheduler names, CLIP token constants */
export interface NativeContract {
  generateOptions: NativeOptionSpec[];
  loadOptions: NativeOptionSpec[];
  samplers: NativeNameSpec[];
  schedulers: NativeNameSpec[];
  automaticScheduler: string[];
  tokens: { start: number; end: number; perChunk: number };
}

export interface NativeBinding {
  systemInfo(): SystemInfo;
  contract(): NativeContract;
  inspectSafetensors(path: string): SafetensorsHeader;
  readSmallTensors(path: string, maxBytes: number): Record<string, { shape: number[]; data: Float32Array }>;
  loadModel(path: string, options: NativeLoadOptions): Promise<NativeModel>;
}
