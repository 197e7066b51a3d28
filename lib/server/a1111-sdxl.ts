// A1111's SDXL crop conditioning comes from two settings, sdxl_crop_top / sdxl_crop_left (POST
// /options or override_settings; modules/sd_models_xl.py), never from txt2img fields; its original
// and target sizes are always the image's own, which is our default. Other families ignore them there.
import { rememberedOptions } from './a1111-extras.js';
import type { ServerContext } from './context.js';
import { HttpError, show } from './errors.js';

export function sdxlCrop(ctx: ServerContext, over: Record<string, unknown>): { cropTop?: number; cropLeft?: number } {
  if (ctx.pipeline.info.family !== 'sdxl') return {};
  const stored = rememberedOptions(ctx);
  const out: { cropTop?: number; cropLeft?: number } = {};
  for (const [key, field] of [['sdxl_crop_top', 'cropTop'], ['sdxl_crop_left', 'cropLeft']] as const) {
    const v = over[key] ?? stored[key];
    if (v === undefined) continue;
    if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > 16384) throw new HttpError(422, `${key} must be an integer between 0 and 16384, got ${show(v)}`);
    out[field] = v as number;
  }
  return out;
}
