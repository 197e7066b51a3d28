// CLIP tokenizer: golden parity with openai/CLIP SimpleTokenizer (+ ftfy 6.3.1), decode, and
// AUTOMATIC1111 prompt syntax / chunking. Expected values outside the golden file were produced by
// the reference Python code (CLIP's SimpleTokenizer with ftfy 6.3.1, A1111's prompt_parser.py and
// sd_hijack_clip.py tokenize_line) and are written out literally here.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { preTokenize } from '../../lib/tokenizer/bpe.js';
import { ClipTokenizer, EOT, PAD_OPENCLIP, PAD_SD1, SOT, parsePromptAttention } from '../../lib/tokenizer/index.js';
import { VOCAB_SIZE, bytesToUnicode, loadVocab } from '../../lib/tokenizer/vocab.js';

interface GoldenItem {
  prompt: string;
  cleaned: string;
  bpe_ids: number[];
  bpe_tokens: string[];
  decoded: string;
  clip_tokenize_77_truncate_pad0: number[];
}
const golden = JSON.parse(
  readFileSync(new URL('../fixtures/tokenizer_golden.json', import.meta.url), 'utf8'),
) as { sot: number; eot: number; vocab_size: number; items: GoldenItem[] };

const tok = ClipTokenizer.load();
const COMMA = 267;

test('golden: 31 prompts match SimpleTokenizer exactly (ids, tokens, cleaned, decoded, clip.tokenize)', (t) => {
  assert.equal(golden.items.length, 31);
  assert.equal(golden.sot, SOT);
  assert.equal(golden.eot, EOT);
  assert.equal(golden.vocab_size, tok.vocabSize);
  let matched = 0;
  for (const it of golden.items) {
    const ids = tok.encode(it.prompt);
    assert.deepEqual(ids, it.bpe_ids, `bpe_ids of ${JSON.stringify(it.prompt)}`);
    assert.deepEqual(tok.tokens(it.prompt), it.bpe_tokens, `bpe_tokens of ${JSON.stringify(it.prompt)}`);
    assert.equal(tok.clean(it.prompt), it.cleaned, `cleaned of ${JSON.stringify(it.prompt)}`);
    assert.equal(tok.decode(ids), it.decoded, `decoded of ${JSON.stringify(it.prompt)}`);
    assert.deepEqual(Array.from(tok.tokenizeFixed(it.prompt)), it.clip_tokenize_77_truncate_pad0,
      `clip.tokenize of ${JSON.stringify(it.prompt)}`);
    matched++;
  }
  t.diagnostic(`golden prompts matched: ${matched}/${golden.items.length}`);
  console.log(`tokenizer golden: ${matched}/${golden.items.length} prompts match`);
});

test('vocabulary layout matches SimpleTokenizer', () => {
  const pairs = bytesToUnicode();
  assert.equal(pairs.length, 256);
  assert.deepEqual(pairs[0], [0x21, '!']);
  assert.deepEqual(pairs[188], [0x00, '\u0100']); // first non-printable byte
  const v = ClipTokenizer.load();
  assert.equal(v, tok, 'load() is cached per process');
  assert.equal(tok.decode([0]), '!');
  assert.equal(tok.decode([256]), '! ');
  assert.deepEqual(tok.encode(','), [COMMA]);
  assert.deepEqual(tok.encode('<|startoftext|><|endoftext|>'), [SOT, EOT]);
  assert.equal(tok.decode([512]), 'in'); // first merge 'i n'
  // encode() takes a merged symbol's id as 512 + its merge rank: valid because no two ids share a string.
  const vocab = loadVocab();
  assert.equal(vocab.decoder.length, VOCAB_SIZE);
  assert.equal(vocab.encoder.size, VOCAB_SIZE);
  assert.equal(vocab.ranks.size, VOCAB_SIZE - 514);
  for (const [pair, rank] of vocab.ranks) assert.equal(vocab.encoder.get(pair.replace(' ', '')), 512 + rank);
  assert.equal(tok.decode([49405]), 'jekyll '); // last merge 'jeky ll</w>'
});

test('tokenizeFixed: clip.tokenize truncation and padding', () => {
  const long = 'cat '.repeat(100);
  const ids = tok.tokenizeFixed(long);
  assert.equal(ids.length, 77);
  assert.equal(ids[0], SOT);
  assert.equal(ids[75], 2368);
  assert.equal(ids[76], EOT);
  assert.throws(() => tok.tokenizeFixed(long, { truncate: false }), /more than contextLength 77/);
  const sd1 = tok.tokenizeFixed('a photo of a cat', { padId: PAD_SD1 });
  assert.deepEqual(Array.from(sd1.subarray(0, 8)), [SOT, 320, 1125, 539, 320, 2368, EOT, EOT]);
  assert.ok(sd1.subarray(6).every((x) => x === EOT));
});

