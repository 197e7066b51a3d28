// The AUTOMATIC1111 web UI API (modules/api/api.py, models.py): the same paths, field names,
// defaults (steps 50, cfg_scale 7, 512×512, sampler "Euler" via sampler_index, seed -1) and
// response shapes, so A1111 clients work unchanged:
//
//   POST /sdapi/v1/txt2img   → { images: [base64 PNG with "parameters" chunk], parameters: <request echo>, info: "<JSON string>" }
//   POST /sdapi/v1/img2img   (init_images: [base64 PNG], denoising_strength 0.75)
//   GET  /sdapi/v1/progress  → { progress, eta_relative, state: {...}, current_image, textinfo }
//        ?id_task=<job id>: that job only (queued, running or finished), else the running call
//   POST /sdapi/v1/interrupt (id_task in the query or body: that job only, else the running call), GET /sdapi/v1/sd-models, GET|POST /sdapi/v1/options,
//   GET  /sdapi/v1/samplers, GET /sdapi/v1/schedulers
//
// Differences, each answered with a message rather than ignored: A1111 features that change the
// image but that sd-native lacks (face restoration, variation seeds, styles, scripts, model
// upscalers, hires prompts of their own) are 422; img2img without width/height keeps the init
// image's size (A1111 would use 512); validation errors are 422 with one sentence; an interrupted job
// answers 409. Init images and masks may be PNG, JPEG or WebP.
import { basename } from 'node:path';

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import { HIRES_UPSCALER_LABELS, hiresUpscalerFromLabel } from '../hires.js';
import { loraMetadata } from '../loras.js';
import { defaultOf, resolveSamplerSpec, resolveScheduler, samplers, schedulers } from '../options.js';
import { rememberOptions, rememberedOptions } from './a1111-extras.js';
import { sdxlCrop } from './a1111-sdxl.js';
import { checkVaeSetting, vaeSetting } from './a1111-vae.js';
import { HttpError, JobCancelledError, show } from './errors.js';
import { decodeImageField, previewBase64 } from './images.js';
import { JOB_ID_PATTERN, imageSize, optionsWritable, requestedJobId, runJob, sideFromImage, type ServerContext } from './context.js';
import type { Job, JobInput, JobSettings, ServerImage } from './queue.js';

type Body = Record<string, unknown>;

const nullable = (type: string, extra: Record<string, unknown> = {}) => ({ type: [type, 'null'], default: null, ...extra });

