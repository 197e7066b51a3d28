// Processes of a shared-queue cluster for tests and the bench: a redis-server on loopback, front
// ends (`sd-native serve --queue`) and workers (`sd-native worker`) as bin/sd-native.js runs them.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';

import { tempDir } from './tiny-checkpoint.js';

export const root = resolve(import.meta.dirname, '..', '..');
export const bin = join(root, 'bin', 'sd-native.js');
export const hasRedis = spawnSync('redis-server', ['--version']).status === 0;

export interface Proc {
  child: ChildProcess;
  /** stderr lines so far (workers: one per job taken / done / cancelled) */
  lines: string[];
  exited: Promise<number | null>;
}

const procs: Proc[] = [];

/** Spawns a process and resolves once its stdout matches `ready`; SD_NATIVE_QUEUE is cleared (flags say it). */
export function start(args: string[], ready: RegExp, label: string, command = process.execPath): Promise<{ proc: Proc; match: RegExpMatchArray }> {
  const child = spawn(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SD_NATIVE_QUEUE: '' } });
  const proc: Proc = { child, lines: [], exited: new Promise((r) => child.once('exit', (code) => r(code))) };
  procs.push(proc);
  let out = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => proc.lines.push(...d.split('\n').filter(Boolean)));
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`${label} did not start in 60 s: ${out}\n${proc.lines.join('\n')}`)), 60_000);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const match = ready.exec(out);
      if (match) clearTimeout(timer), resolvePromise({ proc, match });
    });
    void proc.exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${label} exited with ${code}: ${out}\n${proc.lines.join('\n')}`));
    });
  });
}

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** redis-server on 127.0.0.1:port, nothing saved to disk */
export async function startRedis(port: number): Promise<Proc> {
  return (await start(['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tempDir()],
    /Ready to accept connections/, 'redis-server', 'redis-server')).proc;
}

export async function startWorker(url: string, extra: string[] = []): Promise<Proc> {
  return (await start([bin, 'worker', '--queue', url, ...extra], /worker \S+ ready/, 'worker')).proc;
}

/** `sd-native serve` (a front end when extra has --queue redis://…); base is its http://host:port */
export async function startServe(extra: string[]): Promise<{ proc: Proc; base: string }> {
  const { proc, match } = await start([bin, 'serve', '--port', '0', ...extra], /listening on (http:\/\/\S+)/, 'serve');
  return { proc, base: match[1]! };
}

export async function stop(proc: Proc, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill(signal);
  await proc.exited;
}

/** SIGKILLs every process started here that still runs, newest first. */
export async function stopAll(): Promise<void> {
  for (const p of procs.splice(0).reverse()) await stop(p, 'SIGKILL');
}

/** Resolves once the front end at `base` sees `n` live workers (its registry is read every 0.5 s). */
export async function waitForWorkers(base: string, n: number, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const text = await (await fetch(`${base}/metrics`)).text();
    const seen = [...text.matchAll(/^sd_cluster_workers\{[^}]*\} (\d+)$/gm)].reduce((a, m) => a + Number(m[1]), 0);
    if (seen >= n) return;
    if (Date.now() > end) throw new Error(`the front end sees ${seen} workers, not ${n}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
