// LoRA files through the public API on the tiny SD1 checkpoint: the dialects files are written in
// resolve to the same weights, prompt tags equal the option, sets are cached and undone, bad files
// and tags are clear errors. (The merge math itself is held against A1111's code in test_adapters.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { StableDiffusion, type GenerateOptions } from '../../lib/index.js';
import { readSafetensors, writeSafetensors, type StTensor } from '../helpers/safetensors.js';
import { tempDir, tinyCheckpoint } from '../helpers/tiny-checkpoint.js';

const RANK = 4;
const dir = join(tempDir(), 'loras');
mkdirSync(join(dir, 'styles'), { recursive: true });

// Deterministic values in [-0.5, 0.5) (xorshift), so every dialect gets the same numbers.
function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13, s >>>= 0, s ^= s >>> 17, s ^= s << 5, s >>>= 0;
    out[i] = s / 4294967296 - 0.5;
  }
  return out;
}
const tensor = (shape: number[], data: Float32Array): StTensor => ({ dtype: 'F32', shape, data: Buffer.from(data.buffer) });

interface Module { ldm: string; diffusers: string; peft: string; out: number; in: number }

// Attention projections of the tiny UNet's first input block and the text encoder's first layer, in
// each dialect's spelling (num_res_blocks 1: diffusers down_blocks.0.attentions.0 = input_blocks.1.1).
function modules(): Module[] {
  const base = readSafetensors(tinyCheckpoint()).tensors;
  const list: Module[] = [];
  for (const proj of ['to_q', 'to_k', 'to_v', 'to_out.0']) {
    for (const attn of ['attn1', 'attn2']) {
      const key = `model.diffusion_model.input_blocks.1.1.transformer_blocks.0.${attn}.${proj}.weight`;
      const [out, inp] = base.get(key)!.shape as [number, number];
      const tail = `transformer_blocks.0.${attn}.${proj}`;
      list.push({
        ldm: `lora_unet_input_blocks_1_1_${tail.replaceAll('.', '_')}`,
        diffusers: `lora_unet_down_blocks_0_attentions_0_${tail.replaceAll('.', '_')}`,
        peft: `unet.down_blocks.0.attentions.0.${tail}`, out, in: inp,
      });
    }
  }
  for (const proj of ['q_proj', 'v_proj', 'out_proj']) {
    const key = `cond_stage_model.transformer.text_model.encoder.layers.0.self_attn.${proj}.weight`;
    const [out, inp] = base.get(key)!.shape as [number, number];
    const tail = `text_model.encoder.layers.0.self_attn.${proj}`;
    list.push({ ldm: `lora_te_${tail.replaceAll('.', '_')}`, diffusers: `lora_te_${tail.replaceAll('.', '_')}`, peft: `text_encoder.${tail}`, out, in: inp });
  }
  return list;
}

function writeLora(path: string, dialect: 'ldm' | 'diffusers' | 'peft', alpha = 2): string {
  const tensors: Array<[string, StTensor]> = [];
  modules().forEach((m, i) => {
    const down = tensor([RANK, m.in], values(RANK * m.in, 11 + i)), up = tensor([m.out, RANK], values(m.out * RANK, 101 + i));
    if (dialect === 'peft') {
      // PEFT files carry no alpha: the scale is folded into up (alpha / rank), as diffusers' converter does.
      const scaled = values(m.out * RANK, 101 + i).map((v) => v * (alpha / RANK));
      tensors.push([`${m.peft}.lora_A.weight`, down], [`${m.peft}.lora_B.weight`, tensor([m.out, RANK], scaled)]);
    } else {
      const stem = dialect === 'ldm' ? m.ldm : m.diffusers;
      tensors.push([`${stem}.lora_down.weight`, down], [`${stem}.lora_up.weight`, up], [`${stem}.alpha`, tensor([], new Float32Array([alpha]))]);
    }
  });
  writeSafetensors(path, tensors, { ss_network_dim: String(RANK), ss_network_alpha: String(alpha) });
  return path;
}

const kohya = writeLora(join(dir, 'styles', 'ink.safetensors'), 'diffusers');
const kohyaLdm = writeLora(join(dir, 'ink-ldm.safetensors'), 'ldm');
const peft = writeLora(join(dir, 'ink-peft.safetensors'), 'peft');

const OPTIONS: GenerateOptions = { prompt: 'a photo of a cat', width: 32, height: 32, steps: 2, sampler: 'euler', scheduler: 'normal', cfgScale: 5, seed: 7 };

let shared: Promise<StableDiffusion> | undefined;
const model = () => (shared ??= StableDiffusion.load(tinyCheckpoint(), { threads: 2, loraDir: dir }));
const pixels = async (o: Partial<GenerateOptions> = {}) => (await (await model()).generate({ ...OPTIONS, ...o }))[0]!;
const maxDiff = (a: Buffer, b: Buffer) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

