// A1111 v1.10.1's own inpainting code (test/fixtures/generators/inpaint_golden.py ran it on a 40×48
// image and four masks): every pixel-side step must give the same bytes — binarized, inverted and
// blurred masks, crop boxes, the masks and filled images handed to the VAE, the latent masks, and
// the final composite over the original.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { binaryMask, prepareInpaint, type InpaintSettings } from '../../lib/inpaint.js';
import { gaussianBlurMask } from '../../lib/pil-ops.js';
import { readSafetensors, type StTensor } from '../helpers/safetensors.js';
import { fixtures } from '../helpers/tiny-checkpoint.js';

const golden = readSafetensors(join(fixtures, 'inpaint_a1111.safetensors')).tensors;
const meta = JSON.parse(readFileSync(join(fixtures, 'inpaint_a1111.json'), 'utf8')) as {
  cases: Record<string, { mask_shape: number[] }>;
  runs: Record<string, { inpaint_full_res: boolean; inpaint_full_res_padding: number; mask_blur_x: number; mask_blur_y: number; inpainting_mask_invert: number; inpainting_fill: number; latent_factors: number[] }>;
};
const FILLS = ['fill', 'original', 'latent_noise', 'latent_nothing'] as const;

function get(name: string): StTensor {
  const t = golden.get(name);
  assert.ok(t, `golden has ${name}`);
  return t;
}
const bytes = (name: string) => new Uint8Array(get(name).data);
const floats = (name: string) => new Float32Array(new Uint8Array(get(name).data).buffer);
const ints = (name: string) => Array.from(new Int32Array(new Uint8Array(get(name).data).buffer));
// Channel 0 of an [H, W, 3] gray image or the [H, W] image itself.
const plane = (name: string) => {
  const t = get(name), d = bytes(name);
  return t.shape.length === 3 ? d.filter((_, i) => i % t.shape[2]! === 0) : d;
};
const differing = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let n = 0;
  for (let i = 0; i < Math.max(a.length, b.length); ++i) n += Number(a[i] !== b[i]);
  return n;
};

const image = { data: bytes('input.image'), width: 40, height: 48, channels: 3 as const };
const maskOf = (c: string) => {
  const shape = meta.cases[c]!.mask_shape;
  return { data: bytes(`${c}.input.mask`), width: shape[1]!, height: shape[0]!, channels: (shape[2] ?? 1) as 1 | 4 };
};

test('mask binarize, invert and OpenCV blur are byte-identical', () => {
  for (const c of Object.keys(meta.cases)) {
    const binary = binaryMask(maskOf(c));
    assert.equal(differing(binary, bytes(`${c}.binary`)), 0, `${c} binary`);
    assert.equal(differing(binary.map((v) => 255 - v), bytes(`${c}.inverted`)), 0, `${c} inverted`);
    assert.equal(differing(gaussianBlurMask(binary, 40, 48, 4, 4), bytes(`${c}.blurred_4_4`)), 0, `${c} blur 4,4`);
    assert.equal(differing(gaussianBlurMask(binary, 40, 48, 3, 0), bytes(`${c}.blurred_3_0`)), 0, `${c} blur 3,0`);
  }
});

test('every run: crop box, VAE input, masks, latent mask and final composite match A1111', () => {
  let checked = 0;
  for (const c of Object.keys(meta.cases)) {
    if (c === 'case3') continue; // all black: A1111 falls back to plain img2img; we refuse (tested in inpaint.test.ts)
    for (const [run, r] of Object.entries(meta.runs)) {
      for (const factor of r.latent_factors) {
        const key = factor === 8 ? `${c}.${run}` : `${c}.${run}.f${factor}`;
        const settings: InpaintSettings = {
          width: 32, height: 40, resizeMode: 'just_resize', maskBlur: [r.mask_blur_x, r.mask_blur_y], maskInvert: r.inpainting_mask_invert === 1,
          inpaintingFill: FILLS[r.inpainting_fill]!, inpaintArea: r.inpaint_full_res ? 'masked' : 'whole', inpaintPadding: r.inpaint_full_res_padding,
        };
        if (c === 'case4' && settings.maskInvert) {
          // all white, inverted: nothing to repaint (A1111 would run plain img2img); refused here
          assert.throws(() => prepareInpaint(image, maskOf(c), settings, factor), /mask is empty once inverted/);
          continue;
        }
        const job = prepareInpaint(image, maskOf(c), settings, factor);
        if (r.inpaint_full_res) assert.deepEqual(job.cropRegion, ints(`${key}.crop_region`), `${key} crop`);
        assert.equal(differing(job.pixelMask, plane(`${key}.image_mask`)), 0, `${key} image_mask`);
        assert.equal(differing(job.image.data, bytes(`${key}.fill`)), 0, `${key} filled image`);
        const nmask = floats(`${key}.nmask`).subarray(0, job.latentMask.length);
        assert.equal(differing(job.latentMask, nmask), 0, `${key} latent mask`);
        const decoded = bytes(`${key}.overlay_in.decoded`);
        const rgba = new Uint8Array(32 * 40 * 4).map((_, i) => (i % 4 === 3 ? 255 : decoded[(i >> 2) * 3 + (i % 4)]!));
        const out = job.composite(rgba);
        const want = bytes(`${key}.overlay_out.image`);
        assert.equal(out.width * out.height * 3, want.length, `${key} composite size`);
        const rgb = out.data.filter((_, i) => i % 4 !== 3);
        assert.equal(differing(rgb, want), 0, `${key} composite`);
        checked++;
      }
    }
  }
  assert.equal(checked, 17);
});
