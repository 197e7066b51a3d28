// The JS fuzz targets: the PNG decoder (and its text reader), the CLIP tokenizer with A1111's
// emphasis chunks, and the prompt parsers (attention syntax, prompt editing / alternation). Each
// run() checks invariants and throws an Invariant on a violation; an expected refusal (an SdError,
// or the RangeError the tokenizer documents) is fine. signature() names what happened, so the
// loop keeps inputs that reach something new.
import { deflateSync, inflateSync } from 'node:zlib';

import { SdError } from '../../../lib/errors.js';
import { PNG_SIGNATURE, crc32, decodePng, readPngText } from '../../../lib/png.js';
import { ClipTokenizer, EOT, SOT, VOCAB_SIZE, parsePromptAttention } from '../../../lib/tokenizer/index.js';
import { isBreak } from '../../../lib/tokenizer/prompt.js';
import { promptSchedule } from '../../../lib/tokenizer/prompt-schedule.js';
import { mutate, type Rng } from './mutate.js';

export class Invariant extends Error {
  override name = 'Invariant';
}

export interface Target {
  name: string;
  /** corpus folder under test/fuzz/corpus */
  corpus: string;
  maxLength: number;
  /** checks one input; returns a short description of the path it took */
  run(input: Buffer): string;
  mutate?(rng: Rng, input: Buffer, other: Buffer, dictionary: readonly Buffer[], maxLength: number): Buffer;
}

// `what` as a function when the message costs work: it is built only when the check fails (the
// schedule steps were joined once per entry of every schedule: 150² numbers per call).
const check = (ok: boolean, what: string | (() => string)) => {
  if (!ok) throw new Invariant(typeof what === 'string' ? what : what());
};
// An error message without its numbers and quoted values: one signature per kind of refusal.
const shape = (message: string) => message.replace(/\d+/g, '#').replace(/"[^"]*"/g, '"…"').slice(0, 80);
function expected(e: unknown, allowRangeError = false): string {
  if (e instanceof Invariant) throw e;
  if (e instanceof SdError) return `refused: ${shape(e.message)}`;
  if (allowRangeError && e instanceof RangeError && !/call stack/.test(e.message)) return `range: ${shape(e.message)}`;
  throw new Invariant(`threw ${(e as Error)?.name ?? typeof e} instead of SdError: ${(e as Error)?.message ?? String(e)}`);
}

// --- PNG -----------------------------------------------------------------------------------

interface Chunk { type: string; data: Buffer }

// Chunks read leniently (CRCs ignored), for the structure-aware mutations.
function chunksOf(b: Buffer): Chunk[] | undefined {
  if (b.length < 8 || !b.subarray(0, 8).equals(PNG_SIGNATURE)) return undefined;
  const out: Chunk[] = [];
  for (let pos = 8; pos + 12 <= b.length; ) {
    const len = b.readUInt32BE(pos);
    if (pos + 12 + len > b.length) break;
    out.push({ type: b.toString('latin1', pos + 4, pos + 8), data: Buffer.from(b.subarray(pos + 8, pos + 8 + len)) });
    pos += 12 + len;
  }
  return out;
}

function pngOf(chunks: Chunk[]): Buffer {
  const parts = [PNG_SIGNATURE];
  for (const c of chunks) {
    const head = Buffer.alloc(8), crc = Buffer.alloc(4);
    head.writeUInt32BE(c.data.length, 0);
    head.write(c.type.padEnd(4, 'x').slice(0, 4), 4, 'latin1');
    crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), c.data])));
    parts.push(head, c.data, crc);
  }
  return Buffer.concat(parts);
}

const TYPES = ['IHDR', 'PLTE', 'IDAT', 'IEND', 'tEXt', 'zTXt', 'iTXt', 'tRNS', 'gAMA', 'sRGB', 'pHYs'];

