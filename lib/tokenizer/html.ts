// HTML character references, two flavours:
//  - pyHtmlUnescape: Python's html.unescape (HTML5 rules: legacy names without ';', longest-prefix
//    matching, numeric references with the Windows-1252 remap of 0x80..0x9F). CLIP's basic_clean
//    applies it twice after ftfy.
//  - ftfyUnescapeHtml: ftfy 6's stricter unescape_html, run inside fix_text: only '&name;' forms
//    (plus all-caps variants of lower-case names, e.g. '&EACUTE;' -> 'É') and numeric references.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { packageRoot } from '../package-root.js';
import { CP1252_HIGH } from './cp1252.js';

// The WHATWG HTML5 named character references (2231 names without the leading '&'), equal to
// Python's html.entities.html5; regenerate with
//   python3 -c "import html.entities,json;print(json.dumps(html.entities.html5,sort_keys=True))"
const ENTITIES_FILE = join('native', 'data', 'html5_entities.json');

let html5: Map<string, string> | undefined;
function entities(): Map<string, string> {
  html5 ??= new Map(Object.entries(JSON.parse(readFileSync(join(packageRoot, ENTITIES_FILE), 'utf8')) as Record<string, string>));
  return html5;
}

// Numeric references that HTML5 maps to other characters: 0x00, 0x0D, and 0x80..0x9F read as
// Windows-1252.
const INVALID_CHARREFS = new Map<number, string>([[0x00, '\ufffd'], [0x0d, '\r']]);
CP1252_HIGH.forEach((ch, i) => INVALID_CHARREFS.set(0x80 + i, ch));

/** Code points that a numeric reference silently drops (HTML5 "invalid code points"). */
function isDroppedCodePoint(n: number): boolean {
  return (n >= 0x01 && n <= 0x08) || n === 0x0b || (n >= 0x0e && n <= 0x1f) ||
    (n >= 0x7f && n <= 0x9f) || (n >= 0xfdd0 && n <= 0xfdef) || (n & 0xfffe) === 0xfffe;
}

function numericCharref(digits: string, radix: 10 | 16): string {
  // BigInt: '&#99999999999999999999;' must give U+FFFD like Python's unbounded int, not NaN.
  const big = BigInt(radix === 16 ? '0x' + digits : digits);
  if (big > 0x10ffffn) return '\ufffd';
  const n = Number(big);
  const remap = INVALID_CHARREFS.get(n);
  if (remap !== undefined) return remap;
  if (n >= 0xd800 && n <= 0xdfff) return '\ufffd';
  if (isDroppedCodePoint(n)) return '';
  return String.fromCodePoint(n);
}

const CHARREF_RE = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/gu;

function replaceCharref(_whole: string, ref: string): string {
  if (ref[0] === '#') {
    const hex = ref[1] === 'x' || ref[1] === 'X';
    const digits = ref.slice(hex ? 2 : 1).replace(/;$/, '');
    return numericCharref(digits, hex ? 16 : 10);
  }
  const table = entities();
  const exact = table.get(ref);
  if (exact !== undefined) return exact;
  // Longest prefix that is a known name (only the legacy names without ';' can match here).
  for (let x = ref.length - 1; x > 1; x--) {
    const hit = table.get(ref.slice(0, x));
    if (hit !== undefined) return hit + ref.slice(x);
  }
  return '&' + ref;
}

/** Python's html.unescape. */
export function pyHtmlUnescape(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(CHARREF_RE, replaceCharref);
}

let ftfyTable: Map<string, string> | undefined;
/** '&name;' for every HTML5 name ending in ';', plus upper-cased variants of all-lower-case names. */
function ftfyEntities(): Map<string, string> {
  if (ftfyTable) return ftfyTable;
  const out = new Map<string, string>();
  for (const [name, chars] of entities()) {
    if (!name.endsWith(';')) continue;
    out.set('&' + name, chars);
    if (name === name.toLowerCase()) {
      const upper = '&' + name.toUpperCase();
      if (pyHtmlUnescape(upper) === upper) out.set(upper, chars.toUpperCase());
    }
  }
  ftfyTable = out;
  return out;
}

const FTFY_ENTITY_RE = /&#?[0-9A-Za-z]{1,24};/g;

/** ftfy.fixes.unescape_html. */
export function ftfyUnescapeHtml(s: string): string {
  if (!s.includes('&')) return s;
  const table = ftfyEntities();
  return s.replace(FTFY_ENTITY_RE, (ref) => {
    const named = table.get(ref);
    if (named !== undefined) return named;
    if (ref.startsWith('&#')) {
      const un = pyHtmlUnescape(ref);
      return un.includes(';') ? ref : un;
    }
    return ref;
  });
}
