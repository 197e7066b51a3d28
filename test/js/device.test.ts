// The load option device. 'emulated' runs the CPU kernels behind memory the host cannot touch
// (native/core/emulated): a generate() that reads or writes a tensor without upload/download
// faults there, so equal images on 'cpu' and 'emulated' prove the runtime only moves data through
// the backend, and its counters show what a GPU would transfer.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { SdError, StableDiffusion, systemInfo, type GenerateOptions } from '../../lib/index.js';
import { readSafetensors, writeSafetensors } from '../helpers/safetensors.js';
import { decoderFolder, tempDir, tinyCheckpoint, tinyFamilyCheckpoint } from '../helpers/tiny-checkpoint.js';

const tiny = join(import.meta.dirname, '..', '..', 'models', 'sd-native-tiny.safetensors');
const STEPS = 4;
// euler: one UNet call per step (uncond + cond in one batch at CFG 3); 'cheap' previews are made on the host
const txt2img: GenerateOptions = { prompt: 'a red circle', negativePrompt: 'blurry', steps: STEPS, seed: 11, sampler: 'euler', width: 64, height: 64 };

// Count and bytes of the checkpoint's tensors whose names pass `keep` (from the safetensors header).
function tensorBytes(keep: (name: string) => boolean): { count: number; bytes: number } {
  const file = readFileSync(tiny);
  const header = JSON.parse(file.subarray(8, 8 + Number(file.readBigUInt64LE(0))).toString()) as Record<string, { data_offsets: [number, number] }>;
  let count = 0, bytes = 0;
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__' || !keep(name)) continue;
    count += 1;
    bytes += t.data_offsets[1] - t.data_offsets[0];
  }
  return { count, bytes };
}

async function run(sd: StableDiffusion, options: GenerateOptions): Promise<{ image: Buffer; previews: Buffer[] }> {
  const previews: Buffer[] = [];
  const [img] = await sd.generate({ ...options, onStep: (e) => { if (e.preview) previews.push(Buffer.from(e.preview.data)); } });
  return { image: Buffer.from(img!.data), previews };
}

