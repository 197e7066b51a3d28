// The bench's text output: an aligned table per cell and the one-line JSON.
import type { BenchReport, RunResult } from './result.js';

const fmt = (v: number | null | undefined, digits: number) => (v === null || v === undefined ? '-' : v.toFixed(digits));

function psnrText(r: RunResult): string {
  if (r.name === 'sd-native') return 'ref';
  if (r.identical) return 'inf';
  return fmt(r.psnr, 1);
}

export function table(report: BenchReport): string {
  const head = ['runtime', 'load s', 's/step', 'decode s', 'peak RSS MiB', 'PSNR dB', 'wall s'];
  const lines: string[] = [];
  const cells = [...new Set(report.runtimes.map((r) => r.cell))];
  for (const cell of cells) {
    const runs = report.runtimes.filter((r) => r.cell === cell);
    const rows = runs.map((r) => [
      r.name + (r.timing === 'wall' ? ' *' : ''), fmt(r.loadSeconds, 2), fmt(r.secondsPerStep, 2), fmt(r.vaeDecodeSeconds, 2),
      r.peakRssBytes === null ? '-' : (r.peakRssBytes / 2 ** 20).toFixed(0), psnrText(r), fmt(r.wallSeconds, 1),
    ]);
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
    const line = (row: string[]) => row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
    const r0 = runs[0]!;
    lines.push(`${r0.model}: ${r0.width}x${r0.height}, ${r0.sampler}, ${r0.steps} steps, batch ${r0.batch}, ${r0.dtype}, ` +
      `CFG ${report.settings.cfgScale}, seed ${report.settings.seed}, ${report.settings.threads} threads`);
    lines.push(line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line), '');
  }
  if (report.runtimes.some((r) => r.timing === 'wall')) {
    lines.push('* printed no phase timings: s/step is wall time / steps (load and decode included)');
  }
  lines.push('s/step: one sampling step of the whole batch (with CFG: both passes); PSNR: RGB against sd-native\'s image; ' +
    'peak RSS: the largest process\'s VmHWM');
  return lines.join('\n');
}

/** The last line of the output: {"runtimes":[…],"skipped":[…],"settings":…,"machine":…,"chart":…} */
export function jsonLine(report: BenchReport): string {
  return JSON.stringify(report);
}