function mutatePng(rng: Rng, input: Buffer, other: Buffer, dictionary: readonly Buffer[], maxLength: number): Buffer {
  const chunks = chunksOf(input);
  // Byte-level, then (mostly) CRCs made right again so the damage reaches the parser behind them.
  if (!chunks || chunks.length === 0 || rng.below(4) === 0) {
    const b = mutate(rng, input, other, dictionary, maxLength);
    const again = rng.below(5) ? chunksOf(b) : undefined;
    return again ? pngOf(again) : b;
  }
  const i = rng.below(chunks.length);
  const c = chunks[i]!;
  switch (rng.below(6)) {
    case 0: { // an IHDR field: sizes, depth, colour type, interlace
      const ihdr = chunks.find((k) => k.type === 'IHDR');
      if (ihdr && ihdr.data.length === 13) {
        const field = rng.below(5);
        if (field === 0) ihdr.data.writeUInt32BE(rng.pick([0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 255, 256, 4097, 0x7fffffff, 0xffffffff]), 0);
        else if (field === 1) ihdr.data.writeUInt32BE(rng.pick([0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 255, 256, 4097, 0x7fffffff, 0xffffffff]), 4);
        else if (field === 2) ihdr.data[8] = rng.pick([0, 1, 2, 4, 8, 16, 3, 32]);
        else if (field === 3) ihdr.data[9] = rng.pick([0, 2, 3, 4, 6, 1, 5, 7]);
        else ihdr.data[12] = rng.pick([0, 1, 2]);
      }
      break;
    }
    case 1: { // the image data, mutated inflated and deflated again (filter bytes, short rows)
      const idat = chunks.filter((k) => k.type === 'IDAT');
      if (idat.length) {
        let raw: Buffer;
        try {
          raw = inflateSync(Buffer.concat(idat.map((k) => k.data)), { maxOutputLength: 1 << 20 });
        } catch {
          raw = Buffer.from(other.subarray(0, 256));
        }
        const changed = deflateSync(mutate(rng, raw, other, dictionary, 1 << 20));
        const at = chunks.indexOf(idat[0]!);
        const rest = chunks.filter((k) => k.type !== 'IDAT');
        // one IDAT, or the data split over two
        const cut = rng.below(2) ? changed.length : rng.below(changed.length + 1);
        const parts = [changed.subarray(0, cut), changed.subarray(cut)].filter((p, k) => k === 0 || p.length).map((data) => ({ type: 'IDAT', data }));
        rest.splice(Math.min(at, rest.length), 0, ...parts);
        return pngOf(rest);
      }
      break;
    }
    case 2: // a chunk dropped
      chunks.splice(i, 1);
      break;
    case 3: // a chunk duplicated
      chunks.splice(i, 0, { type: c.type, data: Buffer.from(c.data) });
      break;
    case 4: // a new chunk of a known type with data from elsewhere
      chunks.splice(i, 0, { type: rng.pick(TYPES), data: Buffer.from(mutate(rng, other.subarray(0, 64), input, dictionary, 512)) });
      break;
    default: // one chunk's data mutated, its CRC right
      c.data = Buffer.from(mutate(rng, c.data, other, dictionary, 4096));
  }
  const out = pngOf(chunks);
  return out.length > maxLength ? out.subarray(0, maxLength) : out;
}

const png: Target = {
  name: 'png',
  corpus: 'png',
  maxLength: 64 * 1024,
  mutate: mutatePng,
  run(input) {
    let text = 'text-refused';
    try {
      const t = readPngText(input);
      check(Object.values(t).every((v) => typeof v === 'string'), 'readPngText returned a value that is not a string');
      text = 'text-ok';
    } catch (e) {
      expected(e);
    }
    try {
      const img = decodePng(input);
      // what the header declares is what comes out: RGBA, width × height
      const w = input.readUInt32BE(16), h = input.readUInt32BE(20);
      check(img.width === w && img.height === h, `decoded ${img.width}×${img.height}, IHDR says ${w}×${h}`);
      check(img.channels === 4 && img.data.length === w * h * 4, `data is ${img.data.length} bytes for ${w}×${h} RGBA`);
      check(img.source.bitDepth === input[24] && img.source.colorType === input[25], 'source does not match IHDR');
      return `${text} decoded ${img.source.colorTypeName}/${img.source.bitDepth}`;
    } catch (e) {
      return `${text} ${expected(e)}`;
    }
  },
};

