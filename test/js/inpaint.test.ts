// Inpainting and any-size img2img through the whole pipeline on the tiny SD1 checkpoint (VAE ×2:
// 32×32 images, 16×16 latents): what must hold exactly is A1111's contract — the latent outside the
// mask is the encoded original, the pixels outside the mask are the original's.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { SdError, StableDiffusion } from '../../lib/index.js';
import { tinyCheckpoint, tinyFamilyCheckpoint } from '../helpers/tiny-checkpoint.js';

let shared: Promise<StableDiffusion> | undefined;
const model = () => (shared ??= StableDiffusion.load(tinyCheckpoint(), { threads: 2 }));

function randomRgb(width: number, height: number, seed: number) {
  const data = new Uint8Array(width * height * 3);
  let s = seed >>> 0;
  for (let i = 0; i < data.length; ++i) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = s >>> 24;
  }
  return { data, width, height, channels: 3 as const };
}

function maskWhere(width: number, height: number, repaint: (x: number, y: number) => boolean) {
  const data = new Uint8Array(width * height);
  for (let y = 0; y < height; ++y) for (let x = 0; x < width; ++x) data[y * width + x] = repaint(x, y) ? 255 : 0;
  return { data, width, height, channels: 1 as const };
}

const base = { prompt: 'a red house', steps: 4, seed: 5, cfgScale: 3 };

test('inpaint keeps the encoded latent and the original pixels outside the mask', async () => {
  const sd = await model();
  const init = randomRgb(32, 32, 1);
  const mask = maskWhere(32, 32, (x) => x < 16);
  const [inpainted] = await sd.generate({ ...base, initImage: init, mask, maskBlur: 0, strength: 0.75 });
  const [encoded] = await sd.generate({ ...base, initImage: init, strength: 0 });
  const lat = inpainted!.latent, ref = encoded!.latent;
  let keptSame = 0, repaintedDiffer = 0;
  for (let c = 0; c < 4; ++c)
    for (let y = 0; y < 16; ++y)
      for (let x = 0; x < 16; ++x) {
        const i = (c * 16 + y) * 16 + x;
        if (x >= 8) keptSame += Number(lat[i] === ref[i]);
        else repaintedDiffer += Number(lat[i] !== ref[i]);
      }
  assert.equal(keptSame, 4 * 16 * 8, 'latent outside the mask is bit-identical to the encoded original');
  assert.ok(repaintedDiffer > 4 * 16 * 8 * 0.9, `masked latent was resampled (${repaintedDiffer} differ)`);
  const out = inpainted!.data;
  let samePixels = 0;
  for (let y = 0; y < 32; ++y)
    for (let x = 16; x < 32; ++x)
      for (let c = 0; c < 3; ++c) samePixels += Number(out[(y * 32 + x) * 4 + c] === init.data[(y * 32 + x) * 3 + c]);
  assert.equal(samePixels, 32 * 16 * 3, 'unmasked pixels are the original bytes');
  assert.match(inpainted!.parameters, /Denoising strength: 0.75/);
});

test('inpaintArea "masked" works on a box around the mask and returns the original size', async () => {
  const sd = await model();
  const init = randomRgb(64, 48, 2);
  const mask = maskWhere(64, 48, (x, y) => x >= 40 && x < 48 && y >= 10 && y < 18);
  const [img] = await sd.generate({ ...base, initImage: init, mask, width: 32, height: 32, inpaintArea: 'masked', inpaintPadding: 4, maskBlur: 1 });
  assert.equal(img!.width, 64);
  assert.equal(img!.height, 48);
  // far from the padded box, the original is untouched
  let same = 0, total = 0;
  for (let y = 0; y < 48; ++y)
    for (let x = 0; x < 30; ++x, ++total) same += Number(img!.data[(y * 64 + x) * 4] === init.data[(y * 64 + x) * 3]);
  assert.equal(same, total);
});

test('every masked-content mode changes where sampling starts', async () => {
  const sd = await model();
  assert.equal(sd.info.inpainting, false);
  const init = randomRgb(32, 32, 3);
  const mask = maskWhere(32, 32, (x, y) => (x - 16) ** 2 + (y - 16) ** 2 < 64);
  const results = new Map<string, Float32Array>();
  for (const fill of ['fill', 'original', 'latent_noise', 'latent_nothing'] as const) {
    const [img] = await sd.generate({ ...base, initImage: init, mask, inpaintingFill: fill });
    results.set(fill, img!.latent);
  }
  const differs = (a: string, b: string) => results.get(a)!.some((v, i) => v !== results.get(b)![i]);
  assert.ok(differs('original', 'latent_nothing') && differs('original', 'latent_noise') && differs('original', 'fill'));
});

