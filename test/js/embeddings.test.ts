// Textual-inversion embeddings: prompt layout against A1111's tokenize_line (embeddings_golden.json,
// made by running A1111 82a973c0), the vectors reaching the text encoder (an embedding holding a
// word's own token row must encode exactly as that word), listing, refusals and the infotext.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { StableDiffusion } from '../../lib/index.js';
import { EmbeddingLibrary } from '../../lib/embeddings.js';
import { ClipTokenizer, type WeightedTokens } from '../../lib/tokenizer/index.js';
import { f32, readSafetensors, writeSafetensors } from '../helpers/safetensors.js';
import { fixtures, tempDir, tinyCheckpoint, tinyFamilyCheckpoint } from '../helpers/tiny-checkpoint.js';

interface GoldenChunk { length: number; ids: number[]; multipliers: number[]; fixes: Array<{ offset: number; name: string; vectors: number }> }
interface GoldenCase { prompt: string; note: string; token_count: number; chunks: GoldenChunk[] }
const golden = JSON.parse(readFileSync(join(fixtures, 'embeddings_golden.json'), 'utf8')) as { cases: GoldenCase[] };
const tokenizer = ClipTokenizer.load();

// Our slots as A1111's fixes: one { offset (not counting the start token), name, vectors } per run.
function fixesOf(t: WeightedTokens): GoldenChunk['fixes'][] {
  return t.chunks.map((c) => {
    const fixes: GoldenChunk['fixes'] = [];
    for (const e of c.embeds) {
      if (e.vector === 0) fixes.push({ offset: e.index - 1, name: e.name, vectors: 1 });
      else fixes[fixes.length - 1]!.vectors++;
    }
    return fixes;
  });
}

// A1111 loses an embedding's vectors when the comma backtrack moves its slots to the next chunk
// (the fix stays behind); we keep them. Such a golden chunk has id-0 slots no fix covers.
const loses = (c: GoldenChunk) => {
  const covered = new Set(c.fixes.flatMap((f) => Array.from({ length: f.vectors }, (_, k) => f.offset + 1 + k)));
  return c.ids.some((id, i) => id === 0 && i > 0 && !covered.has(i));
};

test('prompt layout with embeddings matches A1111 tokenize_line (ids, weights, slots, token count)', () => {
  const single = new EmbeddingLibrary(join(fixtures, 'embeddings_tiny'), { main: 64 }, tokenizer);
  const pair = new EmbeddingLibrary(join(fixtures, 'embeddings_tiny'), { main: 64, second: 64 }, tokenizer);
  assert.deepEqual([...single.loaded().keys()].sort(), ['badhand', 'big', 'cat-emb', 'easynegative', 'style', 'style-kw']);
  assert.deepEqual([...pair.loaded().keys()], ['xl-pair']);
  let compared = 0, buggy = 0, overlong = 0;
  for (const c of golden.cases) {
    const lib = c.prompt.includes('xl-pair') ? pair : single;
    const run = () => tokenizer.tokenizeWeighted(c.prompt, { padId: 49407, embeddings: lib.matcher() });
    if (c.chunks.some((ch) => ch.length > 77)) {
      // A1111 builds a chunk longer than CLIP's 77 positions (it fails later, in the encoder): an error here.
      assert.throws(run, /embedding "big" has 80 vectors; one prompt chunk holds 75/, c.prompt);
      overlong++;
      continue;
    }
    const t = run();
    assert.equal(t.tokenCount, c.token_count, `${c.prompt}: token count`);
    assert.equal(t.chunks.length, c.chunks.length, `${c.prompt}: chunks`);
    t.chunks.forEach((ours, i) => {
      const want = c.chunks[i]!;
      assert.deepEqual([...ours.ids], want.ids, `${c.prompt}: chunk ${i} ids`);
      ours.weights.forEach((w, k) => assert.ok(Math.abs(w - want.multipliers[k]!) < 1e-6, `${c.prompt}: chunk ${i} weight ${k}`));
    });
    const lost = c.chunks.some(loses);
    if (lost) {
      buggy++;
      // Every placeholder slot of ours carries a vector.
      t.chunks.forEach((ch) => ch.ids.forEach((id, k) => id === 0 && k > 0 && assert.ok(ch.embeds.some((e) => e.index === k), `${c.prompt}: slot ${k}`)));
    } else {
      assert.deepEqual(fixesOf(t), c.chunks.map((ch) => ch.fixes), `${c.prompt}: fixes`);
    }
    compared++;
  }
  assert.deepEqual({ compared, buggy, overlong }, { compared: 20, buggy: 2, overlong: 4 });
});