// --- tokenizer -----------------------------------------------------------------------------

let tokenizer: ClipTokenizer | undefined;

const tokens: Target = {
  name: 'tokenizer',
  corpus: 'prompt',
  maxLength: 2048,
  run(input) {
    const tok = (tokenizer ??= ClipTokenizer.load());
    const text = input.toString('utf8');
    const ids = tok.encode(text);
    check(ids.every((id) => Number.isInteger(id) && id >= 0 && id < VOCAB_SIZE && id !== SOT && id !== EOT), 'encode() gave an id outside the vocabulary or a start/end id');
    // decode → encode is the identity on ids (decode's words end with a space, which is what BPE splits on)
    const again = tok.encode(tok.decode(ids));
    check(again.length === ids.length && again.every((id, i) => id === ids[i]), `encode(decode(ids)) differs: ${ids.length} ids, then ${again.length}`);
    try {
      const w = tok.tokenizeWeighted(text, { padId: EOT });
      for (const c of w.chunks) {
        check(c.ids.length === 77 && c.ids[0] === SOT && c.weights.length === 77, 'a chunk is not 77 ids starting with SOT');
        check([...c.ids].every((id) => Number.isInteger(id) && id >= 0 && id < VOCAB_SIZE), 'a chunk id is outside the vocabulary');
        check([...c.weights].every((x) => Number.isFinite(x)), () => `a weight is not finite: ${[...c.weights].find((x) => !Number.isFinite(x))}`);
      }
      const weights = new Set(w.chunks.flatMap((c) => [...c.weights]));
      return `chunks ${Math.min(w.chunks.length, 4)}, ids ~2^${Math.round(Math.log2(ids.length + 1))}, ${Math.min(weights.size, 6)} weights${/[^\x00-\x7f]/.test(text) ? ', non-ASCII' : ''}`;
    } catch (e) {
      return expected(e, true);
    }
  },
};

// --- prompt parsers --------------------------------------------------------------------------

const prompt: Target = {
  name: 'prompt',
  corpus: 'prompt',
  maxLength: 4096,
  run(input) {
    const text = input.toString('utf8');
    const parts = parsePromptAttention(text);
    check(parts.length > 0, 'no parts');
    for (const p of parts) check(typeof p.text === 'string' && typeof p.weight === 'number', 'a part without text or weight');
    // The parser keeps A1111's float arithmetic (a 400-digit weight is Infinity, 0 × Infinity NaN);
    // what must hold is that such a weight never reaches the model: the tokenizer refuses it.
    const wild = parts.find((p) => !Number.isFinite(Math.fround(p.weight)) && !isBreak(p));
    if (wild) {
      let refused = false;
      try {
        (tokenizer ??= ClipTokenizer.load()).tokenizeWeighted(text, { padId: EOT });
      } catch (e) {
        refused = e instanceof RangeError && /not a finite 32-bit number/.test(e.message);
      }
      check(refused, `weight ${wild.weight} for ${JSON.stringify(wild.text.slice(0, 40))} was not refused by tokenizeWeighted`);
    }
    const steps = 1 + (input.length % 150);
    const kinds: string[] = [];
    for (const hires of [undefined, 1 + (input.length % 7)]) {
      const sched = promptSchedule(text, steps, hires);
      const total = hires ?? steps;
      check(sched.length > 0 && sched.at(-1)![0] === total, `the schedule does not end at step ${total}`);
      for (let i = 0; i < sched.length; i++) {
        const [end, t] = sched[i]!;
        check(Number.isInteger(end) && end >= 1 && end <= total && (i === 0 || end > sched[i - 1]![0]), () => `schedule steps ${sched.map((s) => s[0]).join(',')}`);
        check(typeof t === 'string', 'a schedule entry without text');
      }
      kinds.push(sched.length === 1 ? (sched[0]![1] === text ? 'plain' : 'rewritten') : `segments ${Math.min(sched.length, 5)}`);
    }
    return `${Math.min(parts.length, 6)} parts, ${kinds.join(' / ')}`;
  },
};

export const TARGETS: readonly Target[] = [png, tokens, prompt];
