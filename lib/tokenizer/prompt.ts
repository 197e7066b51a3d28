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

// A1111's re_attention, with Python's \s and Unicode \d, tried in this order at each position:
//   \( \) \[ \] \\ | \ | ( | [ | :\s*([+-]?[.\d]+)\s*\) | ) | ] | [^\\()\[\]:]+ | :
// Only the weight alternative needs a regex; the others are single characters or a run of
// characters other than \ ( ) [ ] :, scanned below without a match object per token.
const S = `[${PY_SPACE}]`;
const WEIGHT_RE = new RegExp(`:${S}*([+-]?[.\\p{Nd}]+)${S}*\\)`, 'uy');

// \s*\bBREAK\b\s* with Python's Unicode \b (word characters: letters, numbers, underscore).
const BREAK_RE = new RegExp(`${S}*(?<![\\p{L}\\p{N}_])BREAK(?![\\p{L}\\p{N}_])${S}*`, 'gu');

const DIGIT_RE = /\p{Nd}/u;

const BACKSLASH = 0x5c, OPEN_ROUND = 0x28, CLOSE_ROUND = 0x29, OPEN_SQUARE = 0x5b, CLOSE_SQUARE = 0x5d, COLON = 0x3a;
const isSyntax = (c: number) =>
  c === BACKSLASH || c === OPEN_ROUND || c === CLOSE_ROUND || c === OPEN_SQUARE || c === CLOSE_SQUARE || c === COLON;

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

/**
 * A1111's `for pos in round_brackets: multiply_range(pos, 1.1)` for the brackets still open at
 * the end, with the same rounding: part p is multiplied `by` once per position <= p, one
 * multiplication after the other. Parts that start from the same weight share one such chain,
 * so 2000 unclosed "(" before 2000 parts cost 2000 multiplications, not 2000².
 */
function multiplyUnclosed(weights: number[], positions: readonly number[], by: number): void {
  if (positions.length === 0) return;
  const chains = new Map<number, number[]>();
  let k = 0;
  for (let p = positions[0]!; p < weights.length; p++) {
    while (k < positions.length && positions[k]! <= p) k++;
    const w = weights[p]!;
    // ±0 stays itself; NaN (payload and sign) and the two zeros are kept apart by computing them
    // directly, as a Map would take -0 for 0 and every NaN for one key
    if (w === 0) continue;
    if (Number.isNaN(w)) {
      let v = w;
      for (let i = 0; i < k; i++) v *= by;
      weights[p] = v;
      continue;
    }
    let chain = chains.get(w);
    if (!chain) chains.set(w, (chain = [w]));
    while (chain.length <= k) chain.push(chain[chain.length - 1]! * by);
    weights[p] = chain[k]!;
  }
}

export function parsePromptAttention(text: string): WeightedText[] {
  // Parts as two arrays: a bracket multiplies every part since it opened, and nested brackets
  // around many parts make that O(parts × brackets) multiplications; on a plain array of doubles
  // each one is a load and a store, not a property write on an object.
  const texts: string[] = [];
  const weights: number[] = [];
  const round: number[] = [];
  const square: number[] = [];
  const multiplyRange = (start: number, by: number) => {
    for (let p = start; p < weights.length; p++) weights[p]! *= by;
  };
  const pushText = (t: string) => {
    if (!t.includes(BREAK_MARKER)) {
      texts.push(t);
      weights.push(1);
      return;
    }
    t.split(BREAK_RE).forEach((part, i) => {
      if (i > 0) {
        texts.push(BREAK_MARKER);
        weights.push(-1);
      }
      texts.push(part);
      weights.push(1);
    });
  };

  const n = text.length;
  for (let i = 0; i < n; ) {
    const c = text.charCodeAt(i);
    if (c === BACKSLASH) {
      const next = text.charCodeAt(i + 1);
      const escaped = next === OPEN_ROUND || next === CLOSE_ROUND || next === OPEN_SQUARE || next === CLOSE_SQUARE || next === BACKSLASH;
      texts.push(escaped ? text[i + 1]! : ''); // a lone backslash is dropped
      weights.push(1);
      i += escaped ? 2 : 1;
    } else if (c === OPEN_ROUND) {
      round.push(texts.length);
      i++;
    } else if (c === OPEN_SQUARE) {
      square.push(texts.length);
      i++;
    } else if (c === COLON) {
      WEIGHT_RE.lastIndex = i;
      const m = WEIGHT_RE.exec(text);
      if (!m) {
        pushText(':');
        i++;
        continue;
      }
      const weight = pyFloat(m[1]!);
      if (!Number.isNaN(weight) && round.length > 0) multiplyRange(round.pop()!, weight);
      else pushText(m[0]);
      i += m[0].length;
    } else if (c === CLOSE_ROUND) {
      if (round.length > 0) multiplyRange(round.pop()!, ROUND);
      else pushText(')');
      i++;
    } else if (c === CLOSE_SQUARE) {
      if (square.length > 0) multiplyRange(square.pop()!, SQUARE);
      else pushText(']');
      i++;
    } else {
      let j = i + 1;
      while (j < n && !isSyntax(text.charCodeAt(j))) j++;
      pushText(text.slice(i, j));
      i = j;
    }
  }
  multiplyUnclosed(weights, round, ROUND);
  multiplyUnclosed(weights, square, SQUARE);
  if (texts.length === 0) return [{ text: '', weight: 1 }];

  // Merge runs of identical weights (one pass: splicing each merged part out was O(n^2)).
  const res: WeightedText[] = [{ text: texts[0]!, weight: weights[0]! }];
  for (let i = 1; i < texts.length; i++) {
    const last = res[res.length - 1]!;
    if (last.weight === weights[i]) last.text += texts[i]!;
    else res.push({ text: texts[i]!, weight: weights[i]! });
  }
  return res;
}

export function isBreak(part: WeightedText): boolean {
  return part.text === BREAK_MARKER && part.weight === -1;
}