/** The request body schema; `img2img` adds its fields. Unknown fields pass (pydantic ignores them). */
export function generationSchema(ctx: ServerContext, img2img: boolean): Record<string, unknown> {
  const { min, max, multipleOf } = ctx.size;
  const size = { type: 'integer', minimum: min, maximum: max, multipleOf };
  const maxChars = Math.ceil((ctx.options.maxImageBytes * 4) / 3) + 64;
  return {
    type: 'object',
    properties: {
      prompt: { type: 'string', default: '', maxLength: 65536, description: 'at most 65536 characters' },
      negative_prompt: { type: 'string', default: '', maxLength: 65536, description: 'at most 65536 characters' },
      styles: nullable('array', { items: { type: 'string' } }),
      seed: { type: 'integer', minimum: -1, maximum: Number.MAX_SAFE_INTEGER, default: -1 },
      subseed: { type: 'integer', default: -1 },
      subseed_strength: { type: 'number', default: 0 },
      seed_resize_from_h: { type: 'integer', default: -1 },
      seed_resize_from_w: { type: 'integer', default: -1 },
      sampler_name: nullable('string'),
      scheduler: nullable('string'),
      batch_size: { type: 'integer', minimum: 1, maximum: ctx.options.maxBatchImages, default: 1 },
      n_iter: { type: 'integer', minimum: 1, maximum: ctx.options.maxBatchImages, default: 1 },
      steps: { type: 'integer', minimum: 1, maximum: 150, default: 50 },
      cfg_scale: { type: 'number', minimum: 0, maximum: 100, default: 7 },
      // img2img: the init image's size unless given (A1111 would resize the image; we do not)
      width: img2img ? size : { ...size, default: 512 },
      height: img2img ? size : { ...size, default: 512 },
      restore_faces: nullable('boolean'),
      tiling: nullable('boolean'),
      eta: nullable('number', { minimum: 0, maximum: 10 }),
      override_settings: nullable('object'),
      override_settings_restore_afterwards: { type: 'boolean', default: true },
      sampler_index: { type: 'string', default: 'Euler' },
      script_name: nullable('string'),
      script_args: { type: 'array', default: [] },
      send_images: { type: 'boolean', default: true },
      save_images: { type: 'boolean', default: false },
      alwayson_scripts: { type: 'object', default: {} },
      force_task_id: nullable('string'),
      ...(img2img
        ? {
            init_images: {
              type: ['array', 'null'], default: null, maxItems: 1,
              items: { type: 'string', maxLength: maxChars, description: `a base64 PNG of at most ${ctx.options.maxImageBytes} bytes` },
            },
            denoising_strength: { type: 'number', minimum: 0, maximum: 1, default: 0.75 },
            resize_mode: { type: 'integer', minimum: 0, maximum: 3, default: 0 },
            mask: nullable('string', { maxLength: maxChars }),
            mask_blur: nullable('integer', { minimum: 0, maximum: 64 }),
            mask_blur_x: { type: 'integer', minimum: 0, maximum: 64, default: 4 },
            mask_blur_y: { type: 'integer', minimum: 0, maximum: 64, default: 4 },
            inpainting_fill: { type: 'integer', minimum: 0, maximum: 3, default: 0 },
            inpaint_full_res: { enum: [true, false, 0, 1], default: true },
            inpaint_full_res_padding: { type: 'integer', minimum: 0, maximum: 1024, default: 0 },
            inpainting_mask_invert: { type: 'integer', minimum: 0, maximum: 1, default: 0 },
            include_init_images: { type: 'boolean', default: false },
          }
        : {
            enable_hr: { type: 'boolean', default: false },
            denoising_strength: nullable('number', { minimum: 0, maximum: 1 }),
            hr_scale: { type: 'number', minimum: 1, maximum: 8, default: 2 },
            hr_upscaler: nullable('string'),
            hr_second_pass_steps: { type: 'integer', minimum: 0, maximum: 150, default: 0 },
            hr_resize_x: { type: 'integer', minimum: 0, maximum: 16384, default: 0 },
            hr_resize_y: { type: 'integer', minimum: 0, maximum: 16384, default: 0 },
            hr_sampler_name: nullable('string'),
            hr_scheduler: nullable('string'),
            hr_prompt: { type: 'string', default: '', maxLength: 65536 },
            hr_negative_prompt: { type: 'string', default: '', maxLength: 65536 },
          }),
    },
  };
}

// Fields that would change the image in A1111 but have no counterpart here, with the neutral value.
const UNSUPPORTED: Array<[field: string, neutral: (v: unknown) => boolean, what: string]> = [
  ['restore_faces', (v) => v !== true, 'face restoration'],
  ['subseed_strength', (v) => !v, 'variation seeds'],
  ['seed_resize_from_w', (v) => v === undefined || v === null || (v as number) <= 0, 'seed resize'],
  ['seed_resize_from_h', (v) => v === undefined || v === null || (v as number) <= 0, 'seed resize'],
  ['styles', (v) => !Array.isArray(v) || v.length === 0, 'prompt styles'],
  ['script_name', (v) => v === null || v === undefined || v === '', 'scripts'],
  ['alwayson_scripts', (v) => !v || Object.keys(v as object).length === 0, 'always-on scripts (ControlNet, ...)'],
];

function checkUnsupported(b: Body): void {
  for (const [field, neutral, what] of UNSUPPORTED) {
    if (!neutral(b[field])) throw new HttpError(422, `${field} (${what}) is not supported by sd-native, got ${show(b[field])}; leave it out`);
  }
}

