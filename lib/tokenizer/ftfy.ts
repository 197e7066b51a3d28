// ftfy.fix_text (6.3.1, default configuration) as CLIP's basic_clean calls it.
//
// Same structure as ftfy: the text is fixed in segments that end after each '\n'; each segment
// goes through the fixers below, in ftfy's order, repeatedly until nothing changes. HTML entities
// are unescaped only until the first segment containing '<' (ftfy's unescape_html="auto": text
// with tags is taken to be real HTML whose entities must stay). Mojibake repair is the
// conservative subset in mojibake.ts.

import { CP1252_HIGH } from './cp1252.js';
import { ftfyUnescapeHtml } from './html.js';
import { fixEncoding } from './mojibake.js';

const MAX_SEGMENT = 1_000_000; // ftfy max_decode_length, in code points (here: UTF-16 units)

// Latin ligatures and legacy digraphs (ftfy leaves æ, œ and non-Latin ligatures alone).
const LIGATURES: ReadonlyMap<string, string> = new Map([
  ['\u0132', 'IJ'], ['\u0133', 'ij'], ['\u0149', '\u02bcn'],
  ['\u01c4', 'D\u017d'], ['\u01c5', 'D\u017e'], ['\u01c6', 'd\u017e'],
  ['\u01c7', 'LJ'], ['\u01c8', 'Lj'], ['\u01c9', 'lj'],
  ['\u01ca', 'NJ'], ['\u01cb', 'Nj'], ['\u01cc', 'nj'],
  ['\u01f1', 'DZ'], ['\u01f2', 'Dz'], ['\u01f3', 'dz'],
  ['\ufb00', 'ff'], ['\ufb01', 'fi'], ['\ufb02', 'fl'], ['\ufb03', 'ffi'], ['\ufb04', 'ffl'],
  ['\ufb05', '\u017ft'], ['\ufb06', 'st'],
]);
const LIGATURE_RE = /[\u0132\u0133\u0149\u01c4-\u01cc\u01f1-\u01f3\ufb00-\ufb06]/g;

// Halfwidth/fullwidth forms (U+FF01..U+FFEF) to their NFKC form, and U+3000 to a space.
let widthMap: Map<string, string> | undefined;
function widthTable(): Map<string, string> {
  if (widthMap) return widthMap;
  widthMap = new Map([['\u3000', ' ']]);
  for (let cp = 0xff01; cp < 0xfff0; cp++) {
    const ch = String.fromCharCode(cp);
    const alt = ch.normalize('NFKC');
    if (alt !== ch) widthMap.set(ch, alt);
  }
  return widthMap;
}
const WIDTH_RE = /[\u3000\uff01-\uffef]/g;

const C1_RE = /[\x80-\x9f]/g;
const SINGLE_QUOTE_RE = /[\u02bc\u2018-\u201b]/g;
const DOUBLE_QUOTE_RE = /[\u201c-\u201f]/g;
const LINE_BREAK_RE = /\r\n?|[\u2028\u2029\x85]/g;
const SURROGATE_RE = /[\ud800-\udfff]/;
const LONE_SURROGATE_RE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const ANSI_ESCAPE_RE = /\x1b\[(?:\p{Nd}|;)*[a-zA-Z]/gu;
// ASCII controls except \t \n \f \r, deprecated Arabic format controls, BOM, U+FFF9..U+FFFC.
const CONTROL_RE = /[\x00-\x08\x0b\x0e-\x1f\x7f\u206a-\u206f\ufeff\ufff9-\ufffc]/g;
const NON_ASCII_OR_CONTROL = /[^\x20-\x7e\n\t]/;
// Every character one of the replacements below matches (the first character of each match);
// without any, none of them changes the text.
const TOUCHED_RE = /[\x00-\x08\x0b\r\x0e-\x1f\x7f-\x9f\u0132\u0133\u0149\u01c4-\u01cc\u01f1-\u01f3\ufb00-\ufb06\u3000\uff01-\uffef\u02bc\u2018-\u201f\u2028\u2029\ud800-\udfff\u206a-\u206f\ufeff\ufff9-\ufffc]/;

/** One pass of ftfy's fixers over a segment, in ftfy's order. */
function fixPass(text: string, unescapeHtml: boolean): string {
  if (unescapeHtml) text = ftfyUnescapeHtml(text);
  if (!NON_ASCII_OR_CONTROL.test(text)) return text; // printable ASCII: every later step is a no-op
  text = fixEncoding(text);
  if (!TOUCHED_RE.test(text)) return text.normalize('NFC'); // the replacements below would all be no-ops
  text = text.replace(C1_RE, (c) => CP1252_HIGH[c.charCodeAt(0) - 0x80]!);
  text = text.replace(LIGATURE_RE, (c) => LIGATURES.get(c)!);
  text = text.replace(WIDTH_RE, (c) => widthTable().get(c) ?? c);
  text = text.replace(DOUBLE_QUOTE_RE, '"').replace(SINGLE_QUOTE_RE, "'");
  text = text.replace(LINE_BREAK_RE, '\n');
  if (SURROGATE_RE.test(text)) text = text.replace(LONE_SURROGATE_RE, '\ufffd'); // the look-around scan is the slow one
  text = text.replace(ANSI_ESCAPE_RE, '');
  text = text.replace(CONTROL_RE, '');
  return text.normalize('NFC');
}

function fixSegment(text: string, unescapeHtml: boolean): string {
  for (;;) {
    const next = fixPass(text, unescapeHtml);
    if (next === text) return text;
    text = next;
  }
}

/** ftfy.fix_text(text) with ftfy 6.3.1's default configuration. */
export function fixText(text: string): string {
  let unescapeHtml = true;
  let out = '';
  let pos = 0;
  while (pos < text.length) {
    let end = text.indexOf('\n', pos) + 1;
    if (end === 0) end = text.length;
    if (end - pos > MAX_SEGMENT) {
      end = pos + MAX_SEGMENT;
      const unit = text.charCodeAt(end - 1);
      if (unit >= 0xd800 && unit <= 0xdbff) end++; // never split a surrogate pair
    }
    const segment = text.slice(pos, end);
    if (unescapeHtml && segment.includes('<')) unescapeHtml = false;
    out += fixSegment(segment, unescapeHtml);
    pos = end;
  }
  return out;
}