test('decode round-trips and invalid input', () => {
  for (const it of golden.items) {
    const ids = tok.encode(it.prompt);
    assert.deepEqual(tok.encode(tok.decode(ids)), ids, `re-encode of ${JSON.stringify(it.prompt)}`);
  }
  assert.equal(tok.decode([]), '');
  // Byte 0xC3 alone is a truncated UTF-8 sequence: U+FFFD, as Python's errors="replace".
  const idOf = (byte: number) => bytesToUnicode().findIndex(([b]) => b === byte);
  assert.equal(tok.decode([idOf(0xc3)]), '\ufffd');
  assert.equal(tok.decode([idOf(0xc3), idOf(0xa9) + 256]), 'é ');
  assert.equal(tok.decode([idOf(0xef), idOf(0xbb), idOf(0xbf) + 256]), '\ufeff '); // BOM kept
  assert.throws(() => tok.decode([49408]), /token id must be an integer between 0 and 49407, got 49408/);
  assert.throws(() => tok.decode([-1]), RangeError);
  assert.throws(() => tok.decode([1.5]), RangeError);
});

test('clean-up follows ftfy 6.3.1 + html.unescape + whitespace + lower', () => {
  const cases: Array<[string, string, number[]]> = [
    ['\ufb02u\ufb03e\ufb06', 'fluffiest', [3698, 19961, 1509]], // Latin ligatures
    ['\uff2c\uff2f\uff35\uff24\u3000\uff2e\uff2f\uff29\uff33\uff25\uff33', 'loud noises', [7464, 31575]], // full width
    ['\uff76\uff80\uff76\uff85', '\u30ab\u30bf\u30ab\u30ca', [37367, 34941, 37367, 2429, 488]], // half-width katakana
    ['P&EACUTE;REZ', 'p\u00e9rez', [43167, 15192]], // ftfy's upper-case entities
    ['BUNDESSTRA&SZLIG;E', 'bundesstrasse', [2591, 6797, 1894, 8938]],
    ['&ldquo;hi&rdquo;', '"hi"', [257, 1883, 257]], // ftfy unescapes, then uncurls
    ['<i>&ldquo;hi&rdquo;', '<i>\u201chi\u201d', [283, 328, 29, 728, 506, 1883, 728, 507]], // '<': ftfy leaves entities; html.unescape keeps curls
    ['<b>&amp;amp;</b>', '<b>&</b>', [283, 321, 29, 5, 34308, 321, 285]], // html.unescape twice
    ['&amp;lt;', '<', [283]],
    ['AT&T &copy 2024', 'at&t \u00a9 2024', [536, 261, 339, 5811, 273, 271, 273, 275]], // legacy '&copy' without ';'
    ['&#128512;', '\u{1f600}', [7334]],
    ['\x1b[31mred\x1b[0m', 'red', [736]], // terminal escapes
    ['x\x93y\x94', 'x"y"', [343, 257, 344, 257]], // C1 controls read as Windows-1252, then uncurled
    ['a\x85b\x1cc', 'a\u2026bc', [320, 959, 2162]],
    ['e\u0301', '\u00e9', [4166]], // NFC
    ['a\u00a0b\u3000c', 'a b c', [320, 321, 322]],
    ['a\ufeffb', 'ab', [3937]], // BOM removed
    ['don\u2019t', "don't", [847, 713]],
    ['\u0132ssel \u01c5', 'ijssel d\u017e', [7337, 19373, 67, 129, 378]],
    ['caf\u00c3\u00a9', 'caf\u00e9', [15304]], // UTF-8 read as Latin-1
    ["a\u0345b '\u017f", "a\u0345b '\u017f", [320, 321, 6, 129, 379]], // regex IGNORECASE quirks
  ];
  for (const [input, cleaned, ids] of cases) {
    assert.equal(tok.clean(input), cleaned, `clean ${JSON.stringify(input)}`);
    assert.deepEqual(tok.encode(input), ids, `encode ${JSON.stringify(input)}`);
  }
});