test('init images of another size are fitted by resizeMode; bad masks are clear errors', async () => {
  const sd = await model();
  const init = randomRgb(40, 24, 4);
  const outs = [];
  for (const resizeMode of ['just_resize', 'crop_and_resize', 'resize_and_fill', 'latent_upscale'] as const) {
    const [img] = await sd.generate({ ...base, initImage: init, width: 48, height: 32, resizeMode });
    assert.deepEqual([img!.width, img!.height], [48, 32]);
    outs.push(img!.data);
  }
  assert.ok(!outs[3]!.equals(outs[0]!), 'latent upscale starts from the resized latent, not the resized image');
  const rejects = (o: object, code: string, re: RegExp) =>
    assert.rejects(sd.generate({ ...base, ...o } as never), (e: unknown) => e instanceof SdError && e.code === code && re.test(e.message));
  await rejects({ initImage: init, mask: maskWhere(32, 32, () => true) }, 'ERR_SD_IMAGE', /mask is 32×32 but initImage is 40×24/);
  await rejects({ initImage: init, mask: maskWhere(40, 24, () => true), resizeMode: 'latent_upscale' }, 'ERR_SD_INVALID_OPTION', /does not combine with a mask/);
  await rejects({ initImage: init, mask: maskWhere(40, 24, () => false) }, 'ERR_SD_IMAGE', /mask is empty/);
  await rejects({ initImage: init, mask: maskWhere(40, 24, () => true), maskInvert: true }, 'ERR_SD_IMAGE', /empty once inverted/);
  await rejects({ mask: maskWhere(32, 32, () => true) }, 'ERR_SD_INVALID_OPTION', /mask needs an initImage/);
  await rejects({ initImage: init, mask: new Uint8Array([1, 2, 3]) }, 'ERR_SD_IMAGE', /mask must be PNG, JPEG or WebP bytes/);
  await rejects({ initImage: init, mask: maskWhere(40, 24, () => true), inpaintingFill: 'blur' }, 'ERR_SD_INVALID_OPTION', /inpaintingFill/);
});

for (const family of ['sd1', 'sdxl'] as const) {
  test(`a 9-channel ${family} inpainting checkpoint gets its mask conditioning in txt2img, img2img and inpaint`, async () => {
    const sd = await StableDiffusion.load(tinyFamilyCheckpoint(`${family}_inpaint`), { threads: 2 });
    try {
      assert.equal(sd.info.family, family);
      assert.equal(sd.info.inpainting, true);
      assert.equal(sd.info.latentChannels, 4);
      const [txt] = await sd.generate({ ...base, width: 32, height: 32 });
      assert.equal(txt!.latent.length, 4 * 16 * 16);
      const init = randomRgb(32, 32, 6);
      const [plain] = await sd.generate({ ...base, initImage: init });
      const mask = maskWhere(32, 32, (x, y) => y < 12);
      const [inpainted] = await sd.generate({ ...base, initImage: init, mask, maskBlur: 0 });
      let same = 0;
      for (let p = 16 * 32; p < 32 * 32; ++p) for (let c = 0; c < 3; ++c) same += Number(inpainted!.data[p * 4 + c] === init.data[p * 3 + c]);
      assert.equal(same, 16 * 32 * 3, 'rows below the mask are the original');
      assert.ok(plain!.latent.some((v, i) => v !== inpainted!.latent[i]));
    } finally {
      sd.dispose();
    }
  });
}

test('outpainting grows the canvas, paints the border and keeps the original away from the seam', async () => {
  const sd = await model();
  const init = randomRgb(32, 32, 8);
  const [img] = await sd.generate({ ...base, initImage: init, outpaintRight: 16, outpaintTop: 8, maskBlur: 2, inpaintingFill: 'fill', strength: 1 });
  assert.deepEqual([img!.width, img!.height], [48, 40]);
  // the original sits at (0, 8); the mask reaches 2·maskBlur = 4 pixels into it on the grown sides and
  // its blur (kernel radius ⌊2.5σ + 0.5⌋ = 5) 5 more: beyond 9 pixels the original is untouched
  let kept = 0;
  for (let y = 8 + 9; y < 40; ++y)
    for (let x = 0; x < 32 - 9; ++x)
      for (let c = 0; c < 3; ++c) kept += Number(img!.data[(y * 48 + x) * 4 + c] === init.data[((y - 8) * 32 + x) * 3 + c]);
  assert.equal(kept, 23 * 23 * 3);
  let painted = 0;
  for (let y = 0; y < 40; ++y) for (let x = 32; x < 48; ++x) painted += Number(img!.data[(y * 48 + x) * 4] !== init.data[(Math.min(Math.max(y - 8, 0), 31) * 32 + 31) * 3]);
  assert.ok(painted > 40 * 16 * 0.8, `the new border is painted, not the stretched edge (${painted})`);
  await assert.rejects(sd.generate({ ...base, initImage: init, outpaintLeft: 8, mask: maskWhere(32, 32, () => true) }),
    (e: unknown) => e instanceof SdError && /outpainting makes its own mask/.test(e.message));
  await assert.rejects(sd.generate({ ...base, initImage: init, outpaintLeft: 4000 }),
    (e: unknown) => e instanceof SdError && /the outpainted canvas is 4032×32, which this model cannot use/.test(e.message));
});
