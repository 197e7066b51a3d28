// The shape of a bench result: one entry per (cell, runtime) run, as printed in the JSON line.
import type { Cell, Common } from './matrix.js';

/** one run: the cell's settings (model, width, height, sampler, steps, batch, dtype) and what was measured */
export interface RunResult extends Cell {
  name: string;
  secondsPerStep: number | null;
  vaeDecodeSeconds: number | null;
  peakRssBytes: number | null;
  loadSeconds: number | null;
  /** dB against sd-native's image of the same cell (absent on sd-native's own entry); null: identical or not comparable */
  psnr?: number | null;
  identical?: boolean;
  textSeconds: number | null;
  wallSeconds: number;
  /** 'phases': the runtime's own timings; 'wall': it printed none, so seconds per step is wall time / steps (load and decode included) */
  timing: 'phases' | 'wall';
  stepSeconds: number[];
  /** the cell's short name, shared by the runtimes that ran it */
  cell: string;
  image: string;
}

export interface Skipped {
  name: string;
  cell?: string;
  reason: string;
}

export interface BenchReport {
  runtimes: RunResult[];
  skipped: Skipped[];
  settings: Common & { rng: 'cuda' };
  machine: { platform: string; arch: string; cpus: number; cpuModel: string };
  /** the SVG chart's path */
  chart: string;
}
