// A1111's sd_vae setting over a model loaded once. "Automatic" / "None" mean the checkpoint's own
// VAE, a file name means that file of --vae-dir. The server keeps the VAE it was started with: asking
// for the one in use is accepted, asking for another is refused (409) with the restart that gives it,
// since swapping would reload the model under requests that are running.
import { existsSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';

import type { FastifyInstance } from 'fastify';

import type { ServerContext } from './context.js';
import { HttpError } from './errors.js';

const OWN = ['Automatic', 'None', ''];

/** The sd_vae value for GET /options: the external file's name, or "Automatic". */
export function vaeSetting(ctx: ServerContext): string {
  return ctx.pipeline.vae ? basename(ctx.pipeline.vae) : 'Automatic';
}

/** The .safetensors files of --vae-dir, as A1111's /sdapi/v1/sd-vae lists them. */
function vaeFiles(ctx: ServerContext): Array<{ model_name: string; filename: string }> {
  if (!ctx.vaeDir) return [];
  let names: string[];
  try {
    names = readdirSync(ctx.vaeDir);
  } catch {
    return [];
  }
  return names.filter((n) => n.endsWith('.safetensors')).sort().map((n) => ({ model_name: n, filename: join(ctx.vaeDir!, n) }));
}

/** Accepts sd_vae when it names the VAE in use; otherwise a 404 (unknown name) or 409 (needs a restart). */
export function checkVaeSetting(ctx: ServerContext, value: unknown): void {
  if (typeof value !== 'string') throw new HttpError(422, `sd_vae must be a string ("Automatic", "None" or a file name), got ${JSON.stringify(value)}`);
  const current = ctx.pipeline.vae;
  const wantsOwn = OWN.includes(value);
  if (wantsOwn ? current === undefined : current !== undefined && (value === basename(current) || value === basename(current).replace(/\.safetensors$/, ''))) return;
  const restart = `this server keeps the VAE it was started with (${current ? JSON.stringify(basename(current)) : "the checkpoint's own"}); restart it with `;
  if (wantsOwn) throw new HttpError(409, `sd_vae ${JSON.stringify(value)}: ${restart}no --vae`);
  const file = ctx.vaeDir ? join(ctx.vaeDir, value.endsWith('.safetensors') ? value : `${value}.safetensors`) : undefined;
  if (!file || !existsSync(file)) {
    throw new HttpError(404, `sd_vae ${JSON.stringify(value)} not found${ctx.vaeDir ? ` in ${JSON.stringify(ctx.vaeDir)}` : ' (the server has no --vae-dir)'}`);
  }
  throw new HttpError(409, `sd_vae ${JSON.stringify(value)}: ${restart}--vae ${JSON.stringify(file)}`);
}

export function registerA1111Vae(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/sdapi/v1/sd-vae', async () => vaeFiles(ctx));
  app.post('/sdapi/v1/refresh-vae', async () => null);
}
