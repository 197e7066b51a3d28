// Weighted prompt -> 77-token chunks, as AUTOMATIC1111's FrozenCLIPEmbedderWithCustomWords does
// it (modules/sd_hijack_clip.py tokenize_line + process_tokens):
//  - each parsed run is tokenised on its own; tokens fill chunks of `chunkSize` (75);
//  - when a chunk is full and the next token is not a comma, and the chunk's last comma is within
//    the last `commaPaddingBacktrack` (20) tokens, the tokens after that comma move to the next chunk;
//  - BREAK closes the current chunk (an empty chunk still becomes a chunk);
//  - a chunk is [SOT, tokens, EOT...] padded with EOT to chunkSize + 2, weights 1.0 outside the
//    tokens; then, when padId != EOT (OpenCLIP: SD2, SDXL's bigG), every id after the chunk's
//    first EOT becomes padId;
//  - tokenCount = chunkSize per closed chunk + the tokens of the last one (A1111's "75/150" count);
//  - textual-inversion names (found by `embeddings` in a run's ids, longest first) become one slot
//    per vector (id 0, the run's weight); an embedding that does not fit in the rest of a chunk
//    starts the next one. Unlike A1111, slots moved by the comma backtrack keep their vectors, and an
//    embedding longer than a chunk is an error rather than a chunk CLIP cannot read.

import { EOT, SOT, VOCAB_SIZE } from './vocab.js';
import { isBreak, type WeightedText } from './prompt.js';

export interface WeightedChunk {
  /** chunkSize + 2 token ids: SOT, up to chunkSize prompt tokens, EOT, padding */
  ids: Int32Array;
  /** per-id emphasis multiplier (1.0 for SOT, EOT and padding) */
  weights: Float32Array;
  /** index of the first EOT in ids (the token SDXL's pooled output is taken from) */
  eotIndex: number;
  /** textual-inversion slots: ids[index] takes vector `vector` of embedding `name` */
  embeds: Array<{ index: number; name: string; vector: number }>;
}

/** An embedding found in a run of token ids: its name, vector count and how many ids its name spans. */
export interface EmbeddingMatch {
  name: string;
  vectors: number;
  tokenLength: number;
}

export interface WeightedTokens {
  chunks: WeightedChunk[];
  tokenCount: number;
}

export interface ChunkOptions {
  /** padding id: 49407 (EOT) for SD1 / CLIP-L, 0 for OpenCLIP (SD2, SDXL bigG) */
  padId: number;
  /** prompt tokens per chunk; default 75 */
  chunkSize?: number;
  /** A1111 "comma padding backtrack"; default 20, 0 disables */
  commaPaddingBacktrack?: number;
  /** finds a textual-inversion name starting at tokens[position] */
  embeddings?: (tokens: readonly number[], position: number) => EmbeddingMatch | undefined;
}

function checkInt(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer between ${min} and ${max}, got ${value}`);
  }
}

export function validateChunkOptions(opts: ChunkOptions): Required<Omit<ChunkOptions, 'embeddings'>> & Pick<ChunkOptions, 'embeddings'> {
  if (opts === null || typeof opts !== 'object') {
    throw new TypeError('tokenizeWeighted options must be an object like { padId: 49407 }');
  }
  const full = { chunkSize: 75, commaPaddingBacktrack: 20, ...opts };
  checkInt('padId', full.padId, 0, VOCAB_SIZE - 1);
  checkInt('chunkSize', full.chunkSize, 1, 1 << 20);
  checkInt('commaPaddingBacktrack', full.commaPaddingBacktrack, 0, 1 << 20);
  return full;
}

/**
 * Lay out already-tokenised weighted runs into chunks. `runs[i]` are the ids of `parts[i].text`
 * (ignored for BREAK markers). `commaId` is the id of ',</w>'.
 */
export function buildChunks(
  parts: readonly WeightedText[],
  runs: ReadonlyArray<readonly number[]>,
  commaId: number,
  options: ChunkOptions,
): WeightedTokens {
  const { padId, chunkSize, commaPaddingBacktrack, embeddings } = validateChunkOptions(options);
  const chunks: WeightedChunk[] = [];
  type Slot = { name: string; vector: number } | undefined;
  let tokens: number[] = [];
  let mults: number[] = [];
  let slots: Slot[] = [];
  let tokenCount = 0;
  let lastComma = -1;

  const nextChunk = (isLast: boolean) => {
    tokenCount += isLast ? tokens.length : chunkSize;
    const n = chunkSize + 2;
    const ids = new Int32Array(n).fill(EOT);
    const weights = new Float32Array(n).fill(1);
    ids[0] = SOT;
    // element loops: TypedArray.set from a plain array takes a slow generic path
    for (let k = 0; k < tokens.length; k++) {
      ids[k + 1] = tokens[k]!;
      weights[k + 1] = mults[k]!;
    }
    const eotIndex = ids.indexOf(EOT);
    if (padId !== EOT) ids.fill(padId, eotIndex + 1);
    const embeds: WeightedChunk['embeds'] = [];
    for (let k = 0; k < slots.length; k++) if (slots[k]) embeds.push({ index: k + 1, ...slots[k]! });
    chunks.push({ ids, weights, eotIndex, embeds });
    tokens = [];
    mults = [];
    slots = [];
    lastComma = -1;
  };

  parts.forEach((part, i) => {
    if (isBreak(part)) {
      nextChunk(false);
      return;
    }
    const run = runs[i]!;
    for (let pos = 0; pos < run.length;) {
      const token = run[pos]!;
      if (token === commaId) {
        lastComma = tokens.length;
      } else if (
        commaPaddingBacktrack !== 0 && tokens.length === chunkSize && lastComma !== -1 &&
        tokens.length - lastComma <= commaPaddingBacktrack
      ) {
        const at = lastComma + 1;
        const moved = { tokens: tokens.slice(at), mults: mults.slice(at), slots: slots.slice(at) };
        tokens.length = at;
        mults.length = at;
        slots.length = at;
        nextChunk(false);
        ({ tokens, mults, slots } = moved);
      }
      if (tokens.length === chunkSize) nextChunk(false);
      const embedding = embeddings?.(run, pos);
      if (!embedding) {
        tokens.push(token);
        mults.push(part.weight);
        slots.push(undefined);
        pos += 1;
        continue;
      }
      if (embedding.vectors > chunkSize) {
        throw new RangeError(`embedding "${embedding.name}" has ${embedding.vectors} vectors; one prompt chunk holds ${chunkSize}`);
      }
      if (tokens.length + embedding.vectors > chunkSize) nextChunk(false);
      for (let v = 0; v < embedding.vectors; v++) {
        tokens.push(0);
        mults.push(part.weight);
        slots.push({ name: embedding.name, vector: v });
      }
      pos += embedding.tokenLength;
    }
  });
  if (tokens.length > 0 || chunks.length === 0) nextChunk(true);
  return { chunks, tokenCount };
}
