// The JS fuzz loop: corpus first, then mutated inputs for a time budget, keeping inputs whose
// signature is new (a cheap stand-in for coverage). A finding (a broken invariant, an unexpected
// exception, an input that takes over a second) is saved under the output folder.
//
//   node --import tsx test/fuzz/js/run.ts [--seconds 600] [--seed 1] [--out dir] [png|tokenizer|prompt ...]
//   node --import tsx test/fuzz/js/run.ts --replay <file> <target>
//   --trace <file>: each input written there before it runs (finds an input that hangs)
//   --state <dir> --executions N: a long run that survives being stopped: the pool, the signatures
//   and the execution count are saved there every minute and picked up by the next start, which
//   mutates from a new seed; it ends when the target has run N executions in all.
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { Rng, mutate } from './mutate.js';
import { TARGETS, type Target } from './targets.js';

export const CORPUS_ROOT = resolve(import.meta.dirname, '..', 'corpus');

export interface Finding { error: string; file: string }
export interface FuzzResult { target: string; executions: number; seconds: number; kept: number; signatures: number; findings: Finding[] }

/** What a long run carries from one start to the next. */
interface SavedRun { executions: number; seconds: number; starts: number; pool: string[]; signatures: string[] }

const SAVE_EVERY_MS = 60_000;

function loadRun(file: string): SavedRun | undefined {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as SavedRun) : undefined;
}

function saveRun(file: string, run: SavedRun): void {
  // written beside and renamed, so a run killed mid-write keeps the previous save
  writeFileSync(`${file}.tmp`, JSON.stringify(run));
  renameSync(`${file}.tmp`, file);
}

const SLOW_MS = 1000;
const MAX_POOL = 4096;

/** Corpus inputs, and a dictionary of the syntax tokens and words they contain. */
export function loadCorpus(target: Target): { inputs: Buffer[]; dictionary: Buffer[] } {
  const dir = join(CORPUS_ROOT, target.corpus);
  const inputs = readdirSync(dir).sort().map((f) => readFileSync(join(dir, f)));
  const words = new Set<string>();
  if (target.corpus === 'png') ['IHDR', 'PLTE', 'IDAT', 'IEND', 'tEXt', 'zTXt', 'iTXt', 'tRNS', 'parameters\0'].forEach((w) => words.add(w));
  else {
    ['(', ')', '[', ']', ':', '|', '\\', 'BREAK', ' BREAK ', '<lora:', '>', '::', ':0.5)', ':1.2]', '[a:b:0.5]', '[a|b]', '&amp;', '١٢', '\u00e2\u0080\u0099', '99999999999999999999'].forEach((w) => words.add(w));
    for (const t of inputs) for (const w of t.toString('utf8').split(/\s+/)) if (w && w.length <= 24) words.add(w);
  }
  return { inputs, dictionary: [...words].map((w) => Buffer.from(w, 'utf8')) };
}

/** Runs one input through the target: undefined when fine, else why it is a finding. */
function attempt(target: Target, input: Buffer): { signature?: string; error?: string } {
  // CPU time, not wall time: a long run at low priority on a busy machine is descheduled for
  // seconds at a time, and that is not the input's doing
  const t0 = process.cpuUsage();
  let signature: string;
  try {
    signature = target.run(input);
  } catch (e) {
    return { error: `${(e as Error)?.name ?? 'thrown'}: ${(e as Error)?.message ?? String(e)}` };
  }
  const used = process.cpuUsage(t0);
  const ms = (used.user + used.system) / 1000;
  if (ms > SLOW_MS) return { error: `slow: ${ms.toFixed(0)} ms of CPU for ${input.length} bytes (${signature})` };
  return { signature };
}

export interface FuzzOptions {
  seconds: number;
  seed: number;
  out: string;
  maxFindings?: number;
  trace?: string;
  /** a folder that keeps a long run's progress between starts */
  state?: string;
  /** with state: stop once the run has made this many executions over all its starts */
  executions?: number;
}

