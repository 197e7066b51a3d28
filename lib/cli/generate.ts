// sd-native generate "<prompt>": txt2img / img2img to PNG files with the A1111 parameters chunk.
import { readFileSync, writeFileSync } from 'node:fs';
import { extname } from 'node:path';

import { StableDiffusion, type GenerateOptions, type LoadOptions } from '../pipeline.js';
import { UsageError, num, parse, processIo, str, stringFlags, type Io } from './args.js';
import { modelPath } from './model.js';
import { Progress } from './progress.js';

export const GENERATE_USAGE = `usage: sd-native generate "<prompt>" [options]

  -n, --negative <text>    negative prompt
  -W, --width <px>         image width (default: the model's size, 512 for SD 1.x)
  -H, --height <px>        image height
      --steps <n>          sampling steps (default: the model's, else 20)
      --cfg <scale>        CFG scale (default: the model's, else 7)
      --seed <n>           seed; -1 = random (default)
      --sampler <name>     e.g. "Euler a" (default), euler, "DPM++ 2M", dpmpp_2m, ddim
      --scheduler <name>   automatic (default), normal, karras, exponential, sgm_uniform, simple
      --rng <cpu|cuda>     noise generator: torch CPU (default) or Philox as on NVIDIA GPUs
      --batch <n>          images per run (default 1)
      --clip-skip <n>      1 = last CLIP layer (default), 2 = penultimate
      --init <image>       img2img input, PNG / JPEG / WebP (its size is the output size unless -W/-H are given)
      --strength <0..1>    img2img denoising strength (default 0.75)
      --mask <image>       inpaint: white is repainted (with --init; --mask-blur <px>, default 4)
      --inpaint-masked     inpaint only a padded box around the mask at the output size
      --hires <scale>      hires fix: generate at -W × -H, enlarge by scale, refine (--hires-steps, --hires-strength,
                           --hires-prompt, --hires-negative: the refining pass's own prompts)
      --tiling             seamless, tileable image
      --lora <file[:w]>    apply a LoRA / LyCORIS file at weight w (default 1); repeatable
      --lora-dir <dir>     where <lora:name:weight> prompt tags find name.safetensors
      --embeddings-dir <dir> textual-inversion .safetensors files a prompt can name
  -m, --model <file>       checkpoint (.safetensors); default: the small model (@sd-native/tiny-model)
      --vae <file>         a VAE .safetensors used instead of the checkpoint's own
  -o, --output <file.png>  output (default out.png); a batch writes out.png, out-1.png, …
      --threads <n>        worker threads (default: all)
      --dtype <f32|bf16>   compute precision (default f32)
      --device <d>         auto (default: CUDA when built with it and a GPU is present), cpu, cuda, cuda:N
  -q, --quiet              no progress output`;

export const GENERATE_FLAGS = {
  negative: { type: 'string', short: 'n' },
  width: { type: 'string', short: 'W' },
  height: { type: 'string', short: 'H' },
  steps: { type: 'string' },
  cfg: { type: 'string' },
  seed: { type: 'string' },
  sampler: { type: 'string' },
  scheduler: { type: 'string' },
  rng: { type: 'string' },
  batch: { type: 'string' },
  'clip-skip': { type: 'string' },
  init: { type: 'string' },
  strength: { type: 'string' },
  mask: { type: 'string' },
  'mask-blur': { type: 'string' },
  'inpaint-masked': { type: 'boolean' },
  hires: { type: 'string' },
  'hires-steps': { type: 'string' },
  'hires-strength': { type: 'string' },
  'hires-prompt': { type: 'string' },
  'hires-negative': { type: 'string' },
  tiling: { type: 'boolean' },
  lora: { type: 'string', multiple: true },
  'lora-dir': { type: 'string' },
  'embeddings-dir': { type: 'string' },
  model: { type: 'string', short: 'm' },
  vae: { type: 'string' },
  output: { type: 'string', short: 'o' },
  threads: { type: 'string' },
  ...stringFlags('dtype', 'device'),
  quiet: { type: 'boolean', short: 'q' },
} as const;

/** --lora file.safetensors[:weight]: the weight after the last colon when it is a number (paths may hold colons). */
export function loraFlag(spec: string, usage: string): { path: string; weight: number } {
  const colon = spec.lastIndexOf(':');
  const tail = colon > 0 ? spec.slice(colon + 1) : '';
  if (colon > 0 && tail.trim() !== '' && Number.isFinite(Number(tail))) return { path: spec.slice(0, colon), weight: Number(tail) };
  if (spec === '') throw new UsageError('--lora expects a file, as --lora style.safetensors:0.8', usage);
  return { path: spec, weight: 1 };
}

/** out.png, out-1.png, out-2.png, … */
export function outputName(base: string, i: number): string {
  if (i === 0) return base;
  const ext = extname(base);
  return `${ext ? base.slice(0, -ext.length) : base}-${i}${ext || '.png'}`;
}