const samplerLabel = (canonical: string) => samplers().find((s) => s.name === canonical)?.aliases[0] ?? canonical;

function resolveNames(b: Body): { sampler: string; scheduler: string; label: string } {
  const sampler = String(b.sampler_name ?? b.sampler_index ?? 'Euler');
  const scheduler = String(b.scheduler ?? defaultOf('scheduler'));
  let canonical: string;
  try {
    canonical = resolveSamplerSpec(sampler).sampler;
  } catch (e) {
    throw new HttpError(422, `sampler_name: ${(e as Error).message}`);
  }
  try {
    resolveScheduler(scheduler, canonical);
  } catch (e) {
    throw new HttpError(422, `scheduler: ${(e as Error).message}`);
  }
  return { sampler, scheduler, label: samplerLabel(canonical) };
}

function modelMatches(ctx: ServerContext, name: unknown): boolean {
  if (typeof name !== 'string') return false;
  const n = name.replace(/\s*\[[0-9a-f]+\]$/i, '');
  return n === ctx.modelFile || n === ctx.modelName;
}

/** The settings of one A1111 request: the body's fields, then override_settings, then /options. */
function settingsOf(ctx: ServerContext, b: Body): { input: JobInput; label: string; clipSkip: number } {
  checkUnsupported(b);
  const over = (b.override_settings ?? {}) as Record<string, unknown>;
  if (over.sd_model_checkpoint !== undefined && !modelMatches(ctx, over.sd_model_checkpoint)) {
    throw new HttpError(404, `model ${JSON.stringify(over.sd_model_checkpoint)} not found; this server serves ${JSON.stringify(ctx.modelFile)}`);
  }
  if (over.sd_vae !== undefined) checkVaeSetting(ctx, over.sd_vae);
  const n = (b.batch_size as number) * (b.n_iter as number);
  if (n > ctx.options.maxBatchImages) {
    throw new HttpError(422, `batch_size × n_iter must be at most ${ctx.options.maxBatchImages}, got ${b.batch_size} × ${b.n_iter} = ${n}`);
  }
  const { sampler, scheduler, label } = resolveNames(b);
  const clipSkip = Number(over.CLIP_stop_at_last_layers ?? ctx.settings.CLIP_stop_at_last_layers);
  const randn = String(over.randn_source ?? ctx.settings.randn_source).toUpperCase();
  const settings: JobSettings = {
    prompt: b.prompt as string,
    negativePrompt: b.negative_prompt as string,
    steps: b.steps as number,
    cfgScale: b.cfg_scale as number,
    sampler,
    scheduler,
    clipSkip,
    rng: randn === 'CPU' ? 'cpu' : 'cuda',
    eta: (b.eta as number | null) ?? Number(over.eta_ancestral ?? ctx.settings.eta_ancestral),
    tiling: b.tiling === true,
    ...sdxlCrop(ctx, over),
  };
  if (b.width !== undefined) settings.width = b.width as number;
  if (b.height !== undefined) settings.height = b.height as number;
  return { input: { kind: 'txt2img', settings, n, seed: b.seed as number }, label, clipSkip };
}

const timestamp = (ms: number) => {
  const d = new Date(ms), p = (v: number) => String(v).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
};

/** Processed.js(): the `info` string. */
function info(ctx: ServerContext, b: Body, job: Job, images: ServerImage[], label: string, clipSkip: number, strength: number | null): string {
  const seeds = images.map((i) => i.seed);
  const first = images[0];
  return JSON.stringify({
    prompt: b.prompt,
    all_prompts: images.map(() => b.prompt),
    negative_prompt: b.negative_prompt,
    all_negative_prompts: images.map(() => b.negative_prompt),
    seed: seeds[0] ?? job.seed,
    all_seeds: seeds,
    subseed: seeds[0] ?? job.seed,
    all_subseeds: seeds,
    subseed_strength: 0,
    width: first?.width ?? b.width,
    height: first?.height ?? b.height,
    sampler_name: label,
    cfg_scale: b.cfg_scale,
    steps: b.steps,
    batch_size: b.batch_size,
    restore_faces: false,
    face_restoration_model: null,
    sd_model_name: ctx.modelName,
    sd_model_hash: null,
    sd_vae_name: ctx.pipeline.vae ? basename(ctx.pipeline.vae) : null,
    sd_vae_hash: null,
    seed_resize_from_w: -1,
    seed_resize_from_h: -1,
    denoising_strength: strength,
    extra_generation_params: {},
    index_of_first_image: 0,
    infotexts: images.map((i) => i.parameters),
    styles: [],
    job_timestamp: timestamp(job.startedAt ?? job.createdAt),
    clip_skip: clipSkip,
    is_using_inpainting_conditioning: false,
    version: 'sd-native',
  });
}

