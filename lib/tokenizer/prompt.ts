// AUTOMATIC1111's prompt emphasis syntax (modules/prompt_parser.py, parse_prompt_attention):
//
//   (abc)      weight x 1.1          [abc]   weight / 1.1
//   (abc:1.3)  weight x 1.3          nesting multiplies: ((abc)) = 1.21
//   \( \) \[ \] \\   literal characters; any other backslash is dropped
//   unclosed ( or [  applies to the end of the prompt; an unmatched ) or ] is literal text
//   BREAK      (upper case, a whole word) ends the current 75-token chunk; it is returned as the
//              marker { text: 'BREAK', weight: -1 }
//   adjacent runs with equal weights are merged; an empty prompt gives [{ text: '', weight: 1 }]
//
// Reproduced quirks, on purpose (bit-compatible prompts): a BREAK inside brackets gets its -1
// multiplied like any text, stops being a marker and is tokenised as the word "break" with that
// negative weight; '(a:1.2.3)' is not a weight (Python's float() would raise, A1111 errors) and
// is kept as literal text.

import { PY_SPACE } from './clean.js';

export interface WeightedText {
  text: string;
  weight: number;
}

export const BREAK_MARKER = 'BREAK';
const ROUND = 1.1;
const SQUARE = 1 / 1.1;

// Same alternatives, in the same order, as A1111's re_attention (Python \s, Unicode \d).
const S = `[${PY_SPACE}]`;
const ATTENTION_RE = new RegExp(
  [
    '\\\\\\(', '\\\\\\)', '\\\\\\[', '\\\\\\]', '\\\\\\\\', '\\\\',
    '\\(', '\\[',
    `:${S}*([+-]?[.\\p{Nd}]+)${S}*\\)`,
    '\\)', '\\]',
    '[^\\\\()\\[\\]:]+',
    ':',
  ].join('|'),
  'gu',
);

// \s*\bBREAK\b\s* with Python's Unicode \b (word characters: letters, numbers, underscore).
const BREAK_RE = new RegExp(`${S}*(?<![\\p{L}\\p{N}_])BREAK(?![\\p{L}\\p{N}_])${S}*`, 'gu');

const DIGIT_RE = /\p{Nd}/u;

/** Python's float() of a string matching [+-]?[.\d]+ (\d = any Unicode decimal digit), or NaN. */
function pyFloat(s: string): number {
  let ascii = '';
  for (const ch of s) {
    if (ch === '.' || ch === '+' || ch === '-' || (ch >= '0' && ch <= '9')) {
      ascii += ch;
      continue;
    }
    // Unicode Nd digits come in contiguous runs of whole 0..9 sets: value = offset in the run % 10.
    let start = ch.codePointAt(0)!;
    while (DIGIT_RE.test(String.fromCodePoint(start - 1))) start--;
    ascii += String((ch.codePointAt(0)! - start) % 10);
  }
  return /^[+-]?(?:\d+\.?\d*|\.\d+)$/.test(ascii) ? Number(ascii) : NaN;
}

export function parsePromptAttention(text: string): WeightedText[] {
  const res: WeightedText[] = [];
  const round: number[] = [];
  const square: number[] = [];
  const multiplyRange = (start: number, by: number) => {
    for (let p = start; p < res.length; p++) res[p]!.weight *= by;
  };
  const pushText = (t: string) => {
    if (!t.includes(BREAK_MARKER)) {
      res.push({ text: t, weight: 1 });
      return;
    }
    t.split(BREAK_RE).forEach((part, i) => {
      if (i > 0) res.push({ text: BREAK_MARKER, weight: -1 });
      res.push({ text: part, weight: 1 });
    });
  };

  for (const m of text.matchAll(ATTENTION_RE)) {
    const tok = m[0];
    const weight = m[1] === undefined ? NaN : pyFloat(m[1]);
    if (tok.startsWith('\\')) res.push({ text: tok.slice(1), weight: 1 });
    else if (tok === '(') round.push(res.length);
    else if (tok === '[') square.push(res.length);
    else if (m[1] !== undefined && !Number.isNaN(weight) && round.length > 0) multiplyRange(round.pop()!, weight);
    else if (tok === ')' && round.length > 0) multiplyRange(round.pop()!, ROUND);
    else if (tok === ']' && square.length > 0) multiplyRange(square.pop()!, SQUARE);
    else pushText(tok);
  }
  for (const pos of round) multiplyRange(pos, ROUND);
  for (const pos of square) multiplyRange(pos, SQUARE);
  if (res.length === 0) res.push({ text: '', weight: 1 });

  // Merge runs of identical weights (one pass: splicing each merged part out was O(n^2)).
  const merged: WeightedText[] = [res[0]!];
  for (let i = 1; i < res.length; i++) {
    const last = merged[merged.length - 1]!, part = res[i]!;
    if (last.weight === part.weight) last.text += part.text;
    else merged.push(part);
  }
  return merged;
}

export function isBreak(part: WeightedText): boolean {
  return part.text === BREAK_MARKER && part.weight === -1;
}