test("'auto' runs on the CPU in a build without CUDA; 'cuda' there is ERR_SD_DEVICE, a misspelling an invalid option", async () => {
  const sys = systemInfo();
  assert.equal(sys.cuda, false);
  assert.equal(sys.autoDevice, 'cpu');
  assert.equal(sys.noCudaReason, 'this build has no CUDA backend');
  const sd = await StableDiffusion.load(tiny, { threads: 2 });
  try {
    assert.equal(sd.info.device, 'cpu');
    assert.match(sd.info.backend, /^cpu\//);
  } finally {
    sd.dispose();
  }
  for (const device of ['cuda', 'cuda:1'] as const) {
    await assert.rejects(StableDiffusion.load(tiny, { device }), (e: unknown) => {
      assert.ok(e instanceof SdError);
      assert.equal(e.code, 'ERR_SD_DEVICE');
      assert.match(e.message, new RegExp(`device '${device}' was asked for but this build of sd-native has no CUDA backend`));
      return true;
    });
  }
  await assert.rejects(StableDiffusion.load(tiny, { device: 'gpu' as never }), (e: unknown) => {
    assert.ok(e instanceof SdError);
    assert.equal(e.code, 'ERR_SD_INVALID_OPTION');
    assert.match(e.message, /device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'emulated', got "gpu"/);
    return true;
  });
});

test("the emulated device gives the CPU's bytes for txt2img, img2img and tiled decodes; weights go up once", async () => {
  const cpu = await StableDiffusion.load(tiny, { threads: 2, device: 'cpu' });
  const dev = await StableDiffusion.load(tiny, { threads: 2, device: 'emulated' });
  try {
    assert.equal(dev.info.device, 'emulated');
    assert.deepEqual(cpu.transfers(), { uploads: 0, uploadBytes: 0, downloads: 0, downloadBytes: 0, weightUploads: 0, weightBytes: 0 });

    const a = await run(cpu, txt2img);
    const b = await run(dev, txt2img);
    assert.equal(b.previews.length, STEPS);
    assert.deepEqual(b.previews, a.previews);
    assert.ok(b.image.equals(a.image), 'txt2img: emulated and CPU images differ');
    const first = dev.transfers();
    // Every f16 weight but the VAE encoder's (txt2img does not encode) and the unused position ids, kept 16-bit.
    const used = tensorBytes((name) => !/^first_stage_model\.(encoder|quant_conv)\./.test(name) && !name.endsWith('position_ids'));
    assert.deepEqual([first.weightUploads, first.weightBytes], [used.count, used.bytes]);

    const again = await run(dev, { ...txt2img, seed: 12 });
    assert.ok(!again.image.equals(b.image));
    const second = dev.transfers();
    assert.equal(second.weightUploads, first.weightUploads, 'weights uploaded again by the second generate()');
    assert.equal(second.weightBytes, first.weightBytes);
    // Per generate: per step one UNet output comes down; plus the two text encoder passes and the image.
    const downloads = second.downloads - first.downloads, downloadBytes = second.downloadBytes - first.downloadBytes;
    const latentBytes = 2 * 4 * 8 * 8 * 4, imageBytes = 3 * 64 * 64 * 4, textBytes = 2 * 77 * 128 * 4;
    assert.equal(downloads, STEPS + 2 + 1);
    assert.equal(downloadBytes, STEPS * latentBytes + textBytes + imageBytes);
    // Up: per step the latent batch and its timesteps; the context once; both prompts' tokens; the final latent.
    const uploads = second.uploads - first.uploads, uploadBytes = second.uploadBytes - first.uploadBytes;
    assert.equal(uploads, 2 * STEPS + 1 + 2 + 1);
    assert.equal(uploadBytes, STEPS * (latentBytes + 2 * 4) + textBytes + 2 * 77 * 4 + latentBytes / 2);

    const img2img: GenerateOptions = { ...txt2img, initImage: { data: a.image, width: 64, height: 64, channels: 4 }, strength: 0.5 };
    const c = await run(cpu, img2img);
    const d = await run(dev, img2img);
    assert.ok(d.image.equals(c.image), 'img2img: emulated and CPU images differ');
    assert.ok(dev.transfers().weightBytes > second.weightBytes, 'img2img uploads the VAE encoder');

    const tiled: GenerateOptions = { ...txt2img, vaeTiling: true };
    const e = await run(cpu, tiled);
    const f = await run(dev, tiled);
    assert.ok(f.image.equals(e.image), 'tiled decode: emulated and CPU images differ');
  } finally {
    cpu.dispose();
    dev.dispose();
  }
});

test('TAESD previews and the TAESD decode on the emulated device: the CPU\'s bytes, one download per preview', async () => {
  const taesd = decoderFolder('device-taesd', 'taesd_decoder.safetensors');
  const cpu = await StableDiffusion.load(tiny, { threads: 2, device: 'cpu', taesd });
  const dev = await StableDiffusion.load(tiny, { threads: 2, device: 'emulated', taesd });
  try {
    const options: GenerateOptions = { ...txt2img, preview: 'taesd', decoder: 'taesd' };
    const a = await run(cpu, options);
    const before = dev.transfers();
    const b = await run(dev, options);
    const after = dev.transfers();
    assert.equal(b.previews.length, STEPS);
    assert.deepEqual(b.previews, a.previews);
    assert.ok(b.image.equals(a.image));
    // STEPS UNet outputs, two text passes, STEPS previews and the final TAESD image (RGB [3, 64, 64] each)
    assert.equal(after.downloads - before.downloads, STEPS + 2 + STEPS + 1);
    assert.equal(after.downloadBytes - before.downloadBytes, STEPS * 2 * 4 * 8 * 8 * 4 + 2 * 77 * 128 * 4 + (STEPS + 1) * 3 * 64 * 64 * 4);
  } finally {
    cpu.dispose();
    dev.dispose();
  }
});

// A deterministic RGB test card and a mask repainting its left half.
function card(width: number, height: number) {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; ++i) data[i] = (i * 37 + (i >> 5) * 11) & 255;
  return { data, width, height, channels: 3 as const };
}
function leftHalf(width: number, height: number) {
  const data = new Uint8Array(width * height);
  for (let y = 0; y < height; ++y) for (let x = 0; x < width / 2; ++x) data[y * width + x] = 255;
  return { data, width, height, channels: 1 as const };
}

test('prompt editing, SD2, SDXL (two encoders, pooled vector, size conditioning) and 9-channel inpainting UNets: emulated = CPU', async () => {
  const small = { prompt: 'a (blue:1.2) square', negativePrompt: 'noise', width: 32, height: 32, steps: 2, seed: 4, sampler: 'euler' } as const;
  const cases: Array<[Parameters<typeof tinyFamilyCheckpoint>[0], GenerateOptions]> = [
    ['sd1', { ...small, prompt: 'a [cat:dog:0.5] on grass', steps: 4 }],  // prompt editing: the context changes at step 2
    ['sd2', small],
    ['sdxl', small],
    ['sd1_inpaint', { ...small, initImage: card(32, 32), mask: leftHalf(32, 32), strength: 0.8 }],
    ['sdxl_inpaint', { ...small, initImage: card(32, 32), mask: leftHalf(32, 32), strength: 0.8 }],
  ];
  for (const [family, options] of cases) {
    const path = tinyFamilyCheckpoint(family);
    const cpu = await StableDiffusion.load(path, { threads: 2, device: 'cpu' });
    const dev = await StableDiffusion.load(path, { threads: 2, device: 'emulated' });
    try {
      const a = await run(cpu, options);
      const b = await run(dev, options);
      assert.ok(b.image.equals(a.image), `${family}: emulated and CPU images differ`);
      assert.deepEqual(b.previews, a.previews, family);
    } finally {
      cpu.dispose();
      dev.dispose();
    }
  }
});