export interface A1111Job {
  input: JobInput;
  /** A1111's sampler label ("Euler a"), for `info` */
  label: string;
  clipSkip: number;
  strength: number | null;
}

const RESIZE_MODE_NAMES = ['just_resize', 'crop_and_resize', 'resize_and_fill', 'latent_upscale'] as const;

const SAME = (v: unknown) => v === null || v === undefined || v === '' || /^use same/i.test(String(v));

/** A1111's enable_hr fields as generate options. */
function hiresSettings(b: Body): Partial<JobSettings> {
  const name = (b.hr_upscaler as string | null) ?? 'Latent';
  const upscaler = hiresUpscalerFromLabel(name);
  if (!upscaler) throw new HttpError(422, `hr_upscaler ${JSON.stringify(name)} is not available; sd-native has ${HIRES_UPSCALER_LABELS.join(', ')}`);
  // '' (A1111's default) and a copy of the first prompt both mean the same prompt
  const own = (field: 'hr_prompt' | 'hr_negative_prompt', main: 'prompt' | 'negative_prompt') =>
    b[field] !== '' && b[field] !== (b[main] ?? '') ? { [field === 'hr_prompt' ? 'hiresPrompt' : 'hiresNegativePrompt']: b[field] as string } : {};
  return {
    ...own('hr_prompt', 'prompt'), ...own('hr_negative_prompt', 'negative_prompt'),
    hires: true, hiresScale: b.hr_scale as number, hiresWidth: b.hr_resize_x as number, hiresHeight: b.hr_resize_y as number, hiresUpscaler: upscaler,
    hiresSteps: b.hr_second_pass_steps as number, hiresStrength: (b.denoising_strength as number | null) ?? 0.7,
    ...(SAME(b.hr_sampler_name) ? {} : { hiresSampler: b.hr_sampler_name as string }),
    ...(SAME(b.hr_scheduler) ? {} : { hiresScheduler: b.hr_scheduler as string }),
  };
}
const FILL_NAMES = ['fill', 'original', 'latent_noise', 'latent_nothing'] as const;

/** A1111's inpainting fields (StableDiffusionProcessingImg2Img) as generate options. */
function inpaintSettings(ctx: ServerContext, b: Body, width: number, height: number): Partial<JobSettings> {
  const mask = decodeImageField(b.mask as string, 'mask', ctx.options.maxImageBytes, 422);
  const size = imageSize(ctx, mask, 'mask');
  if (size.width !== width || size.height !== height) {
    throw new HttpError(422, `mask is ${size.width}×${size.height} but init_images[0] is ${width}×${height}; they must be the same size`);
  }
  // mask_blur sets both axes (A1111's property); otherwise mask_blur_x / _y, which we take only when equal
  const blurX = (b.mask_blur as number | null) ?? (b.mask_blur_x as number), blurY = (b.mask_blur as number | null) ?? (b.mask_blur_y as number);
  if (blurX !== blurY) throw new HttpError(422, `mask_blur_x ${blurX} and mask_blur_y ${blurY} differ; sd-native blurs both axes alike: send mask_blur`);
  return {
    mask,
    maskBlur: blurX,
    maskInvert: b.inpainting_mask_invert === 1,
    inpaintingFill: FILL_NAMES[b.inpainting_fill as number]!,
    inpaintArea: b.inpaint_full_res === true || b.inpaint_full_res === 1 ? 'masked' : 'whole',
    inpaintPadding: b.inpaint_full_res_padding as number,
  };
}