test('pre-tokenisation: CLIP regex with Python whitespace and IGNORECASE semantics', () => {
  assert.deepEqual(preTokenize("how's it 3.14 ok?!"), ['how', "'s", 'it', '3', '.', '1', '4', 'ok', '?!']);
  assert.deepEqual(preTokenize('a\u0345b'), ['a', 'b']); // U+0345 matches no alternative under IGNORECASE
  assert.deepEqual(preTokenize("x'\u017f"), ['x', "'\u017f"]); // 'ſ' folds to 's'
  assert.deepEqual(preTokenize('a\ufeffb'), ['a', '\ufeff', 'b']); // U+FEFF is not \s for `regex`
  assert.deepEqual(preTokenize('<|STARTOFTEXT|>x'), ['<|STARTOFTEXT|>', 'x']);
});

test('parsePromptAttention: A1111 doctests', () => {
  const p = (s: string) => parsePromptAttention(s).map(({ text, weight }) => [text, weight]);
  assert.deepEqual(p('normal text'), [['normal text', 1]]);
  assert.deepEqual(p('an (important) word'), [['an ', 1], ['important', 1.1], [' word', 1]]);
  assert.deepEqual(p('(unbalanced'), [['unbalanced', 1.1]]);
  assert.deepEqual(p('\\(literal\\]'), [['(literal]', 1]]);
  assert.deepEqual(p('(unnecessary)(parens)'), [['unnecessaryparens', 1.1]]);
  assert.deepEqual(p('a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).'), [
    ['a ', 1], ['house', 1.5730000000000004], [' ', 1.1], ['on', 1], [' a ', 1.1], ['hill', 0.55],
    [', sun, ', 1.1], ['sky', 1.4641000000000006], ['.', 1.1],
  ]);
});

test('parsePromptAttention: weights, nesting, escapes, unbalanced brackets, BREAK', () => {
  const p = (s: string) => parsePromptAttention(s).map(({ text, weight }) => [text, weight]);
  assert.deepEqual(p('a (red:1.3) circle'), [['a ', 1], ['red', 1.3], [' circle', 1]]);
  assert.deepEqual(p('(a (b) c)'), [['a ', 1.1], ['b', 1.2100000000000002], [' c', 1.1]]);
  assert.deepEqual(p('a ((b)) [[c]] d'), [['a ', 1], ['b', 1.2100000000000002], [' ', 1], ['c', 0.8264462809917354], [' d', 1]]);
  assert.deepEqual(p('(a : 1.5 )'), [['a ', 1.5]]);
  assert.deepEqual(p('(a:1.5) (b:0.5:) [c:2]'), [['a', 1.5], [' ', 1], ['b:0.5:', 1.1], [' ', 1], ['c:2', 0.9090909090909091]]);
  assert.deepEqual(p('[a] [b]'), [['a', 0.9090909090909091], [' ', 1], ['b', 0.9090909090909091]]);
  assert.deepEqual(p('\\(literal\\)'), [['(literal)', 1]]);
  assert.deepEqual(p('a\\\\b\\c'), [['a\\bc', 1]]); // '\\' is a backslash, a lone '\' vanishes
  assert.deepEqual(p('((a)'), [['a', 1.2100000000000002]]);
  assert.deepEqual(p('a)] b'), [['a)] b', 1]]);
  assert.deepEqual(p(''), [['', 1]]);
  assert.deepEqual(p('a BREAK b'), [['a', 1], ['BREAK', -1], ['b', 1]]);
  assert.deepEqual(p('BREAK'), [['', 1], ['BREAK', -1], ['', 1]]);
  assert.deepEqual(p('aBREAK b'), [['aBREAK b', 1]]);
  assert.deepEqual(p('a BREAKb'), [['a BREAKb', 1]]);
  assert.deepEqual(p('\u00e9BREAK b'), [['\u00e9BREAK b', 1]]); // Python's Unicode \b
  assert.deepEqual(p('a break b'), [['a break b', 1]]);
  assert.deepEqual(p('a BREAK BREAK b'), [['a', 1], ['BREAK', -1], ['', 1], ['BREAK', -1], ['b', 1]]);
  // A1111 quirk kept: inside brackets BREAK is scaled like text and stops being a marker.
  assert.deepEqual(p('(a BREAK b)'), [['a', 1.1], ['BREAK', -1.1], ['b', 1.1]]);
  // Not a number for Python's float(): A1111 raises; here the text stays literal.
  assert.deepEqual(p('(a:1.2.3)'), [['a:1.2.3)', 1.1]]);
  // Unicode digits are digits for Python's \d and float().
  assert.deepEqual(p('(a:\u0661.\u0665)'), [['a', 1.5]]);
});

function realTokens(ids: Int32Array, pad: number): number[] {
  const out: number[] = [];
  for (let i = 1; i < ids.length && ids[i] !== EOT && ids[i] !== pad; i++) out.push(ids[i]!);
  return out;
}