// The tiny SD1 model's CLIP is 64 wide, as the fixture embeddings are.
const dir = join(tempDir(), 'embeddings');
mkdirSync(dir, { recursive: true });
cpSync(join(fixtures, 'embeddings_tiny'), dir, { recursive: true });
const table = readSafetensors(tinyCheckpoint()).tensors.get('cond_stage_model.transformer.text_model.embeddings.token_embedding.weight')!;
const rowOf = (word: string) => {
  const [id] = tokenizer.encode(word);
  return f32(table).subarray(id! * 64, (id! + 1) * 64);
};
const vectors = (...words: string[]) => {
  const out = new Float32Array(words.length * 64);
  words.forEach((w, i) => out.set(rowOf(w), i * 64));
  return { dtype: 'F32', shape: [words.length, 64], data: Buffer.from(out.buffer) };
};
writeSafetensors(join(dir, 'kitty.safetensors'), [['emb_params', vectors('cat')]]);
writeSafetensors(join(dir, 'redcat.safetensors'), [['string_to_param.*', vectors('red', 'cat')]]);
writeFileSync(join(dir, 'old.pt'), Buffer.from([0x80, 0x02]));

let shared: Promise<StableDiffusion> | undefined;
const model = () => (shared ??= StableDiffusion.load(tinyCheckpoint(), { threads: 2, embeddingsDir: dir }));

test('an embedding holding a word\'s own token rows encodes exactly as the word', async () => {
  const sd = await model();
  const same = async (a: string, b: string) => {
    const [x, y] = [await sd.encodeText(a), await sd.encodeText(b)];
    assert.equal(x.tokenCount, y.tokenCount, `${a} / ${b}: token count`);
    assert.deepEqual(x.data, y.data, `${a} = ${b}`);
  };
  await same('a photo of kitty', 'a photo of cat');
  await same('a redcat on a mat', 'a red cat on a mat');
  await same('(kitty:1.3), blurry', '(cat:1.3), blurry');
  await same('kitty BREAK redcat', 'cat BREAK red cat');
  const plain = await sd.encodeText('a photo of badhand');
  const words = await sd.encodeText('a photo of bad hand');
  assert.notDeepEqual(plain.data, words.data, 'a real embedding changes the context');
});

test('generate() uses embeddings in both prompts and records TI hashes; listings and refusals', async () => {
  const sd = await model();
  const options = { width: 32, height: 32, steps: 2, sampler: 'euler', scheduler: 'normal', cfgScale: 5, seed: 3 };
  const [a] = await sd.generate({ ...options, prompt: 'a photo of kitty', negativePrompt: 'easynegative' });
  const [b] = await sd.generate({ ...options, prompt: 'a photo of cat', negativePrompt: 'easynegative' });
  assert.deepEqual(a!.data, b!.data, 'the same image as the word itself');
  assert.match(a!.parameters, /TI hashes: "kitty: [0-9a-f]{12}, easynegative: [0-9a-f]{12}"/);
  const listed = sd.embeddings();
  assert.deepEqual(listed.loaded.map((e) => [e.name, e.vectors]).sort(), [
    ['badhand', 1], ['big', 80], ['cat-emb', 2], ['easynegative', 8], ['kitty', 1], ['redcat', 2], ['style', 2], ['style-kw', 3],
  ]);
  assert.match(listed.skipped['xl-pair']!, /an SDXL embedding \(clip_l \+ clip_g\); this model has one text encoder/);
  assert.match(listed.skipped.old!, /pickled PyTorch file/);
  await assert.rejects(sd.generate({ ...options, prompt: 'a big dog' }), /embedding "big" has 80 vectors; one prompt chunk holds 75/);
  writeSafetensors(join(dir, 'late.safetensors'), [['emb_params', vectors('dog')]]);
  assert.ok(!sd.embeddings().loaded.some((e) => e.name === 'late'));
  assert.ok(sd.embeddings({ refresh: true }).loaded.some((e) => e.name === 'late'), 'refresh reads new files');
  const [again] = await sd.generate({ ...options, prompt: 'a photo of kitty', negativePrompt: 'easynegative' });
  assert.deepEqual(again!.data, a!.data, 'still the same after the refusals');
});

