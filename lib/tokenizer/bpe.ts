// CLIP's byte-level BPE (SimpleTokenizer.bpe/encode/decode) over a cleaned string.

import { cleanText } from './clean.js';
import { mergeIds, PairRanks } from './merge.js';
import { scanWords } from './pretokenize.js';
import { EOT, SOT, type Vocab } from './vocab.js';

export { preTokenize } from './pretokenize.js';

// SimpleTokenizer keeps every word it has seen; here the cache is bounded in entries and in word
// length (a long word is merged in O(n log n) anyway), so hostile input cannot grow it.
const CACHE_LIMIT = 20_000;
const CACHE_WORD_LIMIT = 64;

export class Bpe {
  private readonly cache = new Map<string, readonly number[]>();
  private readonly utf8 = new TextDecoder('utf-8', { ignoreBOM: true }); // errors -> U+FFFD
  private readonly pairs: PairRanks;
  /** byte value -> id of its byte character (0..255) */
  private readonly byteId = new Int32Array(256);
  /** id -> the bytes decode() writes for it ('</w>' included, as SimpleTokenizer does) */
  private tokenBytes: Uint8Array[] | undefined;

  constructor(readonly vocab: Vocab) {
    this.pairs = new PairRanks(vocab);
    vocab.byteEncoder.forEach((ch, b) => (this.byteId[b] = vocab.byteCharId[ch.charCodeAt(0)]!));
  }

  /** Ids of one pre-token given as text (UTF-8 bytes -> byte characters -> BPE), cached. */
  private encodeWord(piece: string): readonly number[] {
    let ids: readonly number[] | undefined = this.cache.get(piece);
    if (ids) return ids;
    if (piece === '<|startoftext|>') return [SOT];
    if (piece === '<|endoftext|>') return [EOT];
    const { byteId } = this;
    const bytes: number[] = [];
    let ascii = true;
    for (let i = 0; i < piece.length && ascii; i++) {
      const c = piece.charCodeAt(i);
      if (c < 0x80) bytes.push(byteId[c]!);
      else ascii = false;
    }
    if (!ascii) {
      bytes.length = 0;
      for (const b of Buffer.from(piece, 'utf8')) bytes.push(byteId[b]!);
    }
    bytes[bytes.length - 1]! += 256; // '<char></w>'
    ids = mergeIds(bytes, this.pairs);
    if (piece.length <= CACHE_WORD_LIMIT) {
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      this.cache.set(piece, ids);
    }
    return ids;
  }

  /** SimpleTokenizer.encode: clean, pre-tokenise, BPE. No SOT/EOT. */
  encode(text: string): number[] {
    const ids: number[] = [];
    scanWords(cleanText(text), (word) => {
      const w = this.encodeWord(word);
      for (let i = 0; i < w.length; i++) ids.push(w[i]!);
    });
    return ids;
  }

  /** The BPE symbols (vocabulary strings) encode() would give, for inspection. */
  tokens(text: string): string[] {
    return this.encode(text).map((id) => this.vocab.decoder[id]!);
  }

  /** SimpleTokenizer.decode: ids -> bytes -> UTF-8 (invalid -> U+FFFD), '</w>' -> ' '. */
  decode(ids: Iterable<number>): string {
    const table = (this.tokenBytes ??= this.buildTokenBytes());
    const parts: Uint8Array[] = [];
    let length = 0;
    for (const id of ids) {
      const b = Number.isInteger(id) ? table[id] : undefined;
      if (b === undefined) throw new RangeError(`token id must be an integer between 0 and ${table.length - 1}, got ${id}`);
      parts.push(b);
      length += b.length;
    }
    const bytes = new Uint8Array(length);
    let at = 0;
    for (const b of parts) for (let k = 0; k < b.length; k++) bytes[at++] = b[k]!; // most are 1-3 bytes: a loop beats set()
    return this.utf8.decode(bytes).replaceAll('</w>', ' ');
  }

  private buildTokenBytes(): Uint8Array[] {
    const { decoder, byteDecoder } = this.vocab;
    return decoder.map((tok) => Uint8Array.from(tok, (ch) => byteDecoder[ch.charCodeAt(0)]!));
  }
}