test('tokenizeWeighted: ids, weights, padding and first EOT', () => {
  const r = tok.tokenizeWeighted('a (red:1.3) circle', { padId: PAD_SD1 });
  assert.equal(r.tokenCount, 3);
  assert.equal(r.chunks.length, 1);
  const [c] = r.chunks;
  assert.equal(c!.ids.length, 77);
  assert.equal(c!.weights.length, 77);
  assert.deepEqual(Array.from(c!.ids.subarray(0, 6)), [SOT, 320, 736, 7117, EOT, EOT]);
  assert.ok(c!.ids.subarray(4).every((x) => x === EOT));
  assert.deepEqual(Array.from(c!.weights.subarray(0, 5)), [1, 1, Math.fround(1.3), 1, 1]);
  assert.ok(c!.weights.subarray(4).every((x) => x === 1));
  assert.equal(c!.eotIndex, 4);

  const open = tok.tokenizeWeighted('a (red:1.3) circle', { padId: PAD_OPENCLIP }).chunks[0]!;
  assert.deepEqual(Array.from(open.ids.subarray(0, 6)), [SOT, 320, 736, 7117, EOT, 0]);
  assert.ok(open.ids.subarray(5).every((x) => x === 0));
  assert.equal(open.eotIndex, 4);
});

test('tokenizeWeighted: empty prompt is one chunk', () => {
  for (const padId of [PAD_SD1, PAD_OPENCLIP]) {
    const r = tok.tokenizeWeighted('', { padId });
    assert.equal(r.tokenCount, 0);
    assert.equal(r.chunks.length, 1);
    const { ids, weights, eotIndex } = r.chunks[0]!;
    assert.equal(ids[0], SOT);
    assert.equal(ids[1], EOT);
    assert.equal(eotIndex, 1);
    assert.ok(ids.subarray(2).every((x) => x === padId));
    assert.ok(weights.every((w) => w === 1));
  }
});

test('tokenizeWeighted: BREAK starts a new chunk', () => {
  const r = tok.tokenizeWeighted('a BREAK b', { padId: PAD_SD1 });
  assert.equal(r.chunks.length, 2);
  assert.equal(r.tokenCount, 76); // A1111: 75 per closed chunk + the last chunk's tokens
  assert.deepEqual(realTokens(r.chunks[0]!.ids, EOT), [320]);
  assert.deepEqual(realTokens(r.chunks[1]!.ids, EOT), [321]);
  assert.equal(tok.tokenizeWeighted('a BREAK BREAK b', { padId: PAD_SD1 }).chunks.length, 3);
  assert.equal(tok.tokenizeWeighted('a BREAK b', { padId: PAD_SD1, emphasis: false }).chunks.length, 1);
});

test('tokenizeWeighted: long prompts split into 75-token chunks', () => {
  const r = tok.tokenizeWeighted('cat '.repeat(100), { padId: PAD_SD1 });
  assert.equal(r.tokenCount, 100);
  assert.equal(r.chunks.length, 2);
  assert.equal(realTokens(r.chunks[0]!.ids, EOT).length, 75);
  assert.equal(r.chunks[0]!.ids[76], EOT);
  assert.equal(r.chunks[0]!.eotIndex, 76);
  assert.equal(realTokens(r.chunks[1]!.ids, EOT).length, 25);
  assert.equal(r.chunks[1]!.eotIndex, 26);

  // The golden 98-token prompt: a comma 2 tokens before the boundary moves the rest to chunk 2.
  const g = golden.items.find((it) => it.bpe_ids.length === 98)!;
  const w = tok.tokenizeWeighted(g.prompt, { padId: PAD_OPENCLIP });
  assert.deepEqual(w.chunks.map((c) => realTokens(c.ids, 0)), [g.bpe_ids.slice(0, 74), g.bpe_ids.slice(74)]);
  assert.equal(w.tokenCount, 99);
  assert.deepEqual(w.chunks.map((c) => c.eotIndex), [75, 25]);
});

