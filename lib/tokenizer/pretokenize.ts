// CLIP's pre-tokenisation regex (SimpleTokenizer.pat) as a scanner:
//
//   <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
//
// compiled with re.IGNORECASE by Python's `regex` module. A character class table (filled on
// first sight of each code point) replaces a regex match object per word; the special tokens and
// contractions, which start with '<' or "'", are still matched by a regex, only there.

// The `regex` module's \s (Unicode White_Space); unlike Python's re it excludes \x1c-\x1f, and
// unlike JavaScript's \s it includes \x85 and excludes \ufeff.
const REGEX_SPACE = '\\t\\n\\v\\f\\r\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

// Under IGNORECASE the literal alternatives match their case variants (including 'ſ', which folds
// to 's'). JavaScript's /iu would also let U+0345 (a combining mark that case-folds to a Greek
// letter) match [\p{L}]; the `regex` module matches it with no alternative, so it is skipped.
const caseless = (lit: string) =>
  lit.replace(/[a-z]/g, (c) => `[${c}${c.toUpperCase()}${c === 's' ? '\u017f' : ''}]`).replace(/\|/g, '\\|');
const SPECIAL_RE = new RegExp(
  [caseless('<|startoftext|>'), caseless('<|endoftext|>'), ...['s', 't', 're', 've', 'm', 'll', 'd'].map((c) => "'" + caseless(c))].join('|'),
  'uy',
);

const UNSEEN = 0, SPACE = 1, LETTER = 2, NUMBER = 3, OTHER = 4, NONE = 5; // NONE: U+0345, matches nothing
const SPACE_CHAR = new RegExp(`^[${REGEX_SPACE}]$`);
const LETTER_CHAR = /^\p{L}$/u;
const NUMBER_CHAR = /^\p{N}$/u;

function classOf(cp: number): number {
  const ch = String.fromCodePoint(cp);
  if (SPACE_CHAR.test(ch)) return SPACE;
  if (LETTER_CHAR.test(ch)) return LETTER;
  if (NUMBER_CHAR.test(ch)) return NUMBER;
  return cp === 0x345 ? NONE : OTHER;
}

// one byte per code point (1.1 MB): fixed size whatever the input
const classes = new Uint8Array(0x110000);

for (let cp = 0; cp < 0x80; cp++) classes[cp] = classOf(cp); // ASCII is read without the UNSEEN check

function charClass(cp: number): number {
  let c = classes[cp]!;
  if (c === UNSEEN) c = classes[cp] = classOf(cp);
  return c;
}

const APOSTROPHE = 0x27, LESS_THAN = 0x3c;

/** Calls `word` with each pre-token of `text`, in order. A lone surrogate counts as a symbol. */
export function scanWords(text: string, word: (w: string) => void): void {
  const n = text.length;
  for (let i = 0; i < n; ) {
    const cp = text.codePointAt(i)!;
    if (cp === APOSTROPHE || cp === LESS_THAN) {
      SPECIAL_RE.lastIndex = i;
      const m = SPECIAL_RE.exec(text);
      if (m) {
        word(m[0]);
        i += m[0].length;
        continue;
      }
    }
    const cls = charClass(cp);
    const width = cp > 0xffff ? 2 : 1;
    if (cls === SPACE || cls === NONE) {
      i += width;
      continue;
    }
    if (cls === NUMBER) {
      word(text.slice(i, i + width));
      i += width;
      continue;
    }
    // a run of letters, or of symbols
    let j = i + width;
    while (j < n) {
      const unit = text.charCodeAt(j);
      if (unit < 0x80) {
        if (classes[unit] !== cls) break;
        j++;
        continue;
      }
      const c = text.codePointAt(j)!;
      if (charClass(c) !== cls) break;
      j += c > 0xffff ? 2 : 1;
    }
    word(text.slice(i, j));
    i = j;
  }
}

/** CLIP's pre-tokenisation of an already cleaned string into words, numbers and symbol runs. */
export function preTokenize(cleaned: string): string[] {
  const words: string[] = [];
  scanWords(cleaned, (w) => words.push(w));
  return words;
}
