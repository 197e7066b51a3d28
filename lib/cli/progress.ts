// Step progress on stderr: a bar redrawn in place on a terminal, one plain line per step otherwise.
//   step 7/20 [#######.............]  3.21 it/s  ETA 0:04
import type { StepEvent } from '../pipeline.js';
import type { Stream } from './args.js';

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${String(r).padStart(2, '0')}` : `${m}:${String(r).padStart(2, '0')}`;
}

/** The text for one step event (without the carriage return). */
export function progressLine(e: Pick<StepEvent, 'step' | 'steps' | 'elapsedMs'>, width = 20): string {
  const rate = e.elapsedMs > 0 ? e.step / (e.elapsedMs / 1000) : 0;
  const eta = rate > 0 ? (e.steps - e.step) / rate : NaN;
  const filled = Math.round((e.step / e.steps) * width);
  const bar = '#'.repeat(filled) + '.'.repeat(width - filled);
  const speed = rate >= 1 || rate === 0 ? `${rate.toFixed(2)} it/s` : `${(1 / rate).toFixed(2)} s/it`;
  return `step ${e.step}/${e.steps} [${bar}] ${speed}  ETA ${formatDuration(eta)}`;
}

export class Progress {
  #last = 0;
  #open = false;

  constructor(private readonly out: Stream, private readonly enabled = true) {}

  step(e: StepEvent): void {
    if (!this.enabled) return;
    const line = progressLine(e);
    if (this.out.isTTY) {
      this.out.write(`\r${line.padEnd(this.#last)}`);
      this.#last = line.length;
      this.#open = true;
    } else {
      this.out.write(`${line}\n`);
    }
  }

  /** Ends the in-place line (call before printing anything else). */
  end(): void {
    if (this.#open) this.out.write('\n');
    this.#open = false;
    this.#last = 0;
  }
}