test('a LoRA changes the image; kohya, kohya-LDM and PEFT spellings give the same one', async () => {
  const base = await pixels();
  const a = await pixels({ loras: [{ path: kohya, weight: 0.8 }] });
  const b = await pixels({ loras: [{ path: kohyaLdm, weight: 0.8 }] });
  const c = await pixels({ loras: [{ path: peft, weight: 0.8 }] });
  assert.ok(maxDiff(a.data, base.data) > 8, `the LoRA moved the image by ${maxDiff(a.data, base.data)}`);
  assert.equal(maxDiff(a.data, b.data), 0, 'kohya with diffusers names = kohya with checkpoint names');
  assert.ok(maxDiff(a.data, c.data) <= 1, `PEFT (alpha folded into B) = kohya, max diff ${maxDiff(a.data, c.data)}`);
  assert.equal(a.stats.loras?.modulesApplied, modules().length);
  assert.equal(a.stats.loras?.modulesUnmatched, 0);
});

test('<lora:name:weight> in the prompt is the loras option; sets are cached and undone', async () => {
  const viaOption = await pixels({ loras: [{ path: kohya, weight: 0.6 }] });
  const viaTag = await pixels({ prompt: 'a photo of a cat <lora:ink:0.6>' });
  assert.equal(maxDiff(viaTag.data, viaOption.data), 0, 'the tag applies the same set');
  assert.equal(viaTag.stats.loras?.cached, true, 'the same set again is not merged again');
  assert.equal(viaTag.stats.loras?.mergeSeconds, 0);
  // The tag leaves the text the encoder sees: the prompt without it, with the option, is the same image.
  assert.match(viaTag.parameters, /^a photo of a cat <lora:ink:0\.6>\n/, 'the infotext keeps the prompt as written');
  const split = await pixels({ prompt: 'a photo of a cat <lora:ink:0.6:0.6>' });
  assert.equal(maxDiff(split.data, viaOption.data), 0, '<lora:name:te:unet> with equal weights');
  const teOnly = await pixels({ prompt: 'a photo of a cat <lora:ink:te=0.6:unet=0>' });
  assert.ok(maxDiff(teOnly.data, viaOption.data) > 0, 'unet=0 leaves the UNet as it was');
  const base = await pixels();
  const again = await pixels();
  assert.equal(maxDiff(base.data, again.data), 0);
  assert.equal(base.stats.loras, undefined, 'no set, no report');
  const zero = await pixels({ loras: [{ path: kohya, weight: 0 }] });
  assert.equal(maxDiff(zero.data, base.data), 0, 'weight 0 is the base model');
});

test('the infotext records A1111 "Lora hashes" (addnet hash: sha256 of the data after the header)', async () => {
  const img = await pixels({ prompt: 'a cat <lora:ink:0.5>' });
  const bytes = readFileSync(kohya);
  const header = Number(bytes.readBigUInt64LE(0));
  const addnet = createHash('sha256').update(bytes.subarray(8 + header)).digest('hex').slice(0, 12);
  assert.match(img.parameters, new RegExp(`Lora hashes: "ink: ${addnet}"`));
});

test('bad LoRA input is a clear error and the model goes on generating', async () => {
  const sd = await model();
  const base = await pixels();
  const reject = (o: Partial<GenerateOptions>, pattern: RegExp) => assert.rejects(sd.generate({ ...OPTIONS, ...o }), pattern);
  await reject({ prompt: 'x <lora:inc:1>' }, /unknown LoRA "inc" in .*did you mean "ink"/);
  await reject({ prompt: 'x <lora:ink:strong>' }, /weight "strong" is not a number/);
  await reject({ prompt: 'x <lora:ink:0.5' }, /opens a <lora: tag that never closes/);
  await reject({ prompt: 'x <lora::0.5>' }, /names no LoRA/);
  await reject({ prompt: 'x <hypernet:foo:1>' }, /applies <lora:name:weight> networks only/);
  await reject({ loras: [{ path: kohya, weight: Number.NaN }] }, /loras\[0\]\.weight must be a number/);
  await reject({ loras: [{ path: kohya, wieght: 1 } as never] }, /unknown key "wieght"; did you mean "weight"/);
  await reject({ prompt: 'x ' + Array.from({ length: 100 }, () => '<lora:ink:0.1>').join(' ') }, /at most 32 LoRA files/);
  const truncated = join(dir, 'truncated.safetensors');
  writeFileSync(truncated, readFileSync(kohya).subarray(0, 400));
  await reject({ loras: [{ path: truncated }] }, /adapter: .*truncated\.safetensors/);
  const xl = join(dir, 'xl.safetensors');
  writeSafetensors(xl, [
    ['lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight', tensor([4, 768], values(4 * 768, 3))],
    ['lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight', tensor([768, 4], values(4 * 768, 4))],
  ], { ss_base_model_version: 'sdxl_base_v1-0' });
  await reject({ loras: [{ path: xl }] }, /changes nothing in this model.*SDXL adapter.*sdxl_base_v1-0/);
  const wrong = join(dir, 'wrong-rank.safetensors');
  const stem = 'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q';
  writeSafetensors(wrong, [[`${stem}.lora_down.weight`, tensor([4, 48], values(192, 5))], [`${stem}.lora_up.weight`, tensor([32, 4], values(128, 6))]]);
  await reject({ loras: [{ path: wrong }] }, /module lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q: .*made for another model/);
  const pickled = join(dir, 'old.pt');
  writeFileSync(pickled, Buffer.from([0x80, 0x02, 0x7d, 0x71]));
  await reject({ prompt: 'x <lora:old:1>' }, /pickled PyTorch file; sd-native never unpickles/);
  await reject({ loras: [{ path: pickled }] }, /pickled PyTorch file; sd-native never unpickles/);
  await reject({ loras: [{ path: join(dir, 'missing.safetensors') }] }, /cannot be opened/);
  const after = await pixels();
  assert.equal(maxDiff(after.data, base.data), 0, 'after every refusal the base weights are in place');
  assert.deepEqual(sd.loras().map((l) => l.name).sort(), ['ink', 'ink-ldm', 'ink-peft', 'truncated', 'wrong-rank', 'xl']);
});

