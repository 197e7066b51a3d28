// CLIP's text normalisation (simple_tokenizer.py): basic_clean = ftfy.fix_text, html.unescape
// twice, strip; whitespace_clean = runs of whitespace to one space, strip; then lower-case.

import { fixText } from './ftfy.js';
import { pyHtmlUnescape } from './html.js';

// Python's str.isspace() / re's \s for str patterns (note \x1c-\x1f and \x85, and no \ufeff,
// unlike JavaScript's \s).
export const PY_SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

const SPACE_RUN_RE = new RegExp(`[${PY_SPACE}]+`, 'g');
const STRIP_RE = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, 'g');

/** Python's str.strip() with no argument. */
export function pyStrip(text: string): string {
  return text.replace(STRIP_RE, '');
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
