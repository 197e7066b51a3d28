// sd-native bench: sd-native side by side with stable-diffusion.cpp and any command-template
// runtime, over a matrix of settings. Table and skip lines on stdout, the JSON report on the last
// line, progress on stderr, images and bench.svg in --out.
import { bench, type BenchOptions } from '../bench/run.js';
import { parseSize, type Dtype } from '../bench/matrix.js';
import { RANDOM_ARCHS, type RandomArch } from '../bench/random.js';
import { jsonLine, table } from '../bench/report.js';
import { UsageError, num, parse, processIo, str, stringFlags, type Io, type Parsed } from './args.js';

export const BENCH_USAGE = `usage: sd-native bench [options]

Runs each combination of the comma-separated lists below on sd-native and on the other runtimes
given, with the same prompt, seed (Philox noise), sampler, schedule and CFG, and reports load time,
seconds per step, VAE decode, peak RSS and the PSNR of each runtime's image against sd-native's.

  -m, --model <a,b,…>      checkpoints (default: the small model, 64x64)
      --random <sd1|sd2|sdxl,…>  full-size checkpoints with random weights, made once and cached
      --size <N|WxH,…>     image sizes (default: 512, or the random architecture's own)
      --sampler <a,b,…>    samplers (default euler)
      --steps <n,…>        sampling steps (default 4)
      --batch <n,…>        images per run (default 1)
      --dtype <f32|bf16,…> sd-native's compute dtype (default f32; other runtimes keep the file's)
      --sdcpp <path>       stable-diffusion.cpp's sd-cli (or sd, or a folder holding it)
      --runtime NAME=CMD   another runtime as a command template; placeholders: {model} {prompt}
                           {negative} {seed} {width} {height} {size} {steps} {sampler} {scheduler}
                           {cfg} {output} {batch} {dtype} {threads}; repeatable. It may print
                           "sampling completed, taking 1.2s" / "decode_first_stage completed, taking
                           0.3s" / "loading tensors completed, taking 0.5s" (sd.cpp's lines) to be
                           timed per phase; otherwise s/step is wall time / steps, marked *
      --prompt <text>      (default "a photograph of an astronaut riding a horse")
  -n, --negative <text>    negative prompt (default none)
      --seed <n>           (default 42)
      --cfg <scale>        (default 7)
      --scheduler <name>   (default normal, sd.cpp's discrete)
      --threads <n>        threads for every runtime (default: all cores)
      --out <dir>          where the images and bench.svg go (default: the current directory)
  -q, --quiet              no progress lines on stderr

example: sd-native bench --random sd1 --size 512 --steps 3 --sdcpp ~/stable-diffusion.cpp/build/bin/sd-cli`;

const FLAGS = {
  ...stringFlags('random', 'size', 'sampler', 'steps', 'batch', 'dtype', 'sdcpp', 'prompt', 'seed', 'cfg', 'scheduler', 'threads', 'out'),
  model: { type: 'string', short: 'm' },
  runtime: { type: 'string', multiple: true },
  negative: { type: 'string', short: 'n' },
  quiet: { type: 'boolean', short: 'q' },
} as const;

const list = (v: string | undefined) => v?.split(',').map((s) => s.trim()).filter((s) => s !== '');

function ints(values: Parsed['values'], flag: string): number[] | undefined {
  return list(str(values, flag))?.map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${flag} expects positive integers, got ${JSON.stringify(s)}`, BENCH_USAGE);
    return n;
  });
}

export async function benchCommand(args: string[], io: Io = processIo): Promise<number> {
  const { values, positionals } = parse(args, FLAGS, BENCH_USAGE);
  if (values.help) {
    io.stdout.write(`${BENCH_USAGE}\n`);
    return 0;
  }
  if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`, BENCH_USAGE);
  const random = list(str(values, 'random'));
  for (const a of random ?? []) {
    if (!(RANDOM_ARCHS as readonly string[]).includes(a)) throw new UsageError(`--random expects ${RANDOM_ARCHS.join(', ')}, got ${JSON.stringify(a)}`, BENCH_USAGE);
  }
  const dtypes = list(str(values, 'dtype'));
  for (const d of dtypes ?? []) if (d !== 'f32' && d !== 'bf16') throw new UsageError(`--dtype expects f32 or bf16, got ${JSON.stringify(d)}`, BENCH_USAGE);
  let sizes: Array<[number, number]> | undefined;
  try {
    sizes = list(str(values, 'size'))?.map(parseSize);
  } catch (e) {
    throw new UsageError(`--${(e as Error).message}`, BENCH_USAGE);
  }
  const options: BenchOptions = {
    models: list(str(values, 'model')),
    random: random as RandomArch[] | undefined,
    sizes,
    samplers: list(str(values, 'sampler')),
    steps: ints(values, 'steps'),
    batches: ints(values, 'batch'),
    dtypes: dtypes as Dtype[] | undefined,
    sdcpp: str(values, 'sdcpp'),
    runtimes: values.runtime as unknown as string[] | undefined,
    prompt: str(values, 'prompt'),
    negativePrompt: str(values, 'negative'),
    seed: num(values, 'seed', BENCH_USAGE),
    cfgScale: num(values, 'cfg', BENCH_USAGE),
    scheduler: str(values, 'scheduler'),
    threads: num(values, 'threads', BENCH_USAGE),
    out: str(values, 'out'),
    log: (line) => {
      // skip lines belong to the report; progress is chatter
      if (line.startsWith('skipped ') || line.includes(': no PSNR')) io.stdout.write(`${line}\n`);
      else if (!values.quiet) io.stderr.write(`${line}\n`);
    },
  };
  for (const k of Object.keys(options) as Array<keyof BenchOptions>) if (options[k] === undefined) delete options[k];
  const report = await bench(options);
  io.stdout.write(`${table(report)}\nchart: ${report.chart}\n${jsonLine(report)}\n`);
  return report.runtimes.some((r) => r.name === 'sd-native') ? 0 : 1;
}
