// The BPE merge loop over symbol ids, with SimpleTokenizer.bpe's exact result: repeatedly take the
// adjacent pair with the lowest merge rank and merge all its occurrences left to right.
//
// Pairs are looked up by id (a merged symbol's id is 512 + its merge rank, the vocabulary having no
// duplicate tokens), never by building 'left right' strings. The plain loop costs a scan of the word
// per round: cheap for real words and for repetitive runs ('aaaa…' halves each round), O(n^2) on a
// long word that merges one pair per round (2000 random letters: 1000 rounds). Such a word moves to
// a heap of pairs, O(n log n), after a few rounds.

import type { Vocab } from './vocab.js';

const FIRST_MERGE_ID = 512;
const EMPTY = -1;
// Measured on 2048-letter words: a plain round costs ~13 ns per symbol, the whole heap merge
// ~600 ns per symbol; so a long word moves to the heap once it has taken this many rounds.
const HEAP_MIN_SYMBOLS = 64;
const HEAP_AFTER_ROUNDS = 16;

/** (left id, right id) -> merge rank, an open-addressing table (ids < 2^16). */
export class PairRanks {
  private readonly keys: Int32Array;
  private readonly ranks: Int32Array;
  private readonly mask: number;
  /** ids of each merge's left and right symbol, by rank */
  readonly left: Int32Array;
  readonly right: Int32Array;

  constructor(vocab: Vocab) {
    const encoder = vocab.encoder;
    const count = vocab.ranks.size;
    let size = 1;
    while (size < count * 2) size <<= 1;
    this.keys = new Int32Array(size).fill(EMPTY);
    this.ranks = new Int32Array(size);
    this.mask = size - 1;
    this.left = new Int32Array(count).fill(EMPTY);
    this.right = new Int32Array(count).fill(EMPTY);
    for (const [pair, rank] of vocab.ranks) {
      const space = pair.indexOf(' ');
      const l = encoder.get(pair.slice(0, space)), r = encoder.get(pair.slice(space + 1));
      // A half that is no token can never be adjacent in a word: the merge never applies.
      if (l === undefined || r === undefined) continue;
      this.left[rank] = l;
      this.right[rank] = r;
      const key = (l << 16) | r;
      let slot = this.slot(key);
      while (this.keys[slot] !== EMPTY) slot = (slot + 1) & this.mask;
      this.keys[slot] = key;
      this.ranks[slot] = rank;
    }
  }

  private slot(key: number): number {
    return (Math.imul(key, 0x9e3779b1) >>> 15) & this.mask;
  }

  /** The merge rank of the pair, or -1. */
  get(l: number, r: number): number {
    const key = (l << 16) | r;
    for (let slot = this.slot(key); ; slot = (slot + 1) & this.mask) {
      const k = this.keys[slot]!;
      if (k === key) return this.ranks[slot]!;
      if (k === EMPTY) return -1;
    }
  }
}

/**
 * Merges `ids` (the word's byte ids, the last one with '</w>') in place; returns the result.
 * heapAfter: rounds of the plain loop before a long word moves to the heap (tests force both).
 */
export function mergeIds(ids: number[], pairs: PairRanks, heapAfter = HEAP_AFTER_ROUNDS): number[] {
  let n = ids.length;
  for (let round = 0; n > 1; round++) {
    if (round >= heapAfter && n >= HEAP_MIN_SYMBOLS) {
      ids.length = n;
      return mergeHeap(ids, pairs);
    }
    // SimpleTokenizer.bpe as written: one scan for the best pair, one pass merging it.
    let best = -1;
    for (let i = 0; i + 1 < n; i++) {
      const r = pairs.get(ids[i]!, ids[i + 1]!);
      if (r >= 0 && (best < 0 || r < best)) best = r;
    }
    if (best < 0) break;
    const l = pairs.left[best]!, r = pairs.right[best]!;
    let out = 0;
    for (let i = 0; i < n; i++, out++) {
      if (i + 1 < n && ids[i] === l && ids[i + 1] === r) {
        ids[out] = FIRST_MERGE_ID + best;
        i++;
      } else {
        ids[out] = ids[i]!;
      }
    }
    n = out;
  }
  ids.length = n;
  return ids;
}

