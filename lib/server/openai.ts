// The OpenAI images API, enough for OpenAI's own clients pointed at this server
// (`new OpenAI({ baseURL: 'http://127.0.0.1:7860/v1', apiKey })`):
//
//   POST /v1/images/generations { prompt, n?, size?: "WxH" | "auto", response_format?: "b64_json", model? }
//     → { created, data: [{ b64_json }], size, output_format: "png" }
//   GET  /v1/models → { object: "list", data: [{ id, object: "model", created, owned_by }] }
//
// response_format "url" is refused (400): the server keeps no images to link to. `model` may be
// anything (one model is loaded; clients often hard-code a name). Extensions for callers that
// want them: negative_prompt, seed, steps, cfg_scale, sampler, scheduler. Errors come in OpenAI's
// shape, { error: { message, type, param, code } }, which its clients show as the message.
import type { FastifyInstance } from 'fastify';

import { defaultOf, resolveNames } from '../options.js';
import { HttpError } from './errors.js';
import { requestedJobId, runJob, type ServerContext } from './context.js';

export function openAiSchema(ctx: ServerContext): Record<string, unknown> {
  return {
    type: 'object',
    required: ['prompt'],
    properties: {
      prompt: { type: 'string', minLength: 1, maxLength: 65536, description: 'at most 65536 characters' },
      model: { type: ['string', 'null'] },
      n: { type: ['integer', 'null'], minimum: 1, maximum: ctx.options.maxBatchImages },
      size: { type: ['string', 'null'], pattern: '^(auto|[0-9]{1,5}x[0-9]{1,5})$', description: '"WIDTHxHEIGHT" (e.g. "512x512") or "auto"' },
      response_format: { type: ['string', 'null'], enum: ['b64_json', 'url', null] },
      output_format: { type: ['string', 'null'], enum: ['png', 'jpeg', 'webp', null] },
      quality: { type: ['string', 'null'] },
      style: { type: ['string', 'null'] },
      user: { type: ['string', 'null'] },
      background: { type: ['string', 'null'] },
      moderation: { type: ['string', 'null'] },
      // sd-native extensions
      negative_prompt: { type: 'string', maxLength: 65536, description: 'at most 65536 characters' },
      seed: { type: 'integer', minimum: -1, maximum: Number.MAX_SAFE_INTEGER },
      steps: { type: 'integer', minimum: 1, maximum: 150 },
      cfg_scale: { type: 'number', minimum: 0, maximum: 100 },
      sampler: { type: 'string' },
      scheduler: { type: 'string' },
    },
  };
}

/** "512x768" → checked width and height ("auto" or absent: the model's default size). */
export function parseSize(ctx: ServerContext, size: string | null | undefined): { width: number; height: number } {
  const { min, max, multipleOf } = ctx.size;
  if (size === undefined || size === null || size === 'auto') return { width: ctx.size.default, height: ctx.size.default };
  const [w, h] = size.split('x').map(Number) as [number, number];
  for (const [name, v] of [['width', w], ['height', h]] as const) {
    if (!(v % multipleOf === 0 && v >= min && v <= max)) {
      throw new HttpError(400, `size ${JSON.stringify(size)}: ${name} must be a multiple of ${multipleOf} between ${min} and ${max}, got ${v}`);
    }
  }
  return { width: w, height: h };
}

export function registerOpenAi(app: FastifyInstance, ctx: ServerContext): void {
  app.post('/v1/images/generations', { schema: { body: openAiSchema(ctx) } }, async (request, reply) => {
    const b = request.body as Record<string, unknown>;
    if (b.response_format === 'url') {
      throw new HttpError(400, 'response_format "url" is not supported: this server keeps no images to link to; use "b64_json"');
    }
    if (b.output_format !== undefined && b.output_format !== null && b.output_format !== 'png') {
      throw new HttpError(400, `output_format ${JSON.stringify(b.output_format)} is not supported; sd-native returns "png"`);
    }
    const { width, height } = parseSize(ctx, b.size as string | null | undefined);
    const sampler = (b.sampler as string | undefined) ?? String(defaultOf('sampler'));
    const scheduler = (b.scheduler as string | undefined) ?? String(defaultOf('scheduler'));
    try {
      resolveNames(sampler, scheduler);
    } catch (e) {
      throw new HttpError(400, (e as Error).message);
    }
    const n = (b.n as number | null | undefined) ?? 1;
    const { images } = await runJob(ctx, request, reply, {
      kind: 'txt2img',
      n,
      seed: (b.seed as number | undefined) ?? -1,
      settings: {
        prompt: b.prompt as string,
        negativePrompt: (b.negative_prompt as string | undefined) ?? '',
        width,
        height,
        steps: (b.steps as number | undefined) ?? ctx.options.openaiSteps,
        cfgScale: (b.cfg_scale as number | undefined) ?? 7,
        sampler,
        scheduler,
        clipSkip: ctx.settings.CLIP_stop_at_last_layers,
      },
    }, requestedJobId(request));
    return {
      created: Math.floor(Date.now() / 1000),
      data: images.map((i) => ({ b64_json: i.toPNG().toString('base64') })),
      size: `${width}x${height}`,
      output_format: 'png',
    };
  });

  app.get('/v1/models', async () => ({
    object: 'list',
    data: [{ id: ctx.modelName, object: 'model', created: Math.floor(Date.now() / 1000), owned_by: 'sd-native' }],
  }));
}