export async function generateCommand(args: string[], io: Io = processIo): Promise<number> {
  const { values: v, positionals } = parse(args, GENERATE_FLAGS, GENERATE_USAGE);
  if (v.help) {
    io.stdout.write(`${GENERATE_USAGE}\n`);
    return 0;
  }
  if (positionals.length === 0) throw new UsageError('generate needs a prompt', GENERATE_USAGE);
  const u = GENERATE_USAGE;
  const options: GenerateOptions = { prompt: positionals.join(' ') };
  const set = <K extends keyof GenerateOptions>(k: K, value: GenerateOptions[K] | undefined) => {
    if (value !== undefined) options[k] = value;
  };
  set('negativePrompt', str(v, 'negative'));
  set('width', num(v, 'width', u));
  set('height', num(v, 'height', u));
  set('steps', num(v, 'steps', u));
  set('cfgScale', num(v, 'cfg', u));
  set('seed', num(v, 'seed', u));
  set('sampler', str(v, 'sampler'));
  set('scheduler', str(v, 'scheduler'));
  set('rng', str(v, 'rng') as GenerateOptions['rng']);
  set('batchSize', num(v, 'batch', u));
  set('clipSkip', num(v, 'clip-skip', u));
  set('strength', num(v, 'strength', u));
  const loras = (v.lora as unknown as string[] | undefined) ?? [];
  if (loras.length) options.loras = loras.map((spec) => loraFlag(spec, u));
  const init = str(v, 'init');
  if (init !== undefined) {
    try {
      options.initImage = readFileSync(init);
    } catch (e) {
      throw new Error(`cannot read the --init image ${JSON.stringify(init)}: ${(e as Error).message}`);
    }
  } else if (v.strength !== undefined) {
    throw new UsageError('--strength applies to img2img; give the input image with --init', u);
  }
  const mask = str(v, 'mask');
  if (mask !== undefined) {
    if (init === undefined) throw new UsageError('--mask inpaints an --init image; give both', u);
    try {
      options.mask = readFileSync(mask);
    } catch (e) {
      throw new Error(`cannot read the --mask image ${JSON.stringify(mask)}: ${(e as Error).message}`);
    }
  }
  set('maskBlur', num(v, 'mask-blur', u));
  if (v['inpaint-masked'] === true) options.inpaintArea = 'masked';
  const hires = num(v, 'hires', u);
  if (hires !== undefined) (options.hires = true), (options.hiresScale = hires);
  set('hiresSteps', num(v, 'hires-steps', u));
  set('hiresStrength', num(v, 'hires-strength', u));
  set('hiresPrompt', str(v, 'hires-prompt'));
  set('hiresNegativePrompt', str(v, 'hires-negative'));
  if (v.tiling === true) options.tiling = true;
  const output = str(v, 'output') ?? 'out.png';
  const threads = num(v, 'threads', u);
  const dtype = str(v, 'dtype') as 'f32' | 'bf16' | undefined;
  const device = str(v, 'device') as LoadOptions['device'];
  const model = modelPath(str(v, 'model'));

  const quiet = v.quiet === true;
  const t0 = performance.now();
  const loraDir = str(v, 'lora-dir'), embeddingsDir = str(v, 'embeddings-dir'), vae = str(v, 'vae');
  const sd = await StableDiffusion.load(model, {
    ...(vae !== undefined ? { vae } : {}),
    ...(threads !== undefined ? { threads } : {}), ...(dtype !== undefined ? { dtype } : {}), ...(device !== undefined ? { device } : {}), ...(loraDir !== undefined ? { loraDir } : {}),
    ...(embeddingsDir !== undefined ? { embeddingsDir } : {}),
  });
  try {
    if (!quiet) io.stderr.write(`loaded ${model} (${sd.info.family}, ${((performance.now() - t0) / 1000).toFixed(2)} s)\n`);
    const progress = new Progress(io.stderr, !quiet);
    const controller = new AbortController();
    const onSigint = () => controller.abort(new Error('interrupted'));
    process.once('SIGINT', onSigint);
    let images;
    try {
      images = await sd.generate({ ...options, signal: controller.signal, onStep: (e) => progress.step(e) });
    } finally {
      process.off('SIGINT', onSigint);
      progress.end();
    }
    images.forEach((img, i) => {
      const file = outputName(output, i);
      writeFileSync(file, img.toPNG());
      if (!quiet) io.stderr.write(`wrote ${file} (${img.width}x${img.height}, seed ${img.seed})\n`);
      io.stdout.write(`${file}\n`);
    });
    const s = images[0]?.stats;
    if (!quiet && s) {
      io.stderr.write(`text ${s.textSeconds.toFixed(2)} s, sampling ${s.samplingSeconds.toFixed(2)} s, decode ${s.decodeSeconds.toFixed(2)} s\n`);
    }
  } finally {
    sd.dispose();
  }
  return 0;
}
