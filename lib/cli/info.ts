// sd-native info <model>: what a checkpoint holds, from its header alone (no weights read).
import { inspect } from '../index.js';
import type { SafetensorsHeader, TensorHeader } from '../binding.js';
import { UsageError, parse, processIo, type Io } from './args.js';
import { imageInfo, isPngFile } from './info-image.js';
import { modelPath } from './model.js';

export const INFO_USAGE = `usage: sd-native info [<model.safetensors>]
       sd-native info <image.png> [--json]

A model: family, tensor count, dtypes, parameters per component and a rough memory estimate per
size, read from the file's header (fast: no weights are loaded). Default model: the small model
(@sd-native/tiny-model).
An image: the generation parameters in its A1111 "parameters" chunk (A1111, sd-native), in
generate() option names; --json prints them as JSON.`;

const COMPONENTS: Array<[prefix: string, label: string]> = [
  ['model.diffusion_model.', 'UNet'],
  ['first_stage_model.', 'VAE'],
  ['cond_stage_model.', 'text encoder'],
  ['conditioner.', 'text encoders'],
];

export interface ModelSummary {
  family: 'sd1' | 'sd2' | 'sdxl' | 'unknown';
  tensors: number;
  fileBytes: number;
  dtypes: Array<{ dtype: string; tensors: number; bytes: number }>;
  components: Array<{ prefix: string; label: string; tensors: number; parameters: number; bytes: number }>;
  unetChannels?: number;
  vaeDownscale?: number;
  vaeChannels?: number;
  /** rough memory estimate per square size (batch 1, CFG on) */
  memory: Array<{ size: number; weightsBytes: number; activationBytes: number }>;
}

const numel = (t: TensorHeader) => t.shape.reduce((a, b) => a * b, 1);

/** Activations of one generation at size×size, roughly: the larger of the UNet (two CFG rows,
 *  ~40 live full-resolution tensors of its base width) and the VAE decoder (~8 full-size tensors
 *  of its top width, plus its mid-block attention scores). */
export function estimateActivations(size: number, f: number, unetChannels: number, vaeChannels: number): number {
  const latent = (size / f) ** 2;
  const unet = 2 * 4 * latent * unetChannels * 40;
  const vae = 4 * size * size * vaeChannels * 8 + 4 * latent ** 2;
  return Math.max(unet, vae);
}

export function summarize(h: SafetensorsHeader): ModelSummary {
  const names = new Set(h.tensors.map((t) => t.name));
  const family = names.has('conditioner.embedders.1.model.ln_final.weight') || names.has('model.diffusion_model.label_emb.0.0.weight') ? 'sdxl'
    : names.has('cond_stage_model.model.ln_final.weight') ? 'sd2'
    : names.has('cond_stage_model.transformer.text_model.final_layer_norm.weight') ? 'sd1' : 'unknown';
  const dt = new Map<string, { tensors: number; bytes: number }>();
  for (const t of h.tensors) {
    const d = dt.get(t.dtype) ?? { tensors: 0, bytes: 0 };
    d.tensors++;
    d.bytes += t.bytes;
    dt.set(t.dtype, d);
  }
  const components = [...COMPONENTS, ['', 'other'] as [string, string]].map(([prefix, label]) => ({ prefix, label, tensors: 0, parameters: 0, bytes: 0 }));
  for (const t of h.tensors) {
    const c = components.find((c) => c.prefix !== '' && t.name.startsWith(c.prefix)) ?? components[components.length - 1]!;
    c.tensors++;
    c.parameters += numel(t);
    c.bytes += t.bytes;
  }
  const find = (n: string) => h.tensors.find((t) => t.name === n);
  const unetChannels = find('model.diffusion_model.input_blocks.0.0.weight')?.shape[0];
  const vaeChannels = find('first_stage_model.decoder.conv_out.weight')?.shape[1];
  const levels = new Set(h.tensors.map((t) => /^first_stage_model\.decoder\.up\.(\d+)\./.exec(t.name)?.[1]).filter((x) => x !== undefined));
  const vaeDownscale = levels.size > 0 ? 2 ** (levels.size - 1) : undefined;
  const weightsBytes = components.filter((c) => c.label !== 'other').reduce((a, c) => a + c.bytes, 0);
  const memory = unetChannels && vaeChannels && vaeDownscale
    ? [64, 96, 128].map((n) => n * vaeDownscale).map((size) => ({ size, weightsBytes, activationBytes: estimateActivations(size, vaeDownscale, unetChannels, vaeChannels) }))
    : [];
  return {
    family, tensors: h.tensors.length, fileBytes: h.fileBytes,
    dtypes: [...dt].map(([dtype, d]) => ({ dtype, ...d })).sort((a, b) => b.bytes - a.bytes),
    components: components.filter((c) => c.tensors > 0), unetChannels, vaeDownscale, vaeChannels, memory,
  };
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024, i = 0;
  while (v >= 1024 && i < units.length - 1) (v /= 1024), i++;
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

export function count(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)}B` : n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}K` : String(n);
}

export function formatSummary(path: string, s: ModelSummary): string {
  const lines = [
    `file        ${path} (${bytes(s.fileBytes)})`,
    `family      ${s.family === 'unknown' ? 'unknown: not a Stable Diffusion checkpoint sd-native recognises' : s.family}` +
      (s.unetChannels ? ` (UNet ${s.unetChannels} channels, VAE ×${s.vaeDownscale ?? '?'})` : ''),
    `tensors     ${s.tensors}`,
    `dtypes      ${s.dtypes.map((d) => `${d.dtype} ${d.tensors} (${bytes(d.bytes)})`).join(', ')}`,
    'parameters',
    ...s.components.map((c) => `  ${c.label.padEnd(14)} ${count(c.parameters).padStart(8)}  ${bytes(c.bytes).padStart(10)}  ${c.prefix ? c.prefix + '*' : '(other keys)'}`),
  ];
  if (s.memory.length) {
    lines.push('memory (rough, batch 1 with CFG: weights + activations)');
    for (const m of s.memory) {
      lines.push(`  ${`${m.size}x${m.size}`.padEnd(11)} ${bytes(m.weightsBytes).padStart(10)} + ~${bytes(m.activationBytes).padEnd(10)} = ~${bytes(m.weightsBytes + m.activationBytes)}`);
    }
  }
  return lines.join('\n');
}

export async function infoCommand(args: string[], io: Io = processIo): Promise<number> {
  const { values, positionals } = parse(args, { model: { type: 'string', short: 'm' }, json: { type: 'boolean' } }, INFO_USAGE);
  if (values.help) {
    io.stdout.write(`${INFO_USAGE}\n`);
    return 0;
  }
  if (positionals.length > 1) throw new UsageError(`info takes one model or image, got ${positionals.length}`, INFO_USAGE);
  if (positionals[0] !== undefined && isPngFile(positionals[0])) return imageInfo(positionals[0], values.json === true, io);
  const path = modelPath(positionals[0] ?? (values.model as string | undefined));
  io.stdout.write(`${formatSummary(path, summarize(inspect(path)))}\n`);
  return 0;
}
