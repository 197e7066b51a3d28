// sd-native command line: generate, info, doctor, noise, serve, worker, bench. Exit codes: 0 done, 1 failed, 2 bad usage.
import { SdError } from '../errors.js';
import { UsageError, processIo, type Io } from './args.js';

export const USAGE = `usage: sd-native <command> [options]

  generate "<prompt>"   make images (PNG with A1111 parameters); sd-native generate --help
  info [model]          what a checkpoint holds: family, dtypes, parameters, memory estimate
  info <image.png>      the generation parameters written into an image (A1111 infotext); --json
  doctor                CPU paths, threads, CUDA, which native binary loaded, versions
  noise <image.png>     forward diffusion strip of an image at chosen timesteps
  serve                 HTTP server: A1111 + OpenAI APIs; sd-native serve --help
  worker                run the jobs of a shared queue (serve --queue redis://…); sd-native worker --help
  bench                 speed, memory and PSNR side by side with stable-diffusion.cpp and others
  build                 compile the native addon from source (when no prebuilt binary fits)
  help [command]        this text, or a command's options
  --version             the package version`;

// Each command loads on demand: `--help` and `build` start without the addon, fastify loads
// only for the server.
const COMMANDS: Record<string, (args: string[], io: Io) => Promise<number>> = {
  generate: async (args, io) => (await import('./generate.js')).generateCommand(args, io),
  info: async (args, io) => (await import('./info.js')).infoCommand(args, io),
  doctor: async (args, io) => (await import('./doctor.js')).doctorCommand(args, io),
  noise: async (args, io) => (await import('./noise.js')).noiseCommand(args, io),
  serve: async (args, io) => (await import('./serve.js')).serveCommand(args, io),
  worker: async (args, io) => (await import('./worker.js')).workerCommand(args, io),
  bench: async (args, io) => (await import('./bench.js')).benchCommand(args, io),
  build: async (args, io) => (await import('./build.js')).buildCommand(args, io),
};

/** Runs one command line (without `node sd-native`); returns the exit code. */
export async function run(argv: string[], io: Io = processIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined || command === '--help' || command === '-h') {
      io.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    }
    if (command === '--version' || command === '-v') {
      const { packageVersion } = await import('../package-root.js');
      io.stdout.write(`${packageVersion}\n`);
      return 0;
    }
    if (command === 'help') {
      const sub = rest[0];
      if (sub !== undefined && COMMANDS[sub]) return await COMMANDS[sub]!(['--help'], io);
      io.stdout.write(`${USAGE}\n`);
      return 0;
    }
    const fn = COMMANDS[command];
    if (!fn) throw new UsageError(`unknown command ${JSON.stringify(command)}`, USAGE);
    return await fn(rest, io);
  } catch (e) {
    if (e instanceof UsageError || (e instanceof SdError && e.code === 'ERR_SD_INVALID_OPTION')) {
      const usage = e instanceof UsageError ? e.usage : undefined;
      io.stderr.write(`sd-native: ${e.message}\n${usage ? `\n${usage}\n` : `(see sd-native ${command} --help)\n`}`);
      return 2;
    }
    io.stderr.write(`sd-native: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}
