// CLIP tokenizer for Stable Diffusion: openai/CLIP SimpleTokenizer (ftfy clean-up, byte-level BPE)
// plus AUTOMATIC1111's prompt emphasis syntax and 75-token chunking. The native core receives the
// ids and per-token weights.
//
//   const tok = ClipTokenizer.load();
//   tok.encode('a photo of a cat');            // [320, 1125, 539, 320, 2368]
//   tok.tokenizeWeighted('a (red:1.3) cat', { padId: 49407 }); // SD1: { chunks: [{ ids, weights, eotIndex }], tokenCount: 3 }

import { Bpe } from './bpe.js';
import { buildChunks, type ChunkOptions, type WeightedTokens } from './chunks.js';
import { cleanText } from './clean.js';
import { isBreak, parsePromptAttention } from './prompt.js';
import { EOT, SOT, VOCAB_SIZE, loadVocab } from './vocab.js';

export { parsePromptAttention, type WeightedText } from './prompt.js';
export type { ChunkOptions, EmbeddingMatch, WeightedChunk, WeightedTokens } from './chunks.js';
export { cleanText } from './clean.js';
export { SOT, EOT, VOCAB_SIZE } from './vocab.js';

/** Padding ids: SD1 / CLIP-L pads with EOT, OpenCLIP (SD2, SDXL bigG) with 0. */
export const PAD_SD1 = EOT;
export const PAD_OPENCLIP = 0;

export interface LoadOptions {
  /** bpe_simple_vocab_16e6.txt.gz; default: native/data/ of this package */
  vocabPath?: string;
}

export interface WeightedOptions extends ChunkOptions {
  /** parse (emphasis), [de-emphasis] and BREAK; false = whole prompt at weight 1 (A1111 emphasis "None") */
  emphasis?: boolean;
}

export interface FixedOptions {
  /** total length including SOT and EOT; default 77 */
  contextLength?: number;
  /** default 0, as clip.tokenize */
  padId?: number;
  /** cut long prompts to contextLength keeping EOT last (default true); false throws */
  truncate?: boolean;
}

const instances = new Map<string, ClipTokenizer>();

export class ClipTokenizer {
  readonly sot = SOT;
  readonly eot = EOT;
  readonly vocabSize = VOCAB_SIZE;
  private readonly commaId: number;

  private constructor(private readonly bpe: Bpe) {
    this.commaId = bpe.vocab.byteCharId[','.charCodeAt(0)]! + 256; // ',</w>' (267), A1111's comma_token
  }

  /** The tokenizer for a vocabulary file, built once per process (≈100 ms) and then shared. */
  static load(options: LoadOptions = {}): ClipTokenizer {
    const key = options.vocabPath ?? '';
    let tok = instances.get(key);
    if (!tok) {
      tok = new ClipTokenizer(new Bpe(loadVocab(options.vocabPath)));
      instances.set(key, tok);
    }
    return tok;
  }

  /** CLIP's clean-up (ftfy, HTML unescape, whitespace, lower case): the text BPE sees. */
  clean(text: string): string {
    return cleanText(text);
  }

  /** SimpleTokenizer.encode: token ids without SOT/EOT, no length limit. */
  encode(text: string): number[] {
    return this.bpe.encode(text);
  }

  /** The vocabulary strings of encode(text), e.g. ['a</w>', 'photo</w>']. */
  tokens(text: string): string[] {
    return this.bpe.tokens(text);
  }

  /** SimpleTokenizer.decode: words end with a space, invalid UTF-8 becomes U+FFFD. */
  decode(ids: Iterable<number>): string {
    return this.bpe.decode(ids);
  }

  /** clip.tokenize / open_clip.tokenize for one text: [SOT, ids, EOT, pad...] of contextLength. */
  tokenizeFixed(text: string, options: FixedOptions = {}): Int32Array {
    const { contextLength = 77, padId = 0, truncate = true } = options;
    if (!Number.isInteger(contextLength) || contextLength < 2) {
      throw new RangeError(`contextLength must be an integer of at least 2, got ${contextLength}`);
    }
    if (!Number.isInteger(padId) || padId < 0 || padId >= VOCAB_SIZE) {
      throw new RangeError(`padId must be an integer between 0 and ${VOCAB_SIZE - 1}, got ${padId}`);
    }
    let ids = [SOT, ...this.encode(text), EOT];
    if (ids.length > contextLength) {
      if (!truncate) {
        throw new RangeError(`prompt has ${ids.length} tokens, more than contextLength ${contextLength}`);
      }
      ids = ids.slice(0, contextLength);
      ids[contextLength - 1] = EOT;
    }
    const out = new Int32Array(contextLength).fill(padId);
    out.set(ids);
    return out;
  }

  /**
   * A1111 prompt (emphasis syntax, BREAK) -> 77-id chunks with per-token weights. padId is required
   * because it depends on the text encoder: PAD_SD1 (49407) or PAD_OPENCLIP (0).
   */
  tokenizeWeighted(prompt: string, options: WeightedOptions): WeightedTokens {
    const parts = options?.emphasis === false ? [{ text: prompt, weight: 1 }] : parsePromptAttention(prompt);
    // A1111 multiplies nested weights as floats: "(" × 1000 or a 400-digit weight reach ±Infinity (or
    // pass 32-bit range; 0 × Infinity is NaN), and the text encoder then makes NaN conditioning:
    // refused here instead.
    for (const p of parts) {
      if (!isBreak(p) && !Number.isFinite(Math.fround(p.weight))) {
        throw new RangeError(`the emphasis weight of ${JSON.stringify(p.text.slice(0, 40))} is ${p.weight}, not a finite 32-bit number ` +
          '(a huge weight or hundreds of nested brackets); use weights of a sensible size');
      }
    }
    const runs = parts.map((p) => (isBreak(p) ? [] : this.encode(p.text)));
    return buildChunks(parts, runs, this.commaId, options);
  }
}