export function fuzz(target: Target, options: FuzzOptions): FuzzResult {
  const { inputs, dictionary } = loadCorpus(target);
  const stateFile = options.state ? join(options.state, `${target.name}.json`) : undefined;
  const saved = stateFile ? loadRun(stateFile) : undefined;
  const starts = (saved?.starts ?? 0) + 1;
  // each start mutates from its own seed: a resumed run does not repeat the inputs it already ran
  const rng = new Rng(options.seed + (starts - 1) * 7919);
  const pool = saved ? saved.pool.map((b) => Buffer.from(b, 'base64')) : [...inputs];
  const signatures = new Set<string>(saved?.signatures);
  const findings: Finding[] = [];
  const seenErrors = new Set<string>();
  let executions = saved?.executions ?? 0;
  const goal = options.executions ?? Infinity;
  const save = (seconds: number) => {
    if (!stateFile) return;
    mkdirSync(options.state!, { recursive: true });
    saveRun(stateFile, { executions, seconds: (saved?.seconds ?? 0) + seconds, starts, pool: pool.map((b) => b.toString('base64')), signatures: [...signatures] });
  };
  const record = (input: Buffer, error: string) => {
    const kind = error.replace(/\d+/g, '#').slice(0, 120);
    if (seenErrors.has(kind)) return;
    seenErrors.add(kind);
    mkdirSync(options.out, { recursive: true });
    const file = join(options.out, `${target.name}-${options.seed}-${executions}.bin`);
    writeFileSync(file, input);
    findings.push({ error, file });
  };
  const t0 = performance.now(), end = t0 + options.seconds * 1000;
  let nextSave = t0 + SAVE_EVERY_MS;
  if (!saved) {
    for (const input of inputs) {
      executions++;
      const r = attempt(target, input);
      if (r.error) record(input, r.error);
      else signatures.add(r.signature!);
    }
  }
  while (performance.now() < end && executions < goal && findings.length < (options.maxFindings ?? 16)) {
    if (performance.now() >= nextSave) {
      save((performance.now() - t0) / 1000);
      nextSave += SAVE_EVERY_MS;
    }
    for (let k = 0; k < 64 && executions < goal; k++) {
      const parent = rng.pick(pool), other = rng.pick(pool);
      const input = (target.mutate ?? mutate)(rng, parent, other, dictionary, target.maxLength);
      executions++;
      // each input written before it runs: an input that never returns is still on disk
      if (options.trace) writeFileSync(options.trace, input);
      const r = attempt(target, input);
      if (r.error) record(input, r.error);
      else if (!signatures.has(r.signature!)) {
        signatures.add(r.signature!);
        if (pool.length < MAX_POOL) pool.push(input);
      }
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  save(seconds);
  return { target: target.name, executions, seconds: (saved?.seconds ?? 0) + seconds, kept: pool.length - inputs.length, signatures: signatures.size, findings };
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { seconds: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' }, replay: { type: 'string' }, trace: { type: 'string' }, state: { type: 'string' }, executions: { type: 'string' } } });
  const chosen = positionals.length ? TARGETS.filter((t) => positionals.includes(t.name)) : TARGETS;
  if (values.replay) {
    const target = chosen[0]!;
    console.log(attempt(target, readFileSync(values.replay)));
  } else {
    let failed = false;
    for (const target of chosen) {
      const r = fuzz(target, {
        seconds: Number(values.seconds ?? (values.executions ? Infinity : 60)),
        seed: Number(values.seed ?? Date.now() % 1e9),
        out: values.out ?? join(tmpdir(), 'sd-js-fuzz'),
        ...(values.trace ? { trace: values.trace } : {}),
        ...(values.state ? { state: values.state } : {}),
        ...(values.executions ? { executions: Number(values.executions) } : {}),
      });
      console.log(`${r.target}: ${r.executions} executions in ${r.seconds.toFixed(1)} s, ${r.signatures} signatures, ${r.kept} inputs kept, ${r.findings.length} findings`);
      for (const f of r.findings) console.log(`  ${f.error}\n    input: ${f.file}`);
      failed ||= r.findings.length > 0;
    }
    process.exitCode = failed ? 1 : 0;
  }
}
