// The rest of the A1111 API that clients call at start-up or to read images back, in the shapes of
// modules/api/api.py and models.py (A1111 v1.10):
//
//   POST /sdapi/v1/png-info {image}  → { info: infotext, items: other text chunks, parameters: parse_generation_parameters(info) }
//   GET  /sdapi/v1/cmd-flags         → A1111's launch flags, with the values that describe this server
//   GET  /sdapi/v1/upscalers         → the three that need no model: None, Lanczos, Nearest
//   GET  /sdapi/v1/latent-upscale-modes, hypernetworks, face-restorers, realesrgan-models,
//        prompt-styles, scripts      → A1111's lists; empty where sd-native has no such thing
//
// Also the memory of POST /sdapi/v1/options: keys sd-native does not act on (send_seed, a theme,
// ...) are kept and returned by GET, as A1111 keeps them, within a bound on their number and size.
import { sniffImage } from '../image-decode.js';
import { dirname } from 'node:path';

import type { FastifyInstance } from 'fastify';

import { a1111Parameters } from '../infotext.js';
import { readPngText } from '../png.js';
import { HttpError } from './errors.js';
import { decodeImageField } from './images.js';
import type { ServerContext } from './context.js';

/** The most option keys, and JSON bytes of their values, a server keeps from POST /options. */
export const MAX_STORED_OPTIONS = 1024;
export const MAX_STORED_OPTION_BYTES = 256 * 1024;

// A1111's own settings file has ~450 keys of a few KB in all; the bounds leave room for
// extensions' keys and stop a client from growing the server's memory without end.
const stored = new WeakMap<ServerContext, Map<string, unknown>>();

/** Keys of a POST /options body that sd-native does not act on, kept (checked against the bounds first). */
export function rememberOptions(ctx: ServerContext, body: Record<string, unknown>, handled: readonly string[]): void {
  const next = new Map(stored.get(ctx));
  for (const [k, v] of Object.entries(body)) if (!handled.includes(k)) next.set(k, v);
  if (next.size > MAX_STORED_OPTIONS) {
    throw new HttpError(422, `options: this server keeps at most ${MAX_STORED_OPTIONS} keys, the post would make ${next.size}`);
  }
  const bytes = Buffer.byteLength(JSON.stringify(Object.fromEntries(next)));
  if (bytes > MAX_STORED_OPTION_BYTES) {
    throw new HttpError(422, `options: this server keeps at most ${MAX_STORED_OPTION_BYTES} bytes of option values (as JSON), the post would make ${bytes}`);
  }
  stored.set(ctx, next);
}

/** The options kept from earlier posts, for GET /options. */
export function rememberedOptions(ctx: ServerContext): Record<string, unknown> {
  return Object.fromEntries(stored.get(ctx) ?? []);
}

const LATENT_UPSCALE_MODES = ['Latent', 'Latent (antialiased)', 'Latent (bicubic)', 'Latent (bicubic antialiased)', 'Latent (nearest)', 'Latent (nearest-exact)'];

// modules/upscaler.py: UpscalerNone / UpscalerLanczos / UpscalerNearest, each one UpscalerData(name, None, scale=4).
const UPSCALERS = ['None', 'Lanczos', 'Nearest'].map((name) => ({ name, model_name: null, model_path: null, model_url: null, scale: 4 }));

function cmdFlags(ctx: ServerContext): Record<string, unknown> {
  const path = ctx.pipeline.path ?? null;
  const lora = ctx.pipeline.loras?.()[0]?.path;
  const embedding = ctx.pipeline.embeddings?.().loaded[0]?.path;
  return {
    api: true, nowebui: true, api_log: false, api_server_stop: false,
    // never the token itself: A1111 echoes its user:password here, we do not
    api_auth: null, gradio_auth: null, share: false, listen: false, server_name: null, port: null,
    cors_allow_origins: null, cors_allow_origins_regex: null, timeout_keep_alive: Math.round(ctx.options.keepAliveTimeoutMs / 1000),
    ckpt: path, ckpt_dir: path ? dirname(path) : null, data_dir: null, models_dir: null,
    lora_dir: lora ? dirname(lora) : null, embeddings_dir: embedding ? dirname(embedding) : null, hypernetwork_dir: null,
    styles_file: [], disable_safe_unpickle: false, // nothing is unpickled: .ckpt files are read without running code
    skip_torch_cuda_test: true, use_cpu: [], device_id: null, precision: 'autocast', no_half: false, no_half_vae: false,
    medvram: false, lowvram: false, xformers: false, opt_sdp_attention: false, hide_ui_dir_config: true,
    enable_insecure_extension_access: false, no_download_sd_model: true,
  };
}

function pngInfo(ctx: ServerContext, image: string): { info: string; items: Record<string, string>; parameters: Record<string, unknown> } {
  const png = decodeImageField(image, 'image', ctx.options.maxImageBytes, 422);
  const format = sniffImage(png);
  if (format !== 'png') throw new HttpError(422, `image is a ${format === 'jpeg' ? 'JPEG' : 'WebP'}; png-info reads the text chunks of PNG images only`);
  let text: Record<string, string>;
  try {
    text = readPngText(png, 'image');
  } catch (e) {
    throw new HttpError(422, (e as Error).message);
  }
  const { parameters: info = '', ...items } = text;
  return { info, items, parameters: a1111Parameters(info) };
}

export function registerA1111Extras(app: FastifyInstance, ctx: ServerContext): void {
  const maxChars = Math.ceil((ctx.options.maxImageBytes * 4) / 3) + 64;
  app.post('/sdapi/v1/png-info', {
    schema: { body: { type: 'object', required: ['image'], properties: { image: { type: 'string', maxLength: maxChars } } } },
  }, async (req) => pngInfo(ctx, (req.body as { image: string }).image));

  app.get('/sdapi/v1/cmd-flags', async () => cmdFlags(ctx));
  app.get('/sdapi/v1/upscalers', async () => UPSCALERS);
  app.get('/sdapi/v1/latent-upscale-modes', async () => LATENT_UPSCALE_MODES.map((name) => ({ name })));
  app.get('/sdapi/v1/hypernetworks', async () => []);
  // No face restorers: requests with restore_faces: true are refused (422) by the txt2img/img2img routes.
  app.get('/sdapi/v1/face-restorers', async () => []);
  app.get('/sdapi/v1/realesrgan-models', async () => []);
  app.get('/sdapi/v1/prompt-styles', async () => []);
  app.get('/sdapi/v1/scripts', async () => ({ txt2img: [], img2img: [] }));
}
