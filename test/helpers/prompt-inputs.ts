// Fuzz-like prompt texts, and digests of what the tokenizer and the prompt parsers make of them,
// for differential tests (old code against new) and timings. The texts are the prompt corpus
// mutated by the fuzz mutator from a fixed seed; unlike the fuzz loop, which keeps inputs by what
// the code under test does, every input joins the pool here, so a seed gives the same inputs
// whatever the code does.
import { createHash } from 'node:crypto';

import type { WeightedText } from '../../lib/tokenizer/prompt.js';
import { Rng, mutate } from '../fuzz/js/mutate.js';
import { loadCorpus } from '../fuzz/js/run.js';
import { TARGETS } from '../fuzz/js/targets.js';

const POOL = 512;

export function promptInputs(count: number, seed: number, maxLength = 4096): Buffer[] {
  const { inputs, dictionary } = loadCorpus(TARGETS.find((t) => t.name === 'prompt')!);
  const rng = new Rng(seed);
  const pool = [...inputs];
  const out: Buffer[] = [...inputs];
  while (out.length < count) {
    const input = mutate(rng, rng.pick(pool), rng.pick(pool), dictionary, maxLength);
    out.push(input);
    if (pool.length < POOL) pool.push(input);
    else pool[rng.below(POOL)] = input;
  }
  return out;
}

/** The parts of ClipTokenizer the digest reads (an interface, so an older copy can be digested too). */
export interface TokenizerLike {
  encode(text: string): number[];
  decode(ids: Iterable<number>): string;
  tokenizeWeighted(prompt: string, options: { padId: number }): { tokenCount: number; chunks: Array<{ ids: Int32Array; weights: Float32Array; eotIndex: number }> };
}

const errorText = (e: unknown) => `${(e as Error).name}:${(e as Error).message}`;

/** sha256 of encode, decode and tokenizeWeighted (both paddings, or the error) of every input. */
export function tokenizerDigest(tok: TokenizerLike, inputs: readonly Buffer[]): string {
  const h = createHash('sha256');
  for (const input of inputs) {
    const text = input.toString('utf8');
    const ids = tok.encode(text);
    h.update(JSON.stringify(ids)).update(tok.decode(ids));
    for (const padId of [49407, 0]) {
      try {
        const w = tok.tokenizeWeighted(text, { padId });
        h.update(String(w.tokenCount));
        for (const c of w.chunks) h.update(Buffer.from(c.ids.buffer)).update(Buffer.from(c.weights.buffer)).update(String(c.eotIndex));
      } catch (e) {
        h.update(errorText(e));
      }
    }
  }
  return h.digest('hex');
}

/** sha256 of parsePromptAttention (weights to the bit) and promptSchedule (plain and hires) of every input. */
export function promptDigest(
  parse: (text: string) => WeightedText[],
  schedule: (prompt: string, steps: number, hiresSteps?: number) => Array<[number, string]>,
  inputs: readonly Buffer[],
): string {
  const h = createHash('sha256');
  const bits = Buffer.alloc(8);
  for (const input of inputs) {
    const text = input.toString('utf8');
    for (const p of parse(text)) {
      bits.writeDoubleLE(p.weight);
      h.update(p.text).update(bits);
    }
    const steps = 1 + (input.length % 150);
    for (const hires of [undefined, 1 + (input.length % 7)]) h.update(JSON.stringify(schedule(text, steps, hires)));
  }
  return h.digest('hex');
}