/**
 * The same merges with a heap of (rank, position) pairs over a linked list of symbols. One round
 * takes every entry of the lowest rank in position order, i.e. left to right as the plain loop,
 * and skips those a merge of this round already used; pairs the round creates enter the heap
 * after it, as the plain loop only sees them on its next scan. Stale entries are skipped when
 * their symbols no longer form that pair.
 */
export function mergeHeap(ids: number[], pairs: PairRanks): number[] {
  const n = ids.length;
  const sym = Int32Array.from(ids); // -1 once merged into the symbol on its left
  const next = new Int32Array(n), prev = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    next[i] = i + 1 < n ? i + 1 : -1;
    prev[i] = i - 1;
  }
  const heap = new PairHeap(3 * n);
  for (let i = 0; i + 1 < n; i++) {
    const r = pairs.get(sym[i]!, sym[i + 1]!);
    if (r >= 0) heap.push(r, i);
  }
  const round = new Int32Array(n), merged = new Int32Array(n);
  while (heap.size > 0) {
    const rank = heap.topRank();
    let count = 0;
    while (heap.size > 0 && heap.topRank() === rank) round[count++] = heap.pop();
    const l = pairs.left[rank]!, r = pairs.right[rank]!, id = FIRST_MERGE_ID + rank;
    let done = 0;
    for (let k = 0; k < count; k++) {
      const at = round[k]!;
      const q = next[at]!;
      if (sym[at] !== l || q < 0 || sym[q] !== r) continue;
      sym[at] = id;
      sym[q] = -1;
      const after = next[q]!;
      next[at] = after;
      if (after >= 0) prev[after] = at;
      merged[done++] = at;
    }
    for (let k = 0; k < done; k++) {
      const at = merged[k]!;
      const before = prev[at]!, after = next[at]!;
      if (before >= 0) {
        const rb = pairs.get(sym[before]!, sym[at]!);
        if (rb >= 0) heap.push(rb, before);
      }
      if (after >= 0) {
        const ra = pairs.get(sym[at]!, sym[after]!);
        if (ra >= 0) heap.push(ra, at);
      }
    }
  }
  const out: number[] = [];
  for (let i = 0; i >= 0; i = next[i]!) out.push(sym[i]!);
  return out;
}

/** A binary min-heap of (rank, position), ordered by rank then position. */
class PairHeap {
  private readonly ranks: Int32Array;
  private readonly positions: Int32Array;
  size = 0;

  constructor(capacity: number) {
    this.ranks = new Int32Array(capacity);
    this.positions = new Int32Array(capacity);
  }

  private less(a: number, b: number): boolean {
    const ra = this.ranks[a]!, rb = this.ranks[b]!;
    return ra < rb || (ra === rb && this.positions[a]! < this.positions[b]!);
  }

  private swap(a: number, b: number): void {
    const r = this.ranks[a]!, p = this.positions[a]!;
    this.ranks[a] = this.ranks[b]!;
    this.positions[a] = this.positions[b]!;
    this.ranks[b] = r;
    this.positions[b] = p;
  }

  topRank(): number {
    return this.ranks[0]!;
  }

  push(rank: number, position: number): void {
    let i = this.size++;
    this.ranks[i] = rank;
    this.positions[i] = position;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  /** Removes the top entry; returns its position. */
  pop(): number {
    const top = this.positions[0]!;
    const last = --this.size;
    this.ranks[0] = this.ranks[last]!;
    this.positions[0] = this.positions[last]!;
    for (let i = 0; ;) {
      const a = 2 * i + 1, b = a + 1;
      let m = i;
      if (a < last && this.less(a, m)) m = a;
      if (b < last && this.less(b, m)) m = b;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
    return top;
  }
}