/** An A1111 txt2img / img2img body (defaults filled by the schema) as a queue job. */
export function a1111Job(ctx: ServerContext, b: Body, img2img: boolean): A1111Job {
  const { input, label, clipSkip } = settingsOf(ctx, b);
  let strength: number | null = null;
  if (!img2img && b.enable_hr === true) {
    input.settings = { ...input.settings, ...hiresSettings(b) };
    strength = input.settings.hiresStrength!;
  }
  if (img2img) {
    const list = b.init_images as string[] | null;
    if (!list || list.length === 0) throw new HttpError(422, 'init_images is required: a list with one base64 PNG, JPEG or WebP');
    const image = decodeImageField(list[0]!, 'init_images[0]', ctx.options.maxImageBytes, 422);
    const { width, height } = imageSize(ctx, image, 'init_images[0]');
    const w = (b.width as number | undefined) ?? sideFromImage(ctx, width, 'init_images[0]', 'width', width);
    const h = (b.height as number | undefined) ?? sideFromImage(ctx, height, 'init_images[0]', 'height', height);
    const resizeMode = RESIZE_MODE_NAMES[b.resize_mode as number]!;
    strength = b.denoising_strength as number;
    input.kind = 'img2img';
    input.settings = { ...input.settings, width: w, height: h, initImage: image, strength, resizeMode };
    if (typeof b.mask === 'string' && b.mask !== '') input.settings = { ...input.settings, ...inpaintSettings(ctx, b, width, height) };
  }
  return { input, label, clipSkip, strength };
}

async function generate(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply, img2img: boolean) {
  const b = request.body as Body;
  const { input, label, clipSkip, strength } = a1111Job(ctx, b, img2img);
  const { job, images } = await runJob(ctx, request, reply, input, requestedJobId(request, b.force_task_id));
  const parameters: Body = { ...b };
  if (img2img) {
    parameters.width = input.settings.width;
    parameters.height = input.settings.height;
    if (!b.include_init_images) (parameters.init_images = null), (parameters.mask = null);
  }
  return {
    images: b.send_images === false ? [] : images.map((i) => i.toPNG().toString('base64')),
    parameters,
    info: info(ctx, b, job, images, label, clipSkip, strength),
  };
}

/** GET /sdapi/v1/progress from the running generate() call (A1111's global view). */
function progress(ctx: ServerContext, skipImage: boolean): Record<string, unknown> {
  const batch = ctx.queue.running;
  const now = Date.now();
  const state = {
    skipped: false,
    interrupted: false,
    stopping_generation: false,
    job: batch ? `${batch.kind}` : '',
    job_count: batch ? 1 : 0,
    job_timestamp: timestamp(batch?.startedAt ?? now),
    job_no: 0,
    sampling_step: batch?.step ?? 0,
    sampling_steps: batch?.steps ?? 0,
    queued: ctx.queue.waiting,
  };
  if (!batch) return { progress: 0, eta_relative: 0, state, current_image: null, textinfo: null };
  const fraction = batch.steps > 0 ? batch.step / batch.steps : 0;
  const elapsed = (now - batch.startedAt) / 1000;
  const eta = fraction > 0 ? (elapsed * (1 - fraction)) / fraction : Math.max(0, ctx.queue.stats.averageBatchSeconds - elapsed);
  return {
    progress: Math.min(1, fraction),
    eta_relative: eta,
    state,
    current_image: !skipImage && batch.preview ? previewBase64(batch.preview) : null,
    textinfo: null,
  };
}

