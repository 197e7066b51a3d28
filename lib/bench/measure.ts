// Runs one command and measures it: wall time, output, and the peak resident set size.
//
// Peak RSS: Node's child_process does not return the child's rusage, and process.resourceUsage()
// covers only this process. Linux keeps each process's own peak in /proc/<pid>/status (VmHWM,
// monotonic), so polling it needs no timing luck: any read after the peak sees it. We read the
// child and its descendants (a wrapper script's python, say) every POLL_MS and report the largest
// single-process peak, the same figure as wait4()'s ru_maxrss or `/usr/bin/time -v`. The one blind
// spot is growth in the last POLL_MS before exit (after the image is written). Without /proc
// (macOS, Windows) the figure is undefined and the report says so.
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

const POLL_MS = 50;

export interface Measured {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
  wallSeconds: number;
  peakRssBytes?: number;
  /** why peakRssBytes is missing */
  rssNote?: string;
}

function vmHwmBytes(pid: number): number | undefined {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;  // exited between the listing and the read
  }
}

/** pid and every descendant, from each process's parent in /proc/<pid>/stat */
function tree(root: number): number[] {
  const parent = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // "pid (comm) state ppid …": comm may hold spaces and parentheses, so cut at the last ')'
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = parent.get(ppid) ?? [];
      list.push(Number(name));
      parent.set(ppid, list);
    } catch {
      // gone already
    }
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) out.push(...(parent.get(out[i]!) ?? []));
  return out;
}

export function measure(argv: string[], options: { env?: NodeJS.ProcessEnv; onOutput?: (text: string) => void } = {}): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env });
    const chunks: string[] = [];
    const take = (b: Buffer) => {
      const s = b.toString('utf8');
      chunks.push(s);
      options.onOutput?.(s);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    const hasProc = process.platform === 'linux';
    const peaks = new Map<number, number>();
    const poll = () => {
      if (child.pid === undefined) return;
      for (const pid of tree(child.pid)) {
        const v = vmHwmBytes(pid);
        if (v !== undefined && v > (peaks.get(pid) ?? 0)) peaks.set(pid, v);
      }
    };
    const timer = hasProc ? setInterval(poll, POLL_MS) : undefined;
    child.on('error', (e) => {
      if (timer) clearInterval(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      if (timer) clearInterval(timer);
      const peak = peaks.size ? Math.max(...peaks.values()) : undefined;
      resolve({
        code,
        signal,
        output: chunks.join(''),
        wallSeconds: (performance.now() - t0) / 1000,
        ...(peak !== undefined ? { peakRssBytes: peak } : { rssNote: hasProc ? 'exited before the first /proc read' : 'no /proc on this platform' }),
      });
    });
    if (hasProc) poll();
  });
}
