// CLIP's byte-level BPE (SimpleTokenizer.bpe/encode/decode) over a cleaned string.

import { cleanText } from './clean.js';
import { EOT, SOT, type Vocab } from './vocab.js';

// The `regex` module's \s (Unicode White_Space); unlike Python's re it excludes \x1c-\x1f, and
// unlike JavaScript's \s it includes \x85 and excludes \ufeff.
const REGEX_SPACE = '\\t\\n\\v\\f\\r\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

// CLIP's pattern is compiled with re.IGNORECASE. JavaScript's /iu would also let U+0345 (a
// combining mark that case-folds to a Greek letter) match [\p{L}]; the `regex` module matches it
// with neither letter class nor symbol class, so it is skipped. Hence no 'i' flag: the literal
// alternatives spell out their case variants (including 'ſ', which folds to 's') and U+0345 is
// excluded from the symbol class.
const caseless = (lit: string) =>
  lit.replace(/[a-z]/g, (c) => `[${c}${c.toUpperCase()}${c === 's' ? '\u017f' : ''}]`).replace(/\|/g, '\\|');
const WORD_RE = new RegExp(
  [
    caseless('<|startoftext|>'), caseless('<|endoftext|>'),
    ...['s', 't', 're', 've', 'm', 'll', 'd'].map((c) => "'" + caseless(c)),
    '[\\p{L}]+', '[\\p{N}]', `[^${REGEX_SPACE}\\p{L}\\p{N}\\u0345]+`,
  ].join('|'),
  'gu',
);

/** CLIP's pre-tokenisation of an already cleaned string into words, numbers and symbol runs. */
export function preTokenize(cleaned: string): string[] {
  return Array.from(cleaned.matchAll(WORD_RE), (m) => m[0]);
}

const FIRST_MERGE_ID = 512; // ids 0..511: byte characters, then the same + '</w>'

const CACHE_LIMIT = 20_000;

export class Bpe {
  private readonly cache = new Map<string, readonly number[]>();
  private readonly utf8 = new TextDecoder('utf-8', { ignoreBOM: true }); // errors -> U+FFFD

  constructor(readonly vocab: Vocab) {}

  /**
   * Merge one pre-token (in byte characters) into BPE symbols, the last one ending in '</w>'.
   * Returns the symbols' ids.
   */
  merge(token: string): number[] {
    if (token === '<|startoftext|>') return [SOT];
    if (token === '<|endoftext|>') return [EOT];
    const { ranks, byteCharId } = this.vocab;
    const n = token.length; // byte characters are single UTF-16 units
    const syms: string[] = new Array<string>(n);
    const ids: number[] = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      syms[i] = token[i]!;
      ids[i] = byteCharId[token.charCodeAt(i)]!;
    }
    syms[n - 1] += '</w>';
    ids[n - 1]! += 256;
    while (syms.length > 1) {
      // The adjacent pair with the lowest rank; merge every occurrence of it, left to right.
      let best = Infinity;
      let first = '';
      let second = '';
      for (let i = 0; i + 1 < syms.length; i++) {
        const r = ranks.get(syms[i] + ' ' + syms[i + 1]);
        if (r !== undefined && r < best) {
          best = r;
          first = syms[i]!;
          second = syms[i + 1]!;
        }
      }
      if (best === Infinity) break;
      let out = 0;
      for (let i = 0; i < syms.length; i++, out++) {
        if (i + 1 < syms.length && syms[i] === first && syms[i + 1] === second) {
          syms[out] = first + second;
          ids[out] = FIRST_MERGE_ID + best;
          i++;
        } else {
          syms[out] = syms[i]!;
          ids[out] = ids[i]!;
        }
      }
      syms.length = out;
      ids.length = out;
    }
    return ids;
  }

  /** Ids of one pre-token given as text (UTF-8 bytes -> byte characters -> BPE), cached. */
  private encodeWord(piece: string): readonly number[] {
    let ids: readonly number[] | undefined = this.cache.get(piece);
    if (ids) return ids;
    const { byteEncoder } = this.vocab;
    let chars = '';
    for (const b of Buffer.from(piece, 'utf8')) chars += byteEncoder[b];
    ids = this.merge(chars);
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(piece, ids);
    return ids;
  }

  /** SimpleTokenizer.encode: clean, pre-tokenise, BPE. No SOT/EOT. */
  encode(text: string): number[] {
    const ids: number[] = [];
    for (const m of cleanText(text).matchAll(WORD_RE)) {
      for (const id of this.encodeWord(m[0])) ids.push(id);
    }
    return ids;
  }

  /** The BPE symbols (vocabulary strings) encode() would give, for inspection. */
  tokens(text: string): string[] {
    return this.encode(text).map((id) => this.vocab.decoder[id]!);
  }

  /** SimpleTokenizer.decode: ids -> bytes -> UTF-8 (invalid -> U+FFFD), '</w>' -> ' '. */
  decode(ids: Iterable<number>): string {
    const { decoder, byteDecoder } = this.vocab;
    const bytes: number[] = [];
    for (const id of ids) {
      const tok = Number.isInteger(id) ? decoder[id] : undefined;
      if (tok === undefined) throw new RangeError(`token id must be an integer between 0 and ${decoder.length - 1}, got ${id}`);
      for (let i = 0; i < tok.length; i++) bytes.push(byteDecoder[tok.charCodeAt(i)]!);
    }
    return this.utf8.decode(Uint8Array.from(bytes)).replaceAll('</w>', ' ');
  }
}
