// CLIP's text normalisation (simple_tokenizer.py): basic_clean = ftfy.fix_text, html.unescape
// twice, strip; whitespace_clean = runs of whitespace to one space, strip; then lower-case.

import { fixText } from './ftfy.js';
import { pyHtmlUnescape } from './html.js';

// Python's str.isspace() / re's \s for str patterns (note \x1c-\x1f and \x85, and no \ufeff,
// unlike JavaScript's \s).
export const PY_SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

const SPACE_RUN_RE = new RegExp(`[${PY_SPACE}]+`, 'g');
/** A UTF-16 unit in PY_SPACE (all of whose characters are in the BMP). */
function isPySpace(c: number): boolean {
  return c <= 0x20 ? c >= 0x1c || (c >= 0x09 && c <= 0x0d)
    : c === 0x85 || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
      c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000;
}

/** Python's str.strip() with no argument. */
export function pyStrip(text: string): string {
  // a scan from both ends: a regex /^\s+|\s+$/ tries the second branch at every position
  let start = 0, end = text.length;
  while (start < end && isPySpace(text.charCodeAt(start))) start++;
  while (end > start && isPySpace(text.charCodeAt(end - 1))) end--;
  return start === 0 && end === text.length ? text : text.slice(start, end);
}

export function basicClean(text: string): string {
  return pyStrip(pyHtmlUnescape(pyHtmlUnescape(fixText(text))));
}

export function whitespaceClean(text: string): string {
  return pyStrip(text.replace(SPACE_RUN_RE, ' '));
}

/** The exact string CLIP's SimpleTokenizer.encode pre-tokenises. */
export function cleanText(text: string): string {
  return whitespaceClean(basicClean(text)).toLowerCase();
}
