// sd-native info image.png: the generation parameters of an image (its A1111 "parameters" chunk).
import { readFileSync } from 'node:fs';

import { isPng } from '../png.js';
import { readParameters, type ReadParameters } from '../infotext.js';
import type { Io } from './args.js';

/** Whether `path` names a PNG (by its first bytes; a missing file is decided by its extension). */
export function isPngFile(path: string): boolean {
  try {
    return isPng(readFileSync(path).subarray(0, 8));
  } catch {
    return /\.png$/i.test(path);
  }
}

const LABELS: Array<[keyof ReadParameters, string]> = [
  ['prompt', 'prompt'], ['negativePrompt', 'negative prompt'], ['steps', 'steps'], ['sampler', 'sampler'], ['scheduler', 'scheduler'],
  ['cfgScale', 'cfg scale'], ['seed', 'seed'], ['model', 'model'], ['modelHash', 'model hash'], ['clipSkip', 'clip skip'], ['rng', 'rng'],
  ['strength', 'strength'], ['eta', 'eta'], ['version', 'version'],
];

const indent = (s: string) => s.replace(/\n/g, `\n${' '.repeat(17)}`);

export function formatImageParameters(path: string, p: ReadParameters): string {
  const lines = [`file             ${path}`];
  for (const [key, label] of LABELS) {
    const v = p[key];
    if (key === 'model') lines.push(`size             ${p.width ?? '?'}x${p.height ?? '?'}`);
    if (v !== undefined && v !== '') lines.push(`${label.padEnd(16)} ${indent(String(v))}`);
  }
  for (const [label, list] of [['loras', p.loras], ['embeddings', p.embeddings]] as const) {
    if (list?.length) lines.push(`${label.padEnd(16)} ${list.map((l) => `${l.name} (${l.hash})`).join(', ')}`);
  }
  for (const [label, group] of [['hires fix', p.hires], ['inpaint', p.inpaint]] as const) {
    if (group) lines.push(`${label.padEnd(16)} ${Object.entries(group).map(([k, v]) => `${k} ${JSON.stringify(v)}`).join(', ')}`);
  }
  const extra = Object.entries(p.extra);
  if (extra.length) lines.push('other fields', ...extra.map(([k, v]) => `  ${k.padEnd(14)} ${indent(v)}`));
  return lines.join('\n');
}

export function imageInfo(path: string, json: boolean, io: Io): number {
  const p = readParameters(path);
  io.stdout.write(`${json ? JSON.stringify(p, null, 2) : formatImageParameters(path, p)}\n`);
  return 0;
}