/** The same shape for one job (?id_task=): its own step, queue position and preview, whatever runs now. */
function jobProgress(ctx: ServerContext, job: Job, skipImage: boolean): Record<string, unknown> {
  const position = ctx.queue.position(job);
  const done = job.status === 'succeeded';
  const fraction = done ? 1 : job.steps > 0 ? job.step / job.steps : 0;
  const elapsed = job.startedAt ? (Date.now() - job.startedAt) / 1000 : 0;
  const per = ctx.queue.stats.averageBatchSeconds;
  const eta = job.settled ? 0
    : job.status === 'running' ? (fraction > 0 ? (elapsed * (1 - fraction)) / fraction : Math.max(0, per - elapsed))
    : ctx.queue.estimateWaitSeconds() + position * per + per;
  const state = {
    skipped: false,
    interrupted: job.status === 'cancelled',
    stopping_generation: false,
    job: job.id,
    job_count: 1,
    job_timestamp: timestamp(job.startedAt ?? job.createdAt),
    job_no: 0,
    sampling_step: job.step,
    sampling_steps: job.steps,
    queued: Math.max(0, position),
  };
  const textinfo = position >= 0 ? `queued at position ${position + 1}` : job.status === 'running' ? 'running' : job.error ? `${job.status}: ${job.error.message}` : job.status;
  return {
    progress: Math.min(1, fraction), eta_relative: eta, state,
    current_image: !skipImage && job.preview ? previewBase64(job.preview) : null,
    textinfo,
  };
}

/** A job a client named in ?id_task= (or a JSON body's id_task); 404 when it is not known. */
function namedJob(ctx: ServerContext, id: string): Job {
  const job = ctx.queue.get(id);
  if (!job) throw new HttpError(404, `no job ${JSON.stringify(id)}; finished jobs are kept for ${Math.round(ctx.options.retentionMs / 1000)} s`);
  return job;
}

