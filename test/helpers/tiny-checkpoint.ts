// One single-file SD1 checkpoint assembled from the goldens (tiny CLIP + tiny UNet + tiny VAE),
// written once per process into a temporary directory and removed at exit. It loads through the
// real loader as an SD1 model: CLIP width 64 / 2 heads / 2 layers, UNet 32 channels / 2 heads,
// VAE downscale 2 (32×32 images ↔ 16×16 latents).
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { readSafetensors, writeSafetensors, type StTensor } from './safetensors.js';

export const fixtures = resolve(import.meta.dirname, '..', 'fixtures');

const PARTS: Array<[file: string, prefix: string]> = [
  ['clip_text_tiny.safetensors', 'cond_stage_model.'],
  ['unet_sd1_tiny.safetensors', 'model.diffusion_model.'],
  ['vae_tiny.safetensors', 'first_stage_model.'],
];

let cached: string | undefined;
let dir: string | undefined;

/** A fresh temporary directory removed when the process exits. */
export function tempDir(): string {
  if (!dir) {
    dir = mkdtempSync(join(tmpdir(), 'sd-native-test-'));
    const d = dir;
    process.on('exit', () => rmSync(d, { recursive: true, force: true }));
  }
  return dir;
}

/** Path of the tiny SD1 checkpoint (built on first call). */
export function tinyCheckpoint(): string {
  if (cached) return cached;
  const tensors: Array<[string, StTensor]> = [];
  for (const [file, prefix] of PARTS) {
    for (const [name, t] of readSafetensors(join(fixtures, file)).tensors) {
      if (name.startsWith(prefix) && !name.startsWith('golden.')) tensors.push([name, t]);
    }
  }
  const path = join(tempDir(), 'sd-tiny.safetensors');
  writeSafetensors(path, tensors, { 'sd_native.unet_heads': '2', 'sd_native.clip_heads': '2' });
  cached = path;
  return path;
}

/**
 * A checkpoint made of parts of golden files (keys under `from` renamed to `to`), in tempDir();
 * `transform` may replace a tensor (by its new key).
 */
export function assemble(name: string, parts: Array<[file: string, from: string, to: string]>, metadata: Record<string, string>,
                         transform: (key: string, t: StTensor) => StTensor = (_key, t) => t): string {
  const tensors: Array<[string, StTensor]> = [];
  for (const [file, from, to] of parts)
    for (const [key, t] of readSafetensors(join(fixtures, file)).tensors)
      if (key.startsWith(from) && !key.startsWith('golden.')) tensors.push([to + key.slice(from.length), transform(to + key.slice(from.length), t)]);
  const path = join(tempDir(), name);
  writeSafetensors(path, tensors, metadata);
  return path;
}

const vae: [string, string, string] = ['vae_tiny.safetensors', 'first_stage_model.', 'first_stage_model.'];
// SDXL's two text encoders (CLIP-L + bigG) and their head counts, shared by the plain and inpainting UNets
const xlText = [
  ['clip_text_tiny.safetensors', 'cond_stage_model.transformer.', 'conditioner.embedders.0.transformer.'],
  ['openclip_text_tiny_sdxl.safetensors', 'conditioner.embedders.1.', 'conditioner.embedders.1.'],
] as const;
const xlMeta = { 'sd_native.unet_head_dim': '16', 'sd_native.clip_heads': '2', 'sd_native.clip_g_heads': '2' } as const;
const FAMILIES = {
  sd1: {
    parts: [['clip_text_tiny.safetensors', 'cond_stage_model.', 'cond_stage_model.'], ['unet_sd1_tiny.safetensors', 'model.diffusion_model.', 'model.diffusion_model.'], vae],
    metadata: { 'sd_native.unet_heads': '2', 'sd_native.clip_heads': '2' },
  },
  // a 9-channel inpainting UNet (latent + mask + masked-image latent), golden from ldm's DiffusionWrapper
  sd1_inpaint: {
    parts: [['clip_text_tiny.safetensors', 'cond_stage_model.', 'cond_stage_model.'], ['unet_sd1_inpaint_tiny.safetensors', 'model.diffusion_model.', 'model.diffusion_model.'], vae],
    metadata: { 'sd_native.unet_heads': '2', 'sd_native.clip_heads': '2' },
  },
  sd2: {
    parts: [['openclip_text_tiny_sd2.safetensors', 'cond_stage_model.', 'cond_stage_model.'], ['unet_sd2_tiny.safetensors', 'model.diffusion_model.', 'model.diffusion_model.'], vae],
    metadata: { 'sd_native.unet_head_dim': '16', 'sd_native.clip_heads': '2' },
  },
  sdxl: {
    parts: [
      ...xlText,
      ['unet_sdxl_tiny.safetensors', 'model.diffusion_model.', 'model.diffusion_model.'], vae,
    ],
    metadata: xlMeta,
  },
  // the 9-channel SDXL UNet, golden from sgm's OpenAIWrapper concat
  sdxl_inpaint: {
    parts: [
      ...xlText,
      ['unet_sdxl_inpaint_tiny.safetensors', 'model.diffusion_model.', 'model.diffusion_model.'], vae,
    ],
    metadata: xlMeta,
  },
} as const;

// The tiny SDXL UNet reads 64-wide context; its text encoders give 64 + 64. Its cross-attention
// keys and values get zero columns for the second half, so the checkpoint loads (its UNet output
// is not a reference of anything).
function widenCrossAttention(key: string, t: StTensor): StTensor {
  if (!/attn2\.to_[kv]\.weight$/.test(key) || t.dtype !== 'F32' || t.shape[1] !== 64) return t;
  const [rows, cols] = t.shape as [number, number];
  const from = new Float32Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength));
  const to = new Float32Array(rows * cols * 2);
  for (let r = 0; r < rows; r++) to.set(from.subarray(r * cols, (r + 1) * cols), r * cols * 2);
  return { dtype: 'F32', shape: [rows, cols * 2], data: Buffer.from(to.buffer) };
}

const familyPaths = new Map<string, string>();

/** A tiny checkpoint of each family, with the golden text encoders (SDXL: CLIP-L + bigG, 64 wide each). */
export function tinyFamilyCheckpoint(family: keyof typeof FAMILIES): string {
  let path = familyPaths.get(family);
  if (!path) {
    const { parts, metadata } = FAMILIES[family];
    path = assemble(`${family}-tiny.safetensors`, parts as unknown as Array<[string, string, string]>, metadata,
      family.startsWith('sdxl') ? widenCrossAttention : undefined);
    familyPaths.set(family, path);
  }
  return path;
}

/** A folder in tempDir() holding the golden TAESD decoder (taesd_golden.safetensors) under its upstream keys, as `name`. */
export function decoderFolder(sub: string, name: string): string {
  const dir = join(tempDir(), sub);
  mkdirSync(dir, { recursive: true });
  const golden = readSafetensors(join(fixtures, 'taesd_golden.safetensors'));
  const keys = [...golden.tensors].filter(([k]) => k.startsWith('decoder.')).map(([k, t]) => [k.slice('decoder.'.length), t] as const);
  writeSafetensors(join(dir, name), keys);
  return dir;
}
