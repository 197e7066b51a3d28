// VAE tiling on the tiny checkpoint (VAE downscale 2): small tiles forced through
// SD_NATIVE_VAE_TILE so that a 128² image (64² latent) runs as many overlapping tiles, compared
// with the whole-image pass of the same latent. The full-size check (SD1.5 at 1024², ≥ 40 dB) is a
// one-off measurement: bench/vae-tiles.ts, figures in bench/RESULTS.md (2026-12-06).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { StableDiffusion, type GeneratedImage } from '../../lib/index.js';
import { native } from '../../lib/binding.js';
import { tinyCheckpoint } from '../helpers/tiny-checkpoint.js';

// 16-latent tiles overlapping by ≥ 4: on a 64-latent axis, starts 0, 12, 24, 36, 48 → 5 × 5 tiles.
const TILE = '16,4';
const TILES = 25;
// Measured 2026-12-06 on this checkpoint with these tiles: decode PSNR 34.5 dB; encode latent rel
// L2 0.077 (errors spread evenly, not along seams: each tile's group norms and the mid-block
// attention see a sixteenth of the image, the price of tiles this small; with 1 tile it is 0, with
// 9 tiles of 32 it is 0.035). Thresholds leave ~2 dB / 30 % for other CPUs' summation order.
const MIN_DECODE_PSNR = 32.5;
const MAX_ENCODE_REL_L2 = 0.1;

function relL2(a: Float32Array, b: Float32Array): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) (num += (a[i]! - b[i]!) ** 2), (den += b[i]! ** 2);
  return Math.sqrt(num / den);
}

function psnr(a: GeneratedImage, b: GeneratedImage): number {
  assert.equal(a.data.length, b.data.length);
  let se = 0, n = 0;
  for (let i = 0; i < a.data.length; i++) {
    if (i % 4 === 3) continue; // alpha is always 255
    const d = a.data[i]! - b.data[i]!;
    se += d * d;
    n++;
  }
  return se === 0 ? Infinity : 10 * Math.log10((255 * 255) / (se / n));
}

let sd: StableDiffusion;
const saved = process.env.SD_NATIVE_VAE_TILE;
before(async () => {
  process.env.SD_NATIVE_VAE_TILE = TILE;
  sd = await StableDiffusion.load(tinyCheckpoint(), { threads: 2 });
});
after(() => {
  sd.dispose();
  if (saved === undefined) delete process.env.SD_NATIVE_VAE_TILE;
  else process.env.SD_NATIVE_VAE_TILE = saved;
});

const BASE = { prompt: 'a photo of a cat', width: 128, height: 128, steps: 2, sampler: 'euler', seed: 7 } as const;

test('tiled decode matches the whole-image decode of the same latent, and the tiles ran', async (t) => {
  const [whole] = await sd.generate({ ...BASE, vaeTiling: false });
  const [tiled] = await sd.generate({ ...BASE, vaeTiling: true });
  assert.deepEqual(tiled!.latent, whole!.latent, 'same latent: only the VAE differs');
  assert.equal(whole!.stats!.decodeTiles, 0);
  assert.equal(tiled!.stats!.decodeTiles, TILES);
  const db = psnr(tiled!, whole!);
  t.diagnostic(`tiled vs whole decode: PSNR ${db.toFixed(2)} dB over ${TILES} tiles`);
  assert.ok(db >= MIN_DECODE_PSNR, `PSNR ${db} dB < ${MIN_DECODE_PSNR}`);
  assert.ok(db < Infinity, 'tiles of a quarter of the image cannot be bit-identical: the tiled path did not run');
});

test("'auto' follows the load option vaeMemoryMB", async () => {
  const [auto] = await sd.generate({ ...BASE, steps: 1 });
  assert.equal(auto!.stats!.decodeTiles, 0, 'the tiny VAE at 128² is far under the default 3072 MiB');
  const tight = await StableDiffusion.load(tinyCheckpoint(), { threads: 2, vaeMemoryMB: 0 });
  try {
    const [img] = await tight.generate({ ...BASE, steps: 1 });
    assert.equal(img!.stats!.decodeTiles, TILES, 'any arena exceeds a budget of 0');
  } finally {
    tight.dispose();
  }
});

test('tiled img2img encode: moments blended in latent space', async (t) => {
  const [src] = await sd.generate({ ...BASE, vaeTiling: false });
  // strength 0: no denoising, the result's latent is the encoded image itself (mean + σ·noise, the
  // same noise in both runs), so it compares the two encoders directly.
  const i2i = { ...BASE, initImage: src!, strength: 0 };
  const [whole] = await sd.generate({ ...i2i, vaeTiling: false });
  const [tiled] = await sd.generate({ ...i2i, vaeTiling: true });
  assert.equal(whole!.stats!.encodeTiles, 0);
  assert.equal(tiled!.stats!.encodeTiles, TILES);
  assert.equal(tiled!.stats!.decodeTiles, TILES);
  const err = relL2(tiled!.latent!, whole!.latent!);
  t.diagnostic(`tiled vs whole encode: latent rel L2 ${err.toFixed(4)}`);
  assert.ok(err <= MAX_ENCODE_REL_L2, `latent rel L2 ${err} > ${MAX_ENCODE_REL_L2}`);
  assert.ok(err > 0, 'a tiled encode cannot be bit-identical: the tiled path did not run');
});

test('the addon decodes a latent alone (bench/vae-tiles.ts): the same pixels as generate()', async () => {
  const [whole] = await sd.generate({ ...BASE, vaeTiling: false });
  const [tiled] = await sd.generate({ ...BASE, vaeTiling: true });
  const raw = await native.loadModel(tinyCheckpoint(), { threads: 2, compute: 'f32', prediction: '', vae: '', loraCacheMB: 0, vaeMemoryMB: 3072, taesd: '', device: 'cpu' });
  try {
    const a = await raw.decodeLatent(whole!.latent!, 1, 64, 64, 'false');
    const b = await raw.decodeLatent(whole!.latent!, 1, 64, 64, 'true');
    assert.deepEqual([a.tiles, b.tiles], [0, TILES]);
    assert.ok(a.images[0]!.equals(whole!.data), 'whole decode: identical bytes');
    assert.ok(b.images[0]!.equals(tiled!.data), 'tiled decode: identical bytes');
  } finally {
    raw.dispose();
  }
});

test('vaeTiling is validated from the table', async () => {
  await assert.rejects(sd.generate({ ...BASE, vaeTiling: 'yes' as never }), { message: 'vaeTiling must be one of "auto", true, false, got "yes"' });
});