test('server: /sdapi/v1/loras lists the folder, tags work in A1111 prompts, batches never mix LoRA sets', async () => {
  const { createServer } = await import('../../lib/server/index.js');
  const sd = await model();
  const app = createServer(sd, { batchWindowMs: 200 });
  try {
    const list = await app.inject({ method: 'GET', url: '/sdapi/v1/loras' });
    assert.equal(list.statusCode, 200);
    const ink = (list.json() as Array<{ name: string; path: string; metadata: Record<string, string> }>).find((l) => l.name === 'ink');
    assert.equal(ink?.metadata.ss_network_dim, String(RANK), 'kohya metadata is listed');
    writeLora(join(dir, 'late.safetensors'), 'diffusers', 1);
    assert.equal(((await app.inject({ method: 'POST', url: '/sdapi/v1/refresh-loras' })).statusCode), 200);
    const names = ((await app.inject({ method: 'GET', url: '/sdapi/v1/loras' })).json() as Array<{ name: string }>).map((l) => l.name);
    assert.ok(names.includes('late'), 'refresh-loras sees a new file');
    const body = (prompt: string) => ({ prompt, width: 32, height: 32, steps: 2, sampler_name: 'Euler', scheduler: 'normal', cfg_scale: 5, seed: 7 });
    // Sent together inside one batch window: they must not share a UNet batch (different weights).
    const [plain, styled] = await Promise.all([
      app.inject({ method: 'POST', url: '/sdapi/v1/txt2img', payload: body('a photo of a cat') }),
      app.inject({ method: 'POST', url: '/sdapi/v1/txt2img', payload: body('a photo of a cat <lora:ink:0.6>') }),
    ]);
    assert.equal(plain.statusCode, 200, plain.body);
    assert.equal(styled.statusCode, 200, styled.body);
    const png = (r: typeof plain) => Buffer.from((r.json() as { images: string[] }).images[0]!, 'base64');
    const { decodePng } = await import('../../lib/png.js');
    const viaApi = decodePng(png(styled)), direct = await pixels({ loras: [{ path: kohya, weight: 0.6 }] });
    assert.equal(maxDiff(Buffer.from(viaApi.data.filter((_, i) => i % 4 !== 3)), Buffer.from(direct.data.filter((_, i) => i % 4 !== 3))), 0,
      'the A1111 route with a tag gives the library image');
    assert.notEqual(png(plain).equals(png(styled)), true);
    assert.match(JSON.parse((styled.json() as { info: string }).info).infotexts[0], /Lora hashes: "ink: [0-9a-f]{12}"/);
    const bad = await app.inject({ method: 'POST', url: '/sdapi/v1/txt2img', payload: body('x <lora:nosuch:1>') });
    assert.equal(bad.statusCode, 422, bad.body);
    assert.match(bad.body, /unknown LoRA \\"nosuch\\"/);
  } finally {
    await app.close();
  }
});

test('tag and flag parsing: A1111 forms, paths with colons', async () => {
  const { extractLoraTags } = await import('../../lib/loras.js');
  const { loraFlag } = await import('../../lib/cli/generate.js');
  assert.deepEqual(extractLoraTags('a <lora:ink:0.5>, b <lora:x:0.2:0.9> c <lyco:y>'), {
    prompt: 'a , b  c ',
    tags: [{ name: 'ink', textWeight: 0.5, unetWeight: 0.5 }, { name: 'x', textWeight: 0.2, unetWeight: 0.9 }, { name: 'y', textWeight: 1, unetWeight: 1 }],
  });
  assert.deepEqual(extractLoraTags('<lora:z:unet=0.3:te=0.1>').tags, [{ name: 'z', textWeight: 0.1, unetWeight: 0.3 }]);
  assert.deepEqual(extractLoraTags('no tags (word:1.2)'), { prompt: 'no tags (word:1.2)', tags: [] });
  assert.deepEqual(loraFlag('C:/loras/ink.safetensors:0.7', ''), { path: 'C:/loras/ink.safetensors', weight: 0.7 });
  assert.deepEqual(loraFlag('/x/ink.safetensors', ''), { path: '/x/ink.safetensors', weight: 1 });
  assert.deepEqual(loraFlag('/x/a:b.safetensors', ''), { path: '/x/a:b.safetensors', weight: 1 });
});