test('tokenizeWeighted: comma padding backtrack', () => {
  const near = 'cat '.repeat(70) + ', ' + 'dog '.repeat(10);
  const a = tok.tokenizeWeighted(near, { padId: PAD_SD1 });
  assert.deepEqual(a.chunks.map((c) => realTokens(c.ids, EOT).length), [71, 10]);
  assert.equal(realTokens(a.chunks[0]!.ids, EOT)[70], COMMA);
  assert.equal(a.tokenCount, 85);
  // backtrack disabled: hard split at 75
  const off = tok.tokenizeWeighted(near, { padId: PAD_SD1, commaPaddingBacktrack: 0 });
  assert.deepEqual(off.chunks.map((c) => realTokens(c.ids, EOT).length), [75, 6]);
  // comma more than 20 tokens back: hard split
  const far = tok.tokenizeWeighted('cat '.repeat(50) + ', ' + 'dog '.repeat(30), { padId: PAD_SD1 });
  assert.deepEqual(far.chunks.map((c) => realTokens(c.ids, EOT).length), [75, 6]);
  assert.equal(far.tokenCount, 81);
  // a comma arriving at the boundary does not trigger the backtrack
  const commas = tok.tokenizeWeighted('cat, '.repeat(40), { padId: PAD_SD1 });
  assert.deepEqual(commas.chunks.map((c) => realTokens(c.ids, EOT).length), [75, 5]);
  // the relocated tokens keep their weights
  const wt = tok.tokenizeWeighted('cat '.repeat(70) + ', (dog:1.5) '.repeat(5), { padId: PAD_SD1 });
  assert.deepEqual(Array.from(wt.chunks[1]!.weights.subarray(0, 4)), [1, 1.5, 1, 1.5]);
  assert.equal(wt.chunks[1]!.ids[1], 1929); // 'dog</w>'
});

test('tokenizeWeighted: weights follow nesting and the BREAK quirk', () => {
  const r = tok.tokenizeWeighted('((masterpiece)), [blurry]', { padId: PAD_SD1 });
  const c = r.chunks[0]!;
  assert.deepEqual(Array.from(c.ids.subarray(0, 6)), [SOT, 12066, COMMA, 21977, EOT, EOT]);
  assert.deepEqual(Array.from(c.weights.subarray(0, 5)), [1, Math.fround(1.21), 1, Math.fround(1 / 1.1), 1]);
  const q = tok.tokenizeWeighted('(a BREAK b)', { padId: PAD_SD1 });
  assert.equal(q.chunks.length, 1);
  assert.deepEqual(realTokens(q.chunks[0]!.ids, EOT), [320, 2568, 321]); // 'a', 'break', 'b'
  assert.deepEqual(Array.from(q.chunks[0]!.weights.subarray(1, 4)), [1.1, -1.1, 1.1].map(Math.fround));
});

test('tokenizeWeighted: option validation', () => {
  assert.throws(() => tok.tokenizeWeighted('x', { padId: -1 }), /padId must be an integer between 0 and 49407, got -1/);
  assert.throws(() => tok.tokenizeWeighted('x', { padId: 0, chunkSize: 0 }), /chunkSize must be an integer between 1 and/);
  assert.throws(() => tok.tokenizeWeighted('x', undefined as never), TypeError);
  const small = tok.tokenizeWeighted('a b c d e', { padId: 0, chunkSize: 2 });
  assert.deepEqual(small.chunks.map((c) => Array.from(c.ids)), [[SOT, 320, 321, EOT], [SOT, 322, 323, EOT], [SOT, 324, EOT, 0]]);
});

test('fuzz finding: emphasis weights beyond a 32-bit float are refused (A1111 would encode NaN)', () => {
  const tok = ClipTokenizer.load();
  assert.throws(() => tok.tokenizeWeighted(`a (red:${'9'.repeat(400)})`, { padId: PAD_SD1 }), (e: Error) =>
    e instanceof RangeError && /^the emphasis weight of "red" is Infinity, not a finite 32-bit number/.test(e.message));
  assert.throws(() => tok.tokenizeWeighted(`${'('.repeat(1000)}b`, { padId: PAD_SD1 }), /the emphasis weight of "b" is 2.4699329180060276e\+41, not a finite 32-bit number/); // 1.1^1000: a double, not a float
  assert.throws(() => tok.tokenizeWeighted(`(a:-${'9'.repeat(400)}) ((c:0):${'9'.repeat(400)})`, { padId: PAD_SD1 }), /the emphasis weight of "a" is -Infinity/);
  assert.throws(() => tok.tokenizeWeighted(`((c:0):${'9'.repeat(400)})`, { padId: PAD_SD1 }), /the emphasis weight of "c" is NaN/);
  // 1.1^900 ≈ 6e37 still fits: kept as A1111 computes it
  const w = tok.tokenizeWeighted(`${'('.repeat(900)}b`, { padId: PAD_SD1 }).chunks[0]!.weights[1]!;
  assert.ok(Math.abs(w / 1.1 ** 900 - 1) < 1e-6, String(w));
});
