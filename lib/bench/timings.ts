// Timings from another runtime's console output. stable-diffusion.cpp logs each phase as
// "<phase> completed, taking 12.34s" and its progress bar as "3/20 - 1.23s/it" (or "it/s" under a
// second); any runtime (an adapter's wrapper script too) may print the same lines to be timed per
// phase. What is not printed stays undefined and the caller falls back to wall time.

export interface ParsedTimings {
  loadSeconds?: number;
  textSeconds?: number;
  /** sum over every "sampling completed" line (one per image of a sequential batch) */
  samplingSeconds?: number;
  decodeSeconds?: number;
  /** per-step seconds from the progress bar, in order (its first step may read 0: no start mark) */
  stepSeconds: number[];
}

const PHASES: Array<[RegExp, 'loadSeconds' | 'textSeconds' | 'samplingSeconds' | 'decodeSeconds']> = [
  [/loading tensors completed, taking ([\d.]+)s/, 'loadSeconds'],
  [/get_learned_condition completed, taking ([\d.]+)s/, 'textSeconds'],
  [/sampling completed, taking ([\d.]+)s/, 'samplingSeconds'],
  [/decode_first_stage completed, taking ([\d.]+)s/, 'decodeSeconds'],
];

export function parseTimings(output: string): ParsedTimings {
  const r: ParsedTimings = { stepSeconds: [] };
  // The progress bar rewrites one line with \r: each rewrite is its own record.
  for (const line of output.split(/\r\n|\r|\n/)) {
    for (const [re, key] of PHASES) {
      const m = re.exec(line);
      if (m) r[key] = key === 'samplingSeconds' ? (r[key] ?? 0) + Number(m[1]) : Number(m[1]);
    }
    const p = /(\d+)\/(\d+) - ([\d.]+)(s\/it|it\/s)/.exec(line);
    if (p) {
      const v = Number(p[3]);
      r.stepSeconds[Number(p[1]) - 1] = p[4] === 's/it' ? v : v > 0 ? 1 / v : 0;
    }
  }
  r.stepSeconds = Array.from(r.stepSeconds, (v) => v ?? 0);
  return r;
}
