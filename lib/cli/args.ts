// Argument handling shared by the commands: node:util parseArgs with errors that become
// "sd-native: <message>" + usage and exit code 2.
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A mistake in the command line: printed with the command's usage, exit code 2. */
export class UsageError extends Error {
  constructor(message: string, readonly usage?: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Where a command writes: process.stdout / process.stderr, or a capture in tests. */
export interface Stream {
  write(text: string): unknown;
  isTTY?: boolean;
}
export interface Io {
  stdout: Stream;
  stderr: Stream;
}
export const processIo: Io = { stdout: process.stdout, stderr: process.stderr };

export type Options = NonNullable<ParseArgsConfig['options']>;

/** parseArgs options for flags that each take one string value (parsed later by num / str). */
export function stringFlags<const N extends string>(...names: N[]): { [K in N]: { type: 'string' } } {
  return Object.fromEntries(names.map((name) => [name, { type: 'string' }])) as { [K in N]: { type: 'string' } };
}

export interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/** parseArgs, strict; its errors (unknown flag, missing value) become UsageErrors. */
export function parse(args: string[], options: Options, usage: string): Parsed {
  try {
    const r = parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
    return { values: r.values as Parsed['values'], positionals: r.positionals };
  } catch (e) {
    const err = e as Error & { code?: string };
    let msg = err.message;
    // Node: "Unknown option '--foo'. To specify a positional argument starting with a '-', …"
    const m = /^Unknown option '([^']+)'/.exec(msg);
    if (m) msg = `unknown option ${m[1]}`;
    throw new UsageError(msg, usage);
  }
}

/** A command's parsed arguments, or undefined once --help has printed its usage; positionals
 * beyond `maxPositionals` are a UsageError naming the command. */
export function commandArgs(command: string, args: string[], options: Options, usage: string, io: Io, maxPositionals = 0): Parsed | undefined {
  const parsed = parse(args, options, usage);
  if (parsed.values.help) {
    io.stdout.write(`${usage}\n`);
    return undefined;
  }
  if (parsed.positionals.length > maxPositionals) {
    throw new UsageError(`${command} takes ${maxPositionals === 0 ? 'no positional arguments' : `at most ${maxPositionals}`}, got ${JSON.stringify(parsed.positionals.join(' '))}`, usage);
  }
  return parsed;
}

/** A numeric flag: Number(text), or a UsageError naming the flag. */
export function num(values: Parsed['values'], flag: string, usage: string): number | undefined {
  const v = values[flag];
  if (v === undefined) return undefined;
  const s = String(v).trim();
  const n = s === '' ? NaN : Number(s);
  if (!Number.isFinite(n)) throw new UsageError(`--${flag} expects a number, got ${JSON.stringify(v)}`, usage);
  return n;
}

export function str(values: Parsed['values'], flag: string): string | undefined {
  const v = values[flag];
  return v === undefined ? undefined : String(v);
}

/** Resolves on the first SIGINT or SIGTERM (a long-running command's cue to close cleanly). */
export function untilStopped(onSignal: (signal: string) => void): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      onSignal(signal);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
