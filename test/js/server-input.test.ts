// Hostile inputs through the real pipeline (tiny SD1 model): images whose data or declared size
// would cost gigabytes, prompts that would cost minutes, settings the model cannot run. Each ends
// in a 4xx within a second and leaves the server generating as before.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDeflate } from 'node:zlib';

import { StableDiffusion } from '../../lib/index.js';
import { decodePng, encodePng } from '../../lib/png.js';
import { createServer } from '../../lib/server/index.js';
import { tinyCheckpoint } from '../helpers/tiny-checkpoint.js';

let shared: Promise<StableDiffusion> | undefined;
const model = () => (shared ??= StableDiffusion.load(tinyCheckpoint(), { threads: 2 }));

function crc32(buf: Buffer): number {
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}
function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4), crc = Buffer.alloc(4), body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  len.writeUInt32BE(data.length);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}
// A valid PNG header declaring width × height RGB, with `idat` as its compressed data.
function png(width: number, height: number, idat: Buffer): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8, ihdr[9] = 2;
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))]);
}
// zlib data that inflates to `bytes` zeros, made in 1 MiB pieces (the test never holds the expansion).
async function zeros(bytes: number): Promise<Buffer> {
  const z = createDeflate({ level: 9 });
  const out: Buffer[] = [];
  z.on('data', (d: Buffer) => out.push(d));
  const done = new Promise((r) => z.on('end', r));
  const piece = Buffer.alloc(1 << 20);
  for (let n = 0; n < bytes; n += piece.length) if (!z.write(piece)) await new Promise((r) => z.once('drain', r));
  z.end();
  await done;
  return Buffer.concat(out);
}

// A server over the shared tiny model for one test, closed afterwards.
async function withServer(fn: (app: ReturnType<typeof createServer>) => Promise<void>): Promise<void> {
  const app = createServer(await model(), { batchWindowMs: 0 });
  try {
    await fn(app);
  } finally {
    await app.close();
  }
}

// RGB bytes of a deterministic pattern (byte i = i·step mod modulus).
const pattern = (width: number, height: number, step: number, modulus: number) => Buffer.from(Array.from({ length: width * height * 3 }, (_, i) => (i * step) % modulus));

const body = (extra: Record<string, unknown>) => ({ prompt: 'a red cube', steps: 1, seed: 1, ...extra });