// On a CUDA build with a GPU: the same runtime, so the same transfers as the emulated device; the
// kernels differ, so the image is compared by its mean absolute difference (0..255 scale).
test("on a GPU: 'cuda' moves exactly what 'emulated' moves, and draws the CPU's image", { skip: systemInfo().autoDevice !== 'cuda' && 'no CUDA device in this build or machine' }, async () => {
  const gpu = await StableDiffusion.load(tiny, { device: 'cuda' });
  const dev = await StableDiffusion.load(tiny, { threads: 2, device: 'emulated' });
  try {
    assert.match(gpu.info.device, /^cuda:0 \(.+\)$/);
    const a = await run(gpu, txt2img);
    const b = await run(dev, txt2img);
    assert.deepEqual(gpu.transfers(), dev.transfers());
    let diff = 0;
    for (let i = 0; i < a.image.length; ++i) diff += Math.abs(a.image[i]! - b.image[i]!);
    assert.ok(diff / a.image.length < 1, `mean absolute difference ${diff / a.image.length}`);
  } finally {
    gpu.dispose();
    dev.dispose();
  }
});

// One rank-2 LoRA on a UNet projection of the tiny golden checkpoint, its values from `seed`.
function writeLora(name: string, seed: number): string {
  const key = 'model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight';
  const [out, inp] = readSafetensors(tinyCheckpoint()).tensors.get(key)!.shape as [number, number];
  const vals = (n: number, k: number) => Buffer.from(Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 7.1 + k * 3.3 + i * 0.37) * 0.5).buffer);
  const stem = 'lora_unet_input_blocks_1_1_transformer_blocks_0_attn1_to_q';
  const path = join(tempDir(), name);
  writeSafetensors(path, [[`${stem}.lora_down.weight`, { dtype: 'F32', shape: [2, inp], data: vals(2 * inp, 1) }],
    [`${stem}.lora_up.weight`, { dtype: 'F32', shape: [out, 2], data: vals(out * 2, 2) }]]);
  return path;
}

// Twelve switches: each evicted set's device space is reused by the next set's copies (native
// test_adapters checks the bytes), so reused blocks must still give the CPU's images.
test('LoRA sets on the emulated device: merged weights go up, sets leaving the cache are forgotten; the CPU\'s bytes', async () => {
  const a = writeLora('device-lora-a.safetensors', 1), b = writeLora('device-lora-b.safetensors', 2);
  const base: GenerateOptions = { prompt: 'a cat', width: 32, height: 32, steps: 2, seed: 9, sampler: 'euler' };
  // loraCacheMB 0: each set leaves the cache when the next is applied, so its buffers are freed and reused
  const cpu = await StableDiffusion.load(tinyCheckpoint(), { threads: 2, device: 'cpu', loraCacheMB: 0 });
  const dev = await StableDiffusion.load(tinyCheckpoint(), { threads: 2, device: 'emulated', loraCacheMB: 0 });
  try {
    const sets = [[{ path: a, weight: 1 }], [{ path: b, weight: 1 }], [], [{ path: a, weight: 1 }], [{ path: a, weight: 0.5 }], [{ path: b, weight: 1 }]];
    const images = new Set<string>();
    const uploadsPerSet: number[] = [];
    for (const loras of [...sets, ...sets]) {
      const before = dev.transfers().weightUploads;
      const x = await run(cpu, { ...base, loras });
      const y = await run(dev, { ...base, loras });
      assert.ok(y.image.equals(x.image), `loras ${JSON.stringify(loras)}: emulated and CPU images differ`);
      images.add(y.image.toString('hex'));
      uploadsPerSet.push(dev.transfers().weightUploads - before);
    }
    // Second round: each set's one merged copy goes up again (the set before was evicted); the base is kept.
    assert.deepEqual(uploadsPerSet.slice(sets.length), [1, 1, 0, 1, 1, 1]);
    assert.equal(images.size, 4, 'a, b, none, a at 0.5 are four different images');
  } finally {
    cpu.dispose();
    dev.dispose();
  }
});
