// A small seeded mutation engine for the JS fuzzers (jazzer.js's prebuilt fuzzer needs glibc
// 2.38 and building it needs a compiler): byte flips, interesting values, inserts, deletes,
// duplicated ranges, splices with another corpus entry, and tokens from a dictionary. Seeded, so
// a finding is reproduced by its seed and execution number as well as by its saved input.

/** mulberry32: small, fast, good enough to drive mutations; the same seed gives the same run. */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  next(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** an integer in [0, n) */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(list: readonly T[]): T {
    return list[this.below(list.length)]!;
  }
}

const INTERESTING = [0, 1, 0x7f, 0x80, 0xff, 0x20, 0x28, 0x29, 0x3a, 0x5b, 0x5d, 0x5c];
const INTERESTING32 = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0x10000, 0xffff, 65536 * 4];

/** One to four mutations of `input`, with `other` (another corpus entry) for splices. */
export function mutate(rng: Rng, input: Buffer, other: Buffer, dictionary: readonly Buffer[], maxLength: number): Buffer {
  let b = Buffer.from(input);
  const rounds = 1 + rng.below(4);
  for (let r = 0; r < rounds; r++) {
    const at = b.length ? rng.below(b.length) : 0;
    switch (rng.below(11)) {
      case 0: // flip one bit
        if (b.length) b[at]! ^= 1 << rng.below(8);
        break;
      case 1: // an interesting byte
        if (b.length) b[at] = rng.pick(INTERESTING);
        break;
      case 2: // an interesting 32-bit big-endian value (lengths, sizes)
        if (b.length >= 4) b.writeUInt32BE(rng.pick(INTERESTING32), rng.below(b.length - 3));
        break;
      case 3: // random bytes inserted
        b = Buffer.concat([b.subarray(0, at), Buffer.from(Array.from({ length: 1 + rng.below(8) }, () => rng.below(256))), b.subarray(at)]);
        break;
      case 4: { // a range deleted
        const n = 1 + rng.below(Math.max(1, Math.min(64, b.length - at)));
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + n)]);
        break;
      }
      case 5: { // a range duplicated
        const n = 1 + rng.below(Math.max(1, Math.min(64, b.length - at)));
        b = Buffer.concat([b.subarray(0, at + n), b.subarray(at, at + n), b.subarray(at + n)]);
        break;
      }
      case 6: { // spliced with another entry
        const from = other.length ? rng.below(other.length) : 0;
        b = Buffer.concat([b.subarray(0, at), other.subarray(from, from + 1 + rng.below(256))]);
        break;
      }
      case 7: // truncated
        b = b.subarray(0, at);
        break;
      case 8: { // one to eight bytes repeated up to 512 times (runs: nesting, long numbers)
        const n = 1 + rng.below(Math.max(1, Math.min(8, b.length - at)));
        const piece = b.subarray(at, at + n);
        b = Buffer.concat([b.subarray(0, at), ...Array.from({ length: 2 + rng.below(511) }, () => piece), b.subarray(at + n)]);
        break;
      }
      default: // a dictionary token inserted or written over
        if (dictionary.length) {
          const token = rng.pick(dictionary);
          b = rng.below(2) ? Buffer.concat([b.subarray(0, at), token, b.subarray(at)]) : Buffer.concat([b.subarray(0, at), token, b.subarray(at + token.length)]);
        }
    }
  }
  return b.length > maxLength ? b.subarray(0, maxLength) : b;
}
