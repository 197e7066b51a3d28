// The fast tokenizer paths give what the plain ones gave. The digests below were recorded with the
// tokenizer and prompt parsers as they were before the speed-ups (commit 2e02537: string-keyed BPE
// merge loop, regex pre-tokeniser, splice-merged prompt parts), over 1500 fuzz-like prompts; the
// goldens against CLIP and A1111 themselves are in tokenizer.test.ts and prompt-schedule.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ClipTokenizer, parsePromptAttention } from '../../lib/tokenizer/index.js';
import { PairRanks, mergeHeap, mergeIds } from '../../lib/tokenizer/merge.js';
import { promptSchedule } from '../../lib/tokenizer/prompt-schedule.js';
import { loadVocab } from '../../lib/tokenizer/vocab.js';
import { Rng } from '../fuzz/js/mutate.js';
import { promptDigest, promptInputs, tokenizerDigest } from '../helpers/prompt-inputs.js';

const inputs = promptInputs(1500, 2026);

test('tokenizer: same ids, text and chunks as before on 1500 fuzz-like prompts', () => {
  const tok = ClipTokenizer.load();
  // the tokenizer fuzz target's length; one run longer than that would only add time
  assert.equal(tokenizerDigest(tok, inputs.map((b) => b.subarray(0, 2048))), '4d5947194b9159aeeda1170e4cb9efed974b7860967e8911905e2a98acdec772');
});

test('prompt parsers: same parts, weights and schedules as before on 1500 fuzz-like prompts', () => {
  assert.equal(promptDigest(parsePromptAttention, promptSchedule, inputs), '4b4b532eca51a51929b0926007bbb57d5bacac163a6a519b1746a8247271d3fa');
});

test('BPE merge: the heap merge equals the plain loop on words of every shape and length', () => {
  const vocab = loadVocab();
  const pairs = new PairRanks(vocab);
  const rng = new Rng(7);
  const alphabets = ['abcdefghijklmnopqrstuvwxyz', 'ab', 'a', 'aeiou', '!?.,-_~*', 'xyz0'];
  let words = 0;
  for (let length = 1; length <= 300; length += length < 40 ? 1 : 13) {
    for (const alphabet of alphabets) {
      const ids = Array.from({ length }, () => vocab.byteCharId[alphabet.charCodeAt(rng.below(alphabet.length))]!);
      ids[length - 1]! += 256; // '</w>'
      const plain = mergeIds([...ids], pairs, Infinity);
      assert.deepEqual(mergeHeap([...ids], pairs), plain, `${alphabet} × ${length}`);
      assert.deepEqual(mergeIds([...ids], pairs), plain, `${alphabet} × ${length}`);
      words++;
    }
  }
  assert.equal(words, 360);
});