test('hostile images, prompts and settings end in 4xx within a second; the server goes on', async () => {
  const app = createServer(await model(), { batchWindowMs: 0 });
  try {
    const post = async (url: string, payload: Record<string, unknown>) => {
      const t0 = performance.now();
      const res = await app.inject({ method: 'POST', url, payload });
      return { res, seconds: (performance.now() - t0) / 1000 };
    };
    const rss0 = process.memoryUsage().rss;
    const bomb = png(64, 64, await zeros(256 << 20)); // 64×64 declared, 256 MiB of data
    const cases: Array<[string, string, Record<string, unknown>, number, RegExp]> = [
      ['inflate bomb', '/sdapi/v1/img2img', body({ init_images: [bomb.toString('base64')] }), 422, /inflates to more than the 12352 bytes 64×64/],
      ['4096² image, size from the image', '/sdapi/v1/img2img', body({ init_images: [png(4096, 4096, await zeros(16)).toString('base64')] }), 422,
        /init_images\[0\] is 4096×4096; input images may be at most 2048×2048 for this model/],
      ['8-byte PNG', '/sdapi/v1/img2img', body({ init_images: [Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).toString('base64')] }), 422,
        /truncated or unreadable PNG \(8 bytes/],
      ['BREAK × 2000', '/sdapi/v1/txt2img', body({ prompt: 'a BREAK '.repeat(2000), width: 32, height: 32 }), 422, /a prompt uses 2000 chunks of 75 tokens .*at most 16/],
      ['clip skip beyond the model', '/sdapi/v1/options', { CLIP_stop_at_last_layers: 12 }, 422, /between 1 and 2 \(this model's text encoder has 2 layers\)/],
    ];
    for (const [what, url, payload, status, detail] of cases) {
      const { res, seconds } = await post(url, payload);
      assert.equal(res.statusCode, status, `${what}: ${res.body}`);
      assert.match(JSON.stringify(res.json()), detail, what);
      assert.ok(seconds < 1, `${what}: answered in ${seconds.toFixed(2)} s`);
    }
    assert.ok(process.memoryUsage().rss - rss0 < 128 << 20, `RSS grew ${((process.memoryUsage().rss - rss0) / 2 ** 20).toFixed(0)} MiB`);
    const ok = await app.inject({ method: 'POST', url: '/sdapi/v1/img2img', payload: body({ init_images: [encodePng({ data: Buffer.alloc(32 * 32 * 3, 90), width: 32, height: 32, channels: 3 }).toString('base64')] }) });
    assert.equal(ok.statusCode, 200, ok.body);
    const options = (await app.inject({ method: 'GET', url: '/sdapi/v1/options' })).json() as { CLIP_stop_at_last_layers: number };
    assert.equal(options.CLIP_stop_at_last_layers, 1, 'the refused setting was not stored');
  } finally {
    await app.close();
  }
});

test('a request refused for its own input does not fail the requests that shared its batch window', async () => {
  const app = createServer(await model(), { batchWindowMs: 300 });
  try {
    const send = (prompt: string, seed: number) =>
      app.inject({ method: 'POST', url: '/sdapi/v1/txt2img', payload: { prompt, width: 32, height: 32, steps: 1, seed } });
    const [good, bad, other] = await Promise.all([send('a red cube', 1), send('x BREAK '.repeat(100), 2), send('a blue sphere', 3)]);
    assert.equal(bad.statusCode, 422, bad.body);
    assert.equal(good.statusCode, 200, good.body);
    assert.equal(other.statusCode, 200, other.body);
  } finally {
    await app.close();
  }
});

test('A1111 inpainting through the server: mask fields, JPEG init image, the original kept outside the mask', async () => {
  await withServer(async (app) => {
    const rgb = pattern(48, 40, 7919, 251);
    const init = encodePng({ data: rgb, width: 48, height: 40, channels: 3 }).toString('base64');
    const maskPixels = Buffer.alloc(48 * 40);
    for (let y = 0; y < 40; ++y) for (let x = 0; x < 20; ++x) maskPixels[y * 48 + x] = 255;
    const mask = encodePng({ data: maskPixels, width: 48, height: 40, channels: 1 }).toString('base64');
    const res = await app.inject({ method: 'POST', url: '/sdapi/v1/img2img', payload: body({
      init_images: [init], mask, mask_blur: 0, inpainting_fill: 1, inpaint_full_res: false, denoising_strength: 0.8 }) });
    assert.equal(res.statusCode, 200, res.body);
    const out = decodePng(Buffer.from(res.json().images[0], 'base64'));
    assert.deepEqual([out.width, out.height], [48, 40]);
    let same = 0;
    for (let y = 0; y < 40; ++y)
      for (let x = 24; x < 48; ++x)
        for (let c = 0; c < 3; ++c) same += Number(out.data[(y * 48 + x) * out.channels + c] === rgb[(y * 48 + x) * 3 + c]);
    assert.equal(same, 40 * 24 * 3, 'pixels right of the mask are the init image');
    const other = await app.inject({ method: 'POST', url: '/sdapi/v1/img2img', payload: body({
      init_images: [init], mask: encodePng({ data: Buffer.alloc(32 * 32, 255), width: 32, height: 32, channels: 1 }).toString('base64') }) });
    assert.equal(other.statusCode, 422);
    assert.match(other.json().detail, /^mask is 32×32 but init_images\[0\] is 48×40/);
    const blank = await app.inject({ method: 'POST', url: '/sdapi/v1/img2img', payload: body({
      init_images: [init], mask: encodePng({ data: Buffer.alloc(48 * 40), width: 48, height: 40, channels: 1 }).toString('base64') }) });
    assert.equal(blank.statusCode, 422);
    assert.match(blank.json().detail, /mask is empty/);
    const { default: sharp } = await import('sharp');
    const jpeg = await sharp(rgb, { raw: { width: 48, height: 40, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
    const fromJpeg = await app.inject({ method: 'POST', url: '/sdapi/v1/img2img', payload: body({ init_images: [jpeg.toString('base64')], width: 32, height: 32 }) });
    assert.equal(fromJpeg.statusCode, 200, fromJpeg.body);
    assert.deepEqual(JSON.parse(fromJpeg.json().info).width, 32);
  });
});

test('A1111 hires fix through the server: enable_hr, hr_scale, hr_upscaler, hr_second_pass_steps, hr_prompt', async () => {
  await withServer(async (app) => {
    const res = await app.inject({ method: 'POST', url: '/sdapi/v1/txt2img', payload: body({
      width: 32, height: 32, steps: 2, enable_hr: true, hr_scale: 1.5, hr_upscaler: 'Latent (bicubic antialiased)', hr_second_pass_steps: 2, denoising_strength: 0.5,
      hr_prompt: 'a red barn', hr_negative_prompt: '' }) });
    assert.equal(res.statusCode, 200, res.body);
    const out = decodePng(Buffer.from(res.json().images[0], 'base64'));
    assert.deepEqual([out.width, out.height], [48, 48]);
    const info = JSON.parse(res.json().info);
    assert.equal(info.denoising_strength, 0.5);
    assert.match(info.infotexts[0], /Size: 32x32, .*Denoising strength: 0\.5, RNG: CPU, Hires upscale: 1\.5, Hires steps: 2, Hires upscaler: Latent \(bicubic antialiased\), Hires prompt: a red barn$/);
  });
});

test('OpenAI image edits (multipart): transparent mask pixels are repainted, the rest kept; bad forms are 400', async () => {
  await withServer(async (app) => {
    const rgb = pattern(32, 32, 131, 253);
    const image = encodePng({ data: rgb, width: 32, height: 32, channels: 3 });
    const rgba = Buffer.alloc(32 * 32 * 4, 255);
    for (let y = 0; y < 32; ++y) for (let x = 0; x < 12; ++x) rgba[(y * 32 + x) * 4 + 3] = 0; // edit the left 12 columns
    const mask = encodePng({ data: rgba, width: 32, height: 32, channels: 4 });
    const form = (parts: Array<[string, Buffer | string]>) => {
      const fd = new FormData();
      for (const [k, v] of parts) {
        if (typeof v === 'string') fd.append(k, v);
        else fd.append(k, new Blob([v], { type: 'image/png' }), `${k}.png`);
      }
      return fd;
    };
    const post = async (fd: FormData) => {
      const req = new Request('http://x/', { method: 'POST', body: fd });
      return app.inject({ method: 'POST', url: '/v1/images/edits', headers: Object.fromEntries(req.headers), payload: Buffer.from(await req.arrayBuffer()) });
    };
    const res = await post(form([['image', image], ['mask', mask], ['prompt', 'a red cube'], ['steps', '2'], ['seed', '3']]));
    assert.equal(res.statusCode, 200, res.body);
    const out = decodePng(Buffer.from(res.json().data[0].b64_json, 'base64'));
    let same = 0, changed = 0;
    for (let p = 0; p < 32 * 32; ++p) {
      const x = p % 32, eq = [0, 1, 2].every((c) => out.data[p * 4 + c] === rgb[p * 3 + c]);
      if (x >= 12) same += Number(eq);
      else changed += Number(!eq);
    }
    assert.equal(same, 32 * 20, 'opaque mask pixels keep the image');
    assert.ok(changed > 32 * 12 * 0.9, `transparent mask pixels were repainted (${changed})`);
    const opaque = await post(form([['image', image], ['mask', image], ['prompt', 'x']]));
    assert.equal(opaque.statusCode, 400);
    assert.match(opaque.json().error.message, /mask has no fully transparent pixels/);
    const noPrompt = await post(form([['image', image]]));
    assert.equal(noPrompt.statusCode, 400);
    assert.match(noPrompt.json().error.message, /prompt is required/);
    const json = await app.inject({ method: 'POST', url: '/v1/images/edits', payload: { prompt: 'x' } });
    assert.equal(json.statusCode, 400);
    assert.match(json.json().error.message, /multipart\/form-data/);
  });
});
