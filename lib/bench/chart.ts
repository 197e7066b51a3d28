// The bench chart: three panels (seconds per step, VAE decode seconds, peak RSS), one horizontal
// bar per run, value at the bar's end, one colour per runtime. Shorter is better in all three.
import type { BenchReport, RunResult } from './result.js';

const COLOURS = ['#2b6cb0', '#dd6b20', '#38a169', '#805ad5', '#c53030', '#319795', '#d69e2e'];
const WIDTH = 760;
const LABEL_W = 250;
const BAR_H = 18;
const GAP = 6;

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

interface Panel {
  title: string;
  value: (r: RunResult) => number | null;
  text: (v: number) => string;
}

const PANELS: Panel[] = [
  { title: 'seconds per sampling step', value: (r) => r.secondsPerStep, text: (v) => `${v.toFixed(2)} s` },
  { title: 'VAE decode, seconds', value: (r) => r.vaeDecodeSeconds, text: (v) => `${v.toFixed(2)} s` },
  { title: 'peak RSS', value: (r) => (r.peakRssBytes === null ? null : r.peakRssBytes / 2 ** 30), text: (v) => `${v.toFixed(2)} GiB` },
];

export function chartSvg(report: BenchReport): string {
  const runs = report.runtimes;
  const names = [...new Set(runs.map((r) => r.name))];
  const severalCells = new Set(runs.map((r) => r.cell)).size > 1;
  const label = (r: RunResult) => (severalCells ? `${r.name} · ${r.cell}` : r.name) + (r.timing === 'wall' ? ' *' : '');
  const parts: string[] = [];
  let y = 28;
  const r0 = runs[0];
  const what = !r0 || severalCells ? '' : ` · ${r0.model.split(/[\\/]/).pop()} ${r0.width}x${r0.height} ${r0.sampler} ${r0.steps} steps`;
  parts.push(`<text x="10" y="18" font-size="14" font-weight="bold">${esc(`sd-native bench${what} (shorter is better)`)}</text>`);
  for (const panel of PANELS) {
    y += 14;
    parts.push(`<text x="10" y="${y}" font-size="13" font-weight="bold">${esc(panel.title)}</text>`);
    y += 8;
    const values = runs.map(panel.value);
    const max = Math.max(0, ...values.map((v) => v ?? 0)) || 1;
    const span = WIDTH - LABEL_W - 90;
    runs.forEach((r, i) => {
      const v = values[i];
      const colour = COLOURS[names.indexOf(r.name) % COLOURS.length];
      parts.push(`<text x="${LABEL_W - 6}" y="${y + BAR_H - 5}" font-size="12" text-anchor="end">${esc(label(r))}</text>`);
      if (v === null || v === undefined) {
        parts.push(`<text x="${LABEL_W}" y="${y + BAR_H - 5}" font-size="12" fill="#718096">not measured</text>`);
      } else {
        const w = Math.max(1, (v / max) * span);
        parts.push(`<rect x="${LABEL_W}" y="${y}" width="${w.toFixed(1)}" height="${BAR_H}" fill="${colour}"/>`);
        parts.push(`<text x="${(LABEL_W + w + 5).toFixed(1)}" y="${y + BAR_H - 5}" font-size="12">${esc(panel.text(v))}</text>`);
      }
      y += BAR_H + GAP;
    });
  }
  if (runs.some((r) => r.timing === 'wall')) {
    y += 12;
    parts.push(`<text x="10" y="${y}" font-size="11" fill="#4a5568">* no phase timings printed: wall time / steps</text>`);
  }
  y += 12;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${y}" viewBox="0 0 ${WIDTH} ${y}" font-family="sans-serif">\n` +
    `<rect width="100%" height="100%" fill="white"/>\n${parts.join('\n')}\n</svg>\n`;
}
