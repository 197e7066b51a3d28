// OpenAI's image edits, as its clients send them (multipart/form-data):
//
//   POST /v1/images/edits  image=<PNG/JPEG/WebP>, mask=<PNG: transparent where to edit>?, prompt, n?, size?,
//                          response_format?: "b64_json"   → { created, data: [{ b64_json }], size, output_format }
//
// With a mask, its fully transparent pixels are repainted (OpenAI's rule) and the rest is kept
// exactly; without one, an image with transparency is edited where it is transparent, and an
// opaque image is redrawn as a whole (img2img). Extensions: negative_prompt, seed, steps,
// cfg_scale, sampler, scheduler, strength (default 1: the edited area is drawn anew).
import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest } from 'fastify';

import { sniffImage } from '../image-decode.js';
import { decodePng, encodePng } from '../png.js';
import { HttpError } from './errors.js';
import { imageSize, requestedJobId, runJob, sideFromImage, type ServerContext } from './context.js';
import { parseSize } from './openai.js';
import type { JobSettings } from './queue.js';

const FIELDS = ['prompt', 'n', 'size', 'response_format', 'output_format', 'model', 'user', 'quality', 'background', 'input_fidelity',
  'negative_prompt', 'seed', 'steps', 'cfg_scale', 'sampler', 'scheduler', 'strength'] as const;
const NUMBERS = new Set(['n', 'seed', 'steps', 'cfg_scale', 'strength']);

interface EditRequest {
  image: Buffer;
  mask?: Buffer;
  fields: Record<string, string>;
}

async function readForm(ctx: ServerContext, request: FastifyRequest): Promise<EditRequest> {
  if (!request.isMultipart()) throw new HttpError(400, 'send the edit as multipart/form-data with an image file and a prompt (as OpenAI clients do)');
  let image: Buffer | undefined, mask: Buffer | undefined;
  const fields: Record<string, string> = {};
  for await (const part of request.parts()) {
    if (part.type === 'file') {
      const name = part.fieldname.replace(/\[\]$/, '');
      if (name !== 'image' && name !== 'mask') throw new HttpError(400, `unexpected file field ${JSON.stringify(part.fieldname)}; send image and optionally mask`);
      if ((name === 'image' && image) || (name === 'mask' && mask)) throw new HttpError(400, `one ${name} file only`);
      const bytes = await part.toBuffer();
      if (part.file.truncated) throw new HttpError(413, `${name} is larger than ${ctx.options.maxImageBytes} bytes`);
      if (name === 'image') image = bytes;
      else mask = bytes;
    } else {
      if (!(FIELDS as readonly string[]).includes(part.fieldname)) throw new HttpError(400, `unknown field ${JSON.stringify(part.fieldname)}`);
      fields[part.fieldname] = String(part.value);
    }
  }
  if (!image) throw new HttpError(400, 'image is required: the picture to edit (PNG, JPEG or WebP)');
  if (!fields.prompt) throw new HttpError(400, 'prompt is required');
  return { image, mask, fields };
}

// An OpenAI mask (transparent = edit) as ours: a one-channel mask, 255 where alpha is 0.
function maskFromAlpha(png: Buffer, field: string): { data: Uint8Array; width: number; height: number; channels: 1 } | undefined {
  if (sniffImage(png) !== 'png') throw new HttpError(400, `${field} must be a PNG whose transparent pixels mark what to edit`);
  let pixels;
  try {
    pixels = decodePng(png, field);
  } catch (e) {
    throw new HttpError(400, (e as Error).message);
  }
  const { data, width, height } = pixels; // RGBA, alpha 255 where the file has none
  const out = new Uint8Array(width * height);
  let any = false;
  for (let p = 0; p < out.length; p++) if (data[p * 4 + 3] === 0) (out[p] = 255), (any = true);
  return any ? { data: out, width, height, channels: 1 } : undefined;
}

function number(fields: Record<string, string>, name: string): number | undefined {
  if (fields[name] === undefined) return undefined;
  const v = Number(fields[name]);
  if (!Number.isFinite(v)) throw new HttpError(400, `${name} must be a number, got ${JSON.stringify(fields[name])}`);
  return v;
}

export function registerOpenAiEdits(app: FastifyInstance, ctx: ServerContext): void {
  app.register(async (scope) => {
    await scope.register(multipart, { limits: { fileSize: ctx.options.maxImageBytes, files: 2, fields: FIELDS.length, fieldSize: 65536, parts: FIELDS.length + 2 } });
    scope.post('/v1/images/edits', async (request, reply) => {
      const { image, mask, fields } = await readForm(ctx, request);
      for (const name of Object.keys(fields)) if (NUMBERS.has(name)) number(fields, name);
      if (fields.response_format === 'url') throw new HttpError(400, 'response_format "url" is not supported: this server keeps no images to link to; use "b64_json"');
      if (fields.output_format && fields.output_format !== 'png') throw new HttpError(400, `output_format ${JSON.stringify(fields.output_format)} is not supported; sd-native returns "png"`);
      const declared = imageSize(ctx, image, 'image');
      const size = fields.size && fields.size !== 'auto' ? parseSize(ctx, fields.size)
        : { width: sideFromImage(ctx, declared.width, 'image', 'width', declared.width), height: sideFromImage(ctx, declared.height, 'image', 'height', declared.height) };
      const editMask = mask ? maskFromAlpha(mask, 'mask') : sniffImage(image) === 'png' ? maskFromAlpha(image, 'image') : undefined;
      if (mask && !editMask) throw new HttpError(400, 'mask has no fully transparent pixels: nothing would be edited (OpenAI masks mark the edit with alpha 0)');
      if (editMask && (editMask.width !== declared.width || editMask.height !== declared.height)) {
        throw new HttpError(400, `mask is ${editMask.width}×${editMask.height} but image is ${declared.width}×${declared.height}; they must be the same size`);
      }
      const n = number(fields, 'n') ?? 1;
      if (!Number.isInteger(n) || n < 1 || n > ctx.options.maxBatchImages) throw new HttpError(400, `n must be an integer from 1 to ${ctx.options.maxBatchImages}, got ${fields.n}`);
      const settings: JobSettings = {
        prompt: fields.prompt!, negativePrompt: fields.negative_prompt ?? '', ...size,
        steps: number(fields, 'steps') ?? ctx.options.openaiSteps, cfgScale: number(fields, 'cfg_scale') ?? 7,
        ...(fields.sampler ? { sampler: fields.sampler } : {}), ...(fields.scheduler ? { scheduler: fields.scheduler } : {}),
        clipSkip: ctx.settings.CLIP_stop_at_last_layers, initImage: image, strength: number(fields, 'strength') ?? 1,
        // the queue keys jobs by their bytes: the mask travels as a (fast) PNG like any uploaded one
        ...(editMask ? { mask: encodePng(editMask, { level: 1 }), maskBlur: 0, inpaintingFill: 'original' as const } : {}),
      };
      const { images } = await runJob(ctx, request, reply, { kind: 'img2img', n, seed: number(fields, 'seed') ?? -1, settings }, requestedJobId(request));
      return {
        created: Math.floor(Date.now() / 1000),
        data: images.map((i) => ({ b64_json: i.toPNG().toString('base64') })),
        size: `${images[0]?.width ?? size.width}x${images[0]?.height ?? size.height}`,
        output_format: 'png',
      };
    });
  });
}