test('server: /sdapi/v1/embeddings lists loaded and skipped files; refresh-embeddings rereads', async () => {
  const { createServer } = await import('../../lib/server/index.js');
  const app = createServer(await model(), { batchWindowMs: 0 });
  try {
    const body = (await app.inject({ method: 'GET', url: '/sdapi/v1/embeddings' })).json() as {
      loaded: Record<string, { vectors: number; shape: number }>; skipped: Record<string, { reason: string }>;
    };
    assert.deepEqual(body.loaded.easynegative, { step: null, sd_checkpoint: null, sd_checkpoint_name: null, shape: 64, vectors: 8 });
    assert.match(body.skipped['xl-pair']!.reason, /SDXL embedding/);
    writeSafetensors(join(dir, 'later.safetensors'), [['emb_params', vectors('sun')]]);
    assert.equal((await app.inject({ method: 'POST', url: '/sdapi/v1/refresh-embeddings' })).statusCode, 200);
    const after = (await app.inject({ method: 'GET', url: '/sdapi/v1/embeddings' })).json() as { loaded: Record<string, unknown> };
    assert.ok('later' in after.loaded);
    const res = await app.inject({ method: 'POST', url: '/sdapi/v1/txt2img', payload: { prompt: 'a photo of kitty', width: 32, height: 32, steps: 1, seed: 1 } });
    assert.equal(res.statusCode, 200, res.body);
    assert.match(JSON.parse((res.json() as { info: string }).info).infotexts[0], /TI hashes: "kitty: [0-9a-f]{12}"/);
  } finally {
    await app.close();
  }
});

test('SDXL: a clip_l + clip_g pair reaches both encoders (pair of "cat" rows = the word "cat")', async () => {
  const path = tinyFamilyCheckpoint('sdxl');
  const tensors = readSafetensors(path).tensors;
  const [cat] = tokenizer.encode('cat');
  const row = (key: string) => ({ dtype: 'F32', shape: [1, 64], data: Buffer.from(f32(tensors.get(key)).slice(cat! * 64, (cat! + 1) * 64).buffer) });
  const xlDir = join(tempDir(), 'embeddings-xl');
  mkdirSync(xlDir, { recursive: true });
  writeSafetensors(join(xlDir, 'kitty.safetensors'), [
    ['clip_g', row('conditioner.embedders.1.model.token_embedding.weight')],
    ['clip_l', row('conditioner.embedders.0.transformer.text_model.embeddings.token_embedding.weight')],
  ]);
  writeSafetensors(join(xlDir, 'sd1-only.safetensors'), [['emb_params', vectors('cat')]]);
  const sd = await StableDiffusion.load(path, { embeddingsDir: xlDir });
  try {
    const [a, b] = [await sd.encodeText('a photo of kitty'), await sd.encodeText('a photo of cat')];
    assert.deepEqual(a.data, b.data, 'both halves of the SDXL context');
    assert.match(sd.embeddings().skipped['sd1-only']!, /for another model \(this one needs clip_l \+ clip_g \(64 \/ 64\)\)/);
  } finally {
    sd.dispose();
  }
});