export function registerA1111(app: FastifyInstance, ctx: ServerContext): void {
  const bodyLimit = ctx.bodyLimit;
  app.post('/sdapi/v1/txt2img', { schema: { body: generationSchema(ctx, false) }, bodyLimit }, (req, reply) => generate(ctx, req, reply, false));
  app.post('/sdapi/v1/img2img', { schema: { body: generationSchema(ctx, true) }, bodyLimit }, (req, reply) => generate(ctx, req, reply, true));

  // With id_task (A1111's task id: force_task_id, or the x-sd-job-id answer header) progress and
  // interrupt concern that job alone; without, the running call, as in A1111.
  const idTask = { id_task: { type: 'string', pattern: JOB_ID_PATTERN.source } };
  app.get('/sdapi/v1/progress', {
    schema: { querystring: { type: 'object', properties: { skip_current_image: { type: 'boolean', default: false }, ...idTask } } },
  }, async (req) => {
    const q = req.query as { skip_current_image: boolean; id_task?: string };
    return q.id_task ? jobProgress(ctx, namedJob(ctx, q.id_task), q.skip_current_image) : progress(ctx, q.skip_current_image);
  });

  app.post('/sdapi/v1/interrupt', {
    schema: { querystring: { type: 'object', properties: idTask }, body: { type: ['object', 'null'], properties: idTask } },
  }, async (req) => {
    const id = (req.query as { id_task?: string }).id_task ?? (req.body as { id_task?: string } | null | undefined)?.id_task;
    if (!id) {
      ctx.queue.interrupt();
      return {};
    }
    const job = namedJob(ctx, id);
    ctx.queue.cancel(job, new JobCancelledError(`job ${job.id} was interrupted by POST /sdapi/v1/interrupt`));
    return {};
  });

  app.get('/sdapi/v1/sd-models', async () => [{
    title: ctx.modelFile, model_name: ctx.modelName, hash: null, sha256: null, filename: ctx.pipeline.path ?? ctx.modelFile, config: null,
  }]);

  app.get('/sdapi/v1/options', async () => ({
    sd_model_checkpoint: ctx.modelFile,
    sd_checkpoint_hash: null,
    sd_vae: vaeSetting(ctx),
    samples_format: 'png',
    live_previews_enable: true,
    show_progress_every_n_steps: 1,
    ...rememberedOptions(ctx),
    ...ctx.settings,
  }));

  app.post('/sdapi/v1/options', { schema: { body: { type: 'object' } } }, async (req) => {
    if (!optionsWritable(ctx, req)) {
      throw new HttpError(403, 'this server\'s options are read-only (--read-only-options, the default without a token on a non-loopback address): ' +
        'send settings with each request in override_settings instead');
    }
    const b = req.body as Body;
    if (b.sd_model_checkpoint !== undefined && !modelMatches(ctx, b.sd_model_checkpoint)) {
      throw new HttpError(404, `model ${JSON.stringify(b.sd_model_checkpoint)} not found; this server serves ${JSON.stringify(ctx.modelFile)}`);
    }
    if (b.sd_vae !== undefined) checkVaeSetting(ctx, b.sd_vae);
    const next = { ...ctx.settings };
    if (b.CLIP_stop_at_last_layers !== undefined) {
      const v = b.CLIP_stop_at_last_layers;
      // Checked against the loaded model: a value it cannot run would fail every later request.
      const layers = ctx.pipeline.info.clipLayers ?? 12;
      if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > layers) {
        throw new HttpError(422, `CLIP_stop_at_last_layers must be an integer between 1 and ${layers} (this model's text encoder has ${layers} layers), got ${show(v)}`);
      }
      next.CLIP_stop_at_last_layers = v as number;
    }
    if (b.randn_source !== undefined) {
      const v = String(b.randn_source).toUpperCase();
      if (v !== 'CPU' && v !== 'GPU' && v !== 'NV') throw new HttpError(422, `randn_source must be one of "CPU", "GPU", "NV", got ${show(b.randn_source)}`);
      next.randn_source = v;
    }
    if (b.eta_ancestral !== undefined) {
      const v = b.eta_ancestral;
      if (typeof v !== 'number' || !(v >= 0 && v <= 10)) throw new HttpError(422, `eta_ancestral must be a number between 0 and 10, got ${show(v)}`);
      next.eta_ancestral = v;
    }
    rememberOptions(ctx, b, ['sd_model_checkpoint', 'sd_vae', ...Object.keys(next)]); // the rest: kept for GET, as A1111 does
    ctx.settings = next;
    return null;
  });

  // A1111's extra-networks listing: { name, alias, path, metadata } per file of --lora-dir.
  app.get('/sdapi/v1/loras', async () => (ctx.pipeline.loras?.() ?? []).map((l) => ({ name: l.name, alias: l.name, path: l.path, metadata: loraMetadata(l.path) })));
  app.post('/sdapi/v1/refresh-loras', async () => {
    ctx.pipeline.loras?.({ refresh: true });
    return null;
  });

  // A1111's textual-inversion listing; "skipped" entries say why (another model's width, pickled).
  app.get('/sdapi/v1/embeddings', async () => {
    const { loaded, skipped } = ctx.pipeline.embeddings?.() ?? { loaded: [], skipped: {} };
    const entry = (vectors: number | null) => ({ step: null, sd_checkpoint: null, sd_checkpoint_name: null, shape: ctx.pipeline.info.clipWidth ?? null, vectors });
    return {
      loaded: Object.fromEntries(loaded.map((e) => [e.name, entry(e.vectors)])),
      skipped: Object.fromEntries(Object.entries(skipped).map(([name, reason]) => [name, { ...entry(null), reason }])),
    };
  });
  app.post('/sdapi/v1/refresh-embeddings', async () => {
    ctx.pipeline.embeddings?.({ refresh: true });
    return null;
  });

  app.get('/sdapi/v1/samplers', async () =>
    samplers().map((s) => ({ name: s.aliases[0] ?? s.name, aliases: [s.name, ...s.aliases.slice(1)], options: {} })));

  app.get('/sdapi/v1/schedulers', async () =>
    schedulers().map((s) => ({ name: s.name, label: s.aliases[0] ?? s.name, aliases: s.aliases.slice(1), default_rho: s.name === 'karras' ? 7 : null, need_inner_model: null })));
}
