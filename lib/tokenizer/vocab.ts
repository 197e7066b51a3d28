// CLIP's BPE vocabulary: bpe_simple_vocab_16e6.txt.gz (openai/CLIP), shipped in native/data/.
//
// Ids, exactly as SimpleTokenizer builds them:
//   0..255        the 256 byte characters (bytes_to_unicode order)
//   256..511      the same + '</w>' (end of word)
//   512..49405    the 48894 merges, joined, in file order (the lines after the header line)
//   49406, 49407  '<|startoftext|>', '<|endoftext|>'

import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { constants as zlibConstants, gunzipSync } from 'node:zlib';

import { packageRoot } from '../package-root.js';

export const VOCAB_FILE = 'bpe_simple_vocab_16e6.txt.gz';
export const SOT = 49406;
export const EOT = 49407;
export const VOCAB_SIZE = 49408;
const MERGE_COUNT = 49152 - 256 - 2; // CLIP reads merges[1 : 49152-256-2+1]

/**
 * GPT-2/CLIP's reversible byte -> character map: printable Latin-1 bytes keep their character,
 * the other 68 bytes get U+0100 onwards, in byte order. Returned in CLIP's vocabulary order
 * (printable bytes first), as [byte, char] pairs.
 */
export function bytesToUnicode(): Array<[number, string]> {
  const printable = (b: number) =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const pairs: Array<[number, string]> = [];
  for (let b = 0; b < 256; b++) if (printable(b)) pairs.push([b, String.fromCharCode(b)]);
  let n = 0;
  for (let b = 0; b < 256; b++) if (!printable(b)) pairs.push([b, String.fromCharCode(256 + n++)]);
  return pairs;
}

/** native/data/<file> in this package (the same file native/ builds against). */
export function defaultVocabPath(): string {
  const path = join(packageRoot, 'native', 'data', VOCAB_FILE);
  if (!existsSync(path)) {
    throw new Error(`CLIP vocabulary ${path} not found; pass its path to ClipTokenizer.load({ vocabPath })`);
  }
  return path;
}

/**
 * The built vocabulary. Loading only reads the merge list (ranks) and the byte tables; the id ->
 * string and string -> id tables are built on first use (encode() does not need them: a merged
 * symbol's id is 512 + the rank of the merge that made it, the vocabulary having no duplicates).
 */
export class Vocab {
  /** 'left right' -> merge rank (lower merges first); the merged symbol's id is 512 + rank */
  readonly ranks: ReadonlyMap<string, number>;
  /** byte value -> its stand-in character */
  readonly byteEncoder: readonly string[];
  /** stand-in character code (< 512) -> byte value, -1 where none */
  readonly byteDecoder: Int16Array;
  /** stand-in character code (< 512) -> its id (0..255), -1 where none; + 256 for '<char></w>' */
  readonly byteCharId: Int16Array;
  private readonly merges: readonly string[];
  private decoderTable: string[] | undefined;
  private encoderTable: Map<string, number> | undefined;

  constructor(merges: readonly string[]) {
    const byteEncoder: string[] = new Array<string>(256);
    const byteDecoder = new Int16Array(512).fill(-1);
    const byteCharId = new Int16Array(512).fill(-1);
    bytesToUnicode().forEach(([b, ch], id) => {
      byteEncoder[b] = ch;
      byteDecoder[ch.charCodeAt(0)] = b;
      byteCharId[ch.charCodeAt(0)] = id;
    });
    const ranks = new Map<string, number>();
    merges.forEach((line, i) => ranks.set(line, i));
    if (ranks.size !== merges.length) throw new Error('CLIP vocabulary has duplicate merges');
    this.merges = merges;
    this.ranks = ranks;
    this.byteEncoder = byteEncoder;
    this.byteDecoder = byteDecoder;
    this.byteCharId = byteCharId;
  }

  /** id -> token string, 49408 entries */
  get decoder(): readonly string[] {
    if (!this.decoderTable) {
      const base = bytesToUnicode().map(([, ch]) => ch);
      const table = [...base, ...base.map((ch) => ch + '</w>')];
      for (const line of this.merges) table.push(line.replace(' ', ''));
      table.push('<|startoftext|>', '<|endoftext|>');
      this.decoderTable = table;
    }
    return this.decoderTable;
  }

  /** token string -> id */
  get encoder(): ReadonlyMap<string, number> {
    if (!this.encoderTable) {
      const table = new Map<string, number>();
      this.decoder.forEach((tok, id) => table.set(tok, id));
      if (table.size !== VOCAB_SIZE) throw new Error(`CLIP vocabulary has ${table.size} distinct tokens, expected ${VOCAB_SIZE}`);
      this.encoderTable = table;
    }
    return this.encoderTable;
  }
}

/** The first `count` lines after the header of the gzipped merges file. */
function readMergeLines(gz: Uint8Array, count: number): string[] {
  // Only the first ~16% of the file is needed: inflate a quarter of the compressed bytes first
  // (Z_SYNC_FLUSH returns what a truncated stream holds), everything if that is not enough.
  for (const part of [gz.subarray(0, Math.ceil(gz.length / 4)), gz]) {
    const buf = gunzipSync(part, { finishFlush: zlibConstants.Z_SYNC_FLUSH });
    let end = 0;
    let n = 0;
    while (n <= count && (end = buf.indexOf(10, end) + 1) > 0) n++;
    if (n > count) return buf.toString('utf8', 0, end - 1).split('\n').slice(1);
  }
  throw new Error(`CLIP vocabulary has fewer than ${count + 1} lines`);
}

export function buildVocab(gz: Uint8Array): Vocab {
  const merges = readMergeLines(gz, MERGE_COUNT);
  merges.forEach((line, i) => {
    const space = line.indexOf(' ');
    if (space <= 0 || space === line.length - 1 || line.indexOf(' ', space + 1) !== -1) {
      throw new Error(`CLIP vocabulary line ${i + 2} is not a merge pair: ${JSON.stringify(line)}`);
    }
  });
  return new Vocab(merges);
}

const cache = new Map<string, Vocab>();

/** Load (once per process and path) and build the vocabulary. */
export function loadVocab(path?: string): Vocab {
  const file = resolve(path ?? defaultVocabPath());
  let vocab = cache.get(file);
  if (!vocab) {
    vocab = buildVocab(readFileSync(file));
    cache.set(file, vocab);
  }
  return vocab;
}
