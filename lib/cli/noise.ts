// sd-native noise <image.png>: the forward diffusion of an image's latent at chosen timesteps,
// decoded back to pixels and laid side by side — what "noise level t" looks like.
import { readFileSync, writeFileSync } from 'node:fs';

import { encodePng } from '../png.js';
import { StableDiffusion } from '../pipeline.js';
import { UsageError, commandArgs, num, processIo, str, type Io } from './args.js';
import { modelPath } from './model.js';

export const NOISE_USAGE = `usage: sd-native noise <image.png> [--steps 0,250,500,750,999] [-o strip.png] [-m model] [--seed n]

Encodes the image with the model's VAE, noises the latent to each timestep (q(x_t | x_0)),
decodes each back and writes them left to right into one PNG.`;

const FLAGS = {
  steps: { type: 'string' },
  output: { type: 'string', short: 'o' },
  model: { type: 'string', short: 'm' },
  seed: { type: 'string' },
  threads: { type: 'string' },
} as const;

/** Images of equal height side by side (RGBA). */
export function hstack(images: Array<{ data: Uint8Array; width: number; height: number }>): { data: Buffer; width: number; height: number } {
  const height = images[0]!.height;
  const width = images.reduce((a, im) => a + im.width, 0);
  const out = Buffer.alloc(width * height * 4);
  let x0 = 0;
  for (const im of images) {
    for (let y = 0; y < height; y++) out.set(im.data.subarray(y * im.width * 4, (y + 1) * im.width * 4), (y * width + x0) * 4);
    x0 += im.width;
  }
  return { data: out, width, height };
}

export function parseTimesteps(text: string, usage: string): number[] {
  const list = text.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  if (list.length === 0 || list.some((t) => !Number.isInteger(t) || t < 0 || t > 999)) {
    throw new UsageError(`--steps must be a comma-separated list of integers 0..999, got ${JSON.stringify(text)}`, usage);
  }
  return list;
}

export async function noiseCommand(args: string[], io: Io = processIo): Promise<number> {
  const parsed = commandArgs('noise', args, FLAGS, NOISE_USAGE, io, Infinity);
  if (!parsed) return 0;
  const { values: v, positionals } = parsed;
  if (positionals.length !== 1) throw new UsageError('noise takes one input image', NOISE_USAGE);
  const input = positionals[0]!;
  const timesteps = parseTimesteps(str(v, 'steps') ?? '0,250,500,750,999', NOISE_USAGE);
  const output = str(v, 'output') ?? 'strip.png';
  const seed = num(v, 'seed', NOISE_USAGE) ?? 0;
  const threads = num(v, 'threads', NOISE_USAGE);
  let png: Buffer;
  try {
    png = readFileSync(input);
  } catch (e) {
    throw new Error(`cannot read ${JSON.stringify(input)}: ${(e as Error).message}`);
  }
  const sd = await StableDiffusion.load(modelPath(str(v, 'model')), threads !== undefined ? { threads } : {});
  try {
    const frames = await sd.noise(png, { timesteps, seed });
    const strip = hstack(frames);
    const text = { Description: `forward diffusion q(x_t | x_0) of ${input} at t = ${timesteps.join(', ')}; seed ${seed}` };
    writeFileSync(output, encodePng({ ...strip, channels: 4 }, { text }));
    io.stdout.write(`${output}\n`);
  } finally {
    sd.dispose();
  }
  return 0;
}
