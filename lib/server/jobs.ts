// Jobs by id: submit without waiting, poll, cancel, and follow one as a Server-Sent Events stream.
//
//   POST   /v1/jobs                 A1111 txt2img body (img2img with init_images) → 202 { id, status, url, events_url }
//   GET    /v1/jobs/:id             { id, status, step, steps, progress, ..., images (once succeeded) }
//   DELETE /v1/jobs/:id             cancels it (a synchronous request waiting for it gets 409)
//   GET    /v1/jobs/:id/events      text/event-stream: status, queued, started, step (with a base64 PNG preview),
//                                   then one of done / error, and the stream ends
//
// Every job has an id, synchronous ones too: the x-sd-job-id response header, or choose it with
// the x-sd-job-id request header (A1111: force_task_id) to follow a txt2img call while it runs.
import type { FastifyInstance } from 'fastify';

import { a1111Job, generationSchema } from './a1111.js';
import { admit } from './admission.js';
import { HttpError, JobCancelledError, classify, reason } from './errors.js';
import { previewBase64 } from './images.js';
import { requestedJobId, type ServerContext } from './context.js';
import type { Job, JobEvent, ServerImage } from './queue.js';

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

function errorJson(job: Job): Record<string, unknown> | null {
  if (!job.error) return null;
  const status = job.error instanceof HttpError ? job.error.status : 500;
  return { status, error: reason(status), detail: job.error.message };
}

function imagesJson(images: ServerImage[]): Record<string, unknown> {
  return {
    images: images.map((i) => i.toPNG().toString('base64')),
    seeds: images.map((i) => i.seed),
    infotexts: images.map((i) => i.parameters),
  };
}

/** A job as GET /v1/jobs/:id shows it. */
export function jobJson(ctx: ServerContext, job: Job, withImages = true): Record<string, unknown> {
  const position = ctx.queue.position(job);
  return {
    id: job.id,
    kind: job.input.kind,
    status: job.status,
    created: iso(job.createdAt),
    started: iso(job.startedAt),
    finished: iso(job.finishedAt),
    position: position >= 0 ? position : null,
    step: job.step,
    steps: job.steps,
    progress: job.status === 'succeeded' ? 1 : job.steps > 0 ? job.step / job.steps : 0,
    n: job.input.n,
    batch_size: job.batchSize || null,
    seed: job.seed ?? null,
    error: errorJson(job),
    ...(withImages && job.status === 'succeeded' ? (job.images ? imagesJson(job.images) : { images: null }) : {}),
  };
}

async function findJob(ctx: ServerContext, id: string): Promise<Job> {
  // a shared queue also knows jobs another front end (or this one before a restart) took
  const job = ctx.queue.get(id) ?? (await ctx.queue.find?.(id));
  if (!job) throw new HttpError(404, `no job ${JSON.stringify(id)}; finished jobs are kept for ${Math.round(ctx.options.retentionMs / 1000)} s`);
  return job;
}

export function registerJobs(app: FastifyInstance, ctx: ServerContext): void {
  const idParams = { type: 'object', properties: { id: { type: 'string', maxLength: 128 } } };

  app.post('/v1/jobs', { schema: { body: generationSchema(ctx, true) }, bodyLimit: ctx.bodyLimit }, async (request, reply) => {
    const b = request.body as Record<string, unknown>;
    const img2img = Array.isArray(b.init_images) && b.init_images.length > 0;
    if (!img2img) {
      b.width ??= 512;
      b.height ??= 512;
    }
    const { input } = a1111Job(ctx, b, img2img);
    admit(ctx, input);
    const job = ctx.queue.submit(input, { id: requestedJobId(request, b.force_task_id), keepResult: true });
    const url = `${request.url.replace(/\/$/, '')}/${encodeURIComponent(job.id)}`;
    return reply.code(202).header('location', url).header('x-sd-job-id', job.id)
      .send({ ...jobJson(ctx, job, false), url, events_url: `${url}/events` });
  });

  app.get('/v1/jobs/:id', { schema: { params: idParams } }, async (request) => jobJson(ctx, await findJob(ctx, (request.params as { id: string }).id)));

  app.delete('/v1/jobs/:id', { schema: { params: idParams } }, async (request) => {
    const job = await findJob(ctx, (request.params as { id: string }).id);
    ctx.queue.cancel(job, new JobCancelledError(`job ${job.id} was cancelled by DELETE`));
    return jobJson(ctx, job, false);
  });

  app.get('/v1/jobs/:id/events', { schema: { params: idParams } }, async (request, reply) => {
    const job = await findJob(ctx, (request.params as { id: string }).id);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      'x-sd-job-id': job.id,
    });
    const send = (event: string, data: unknown) => {
      if (!res.destroyed && !res.writableEnded) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      unsubscribe();
      clearInterval(ping);
      if (!res.writableEnded) res.end();
    };
    const terminal = (e: JobEvent) => {
      if (e.type === 'succeeded') send('done', { id: job.id, status: 'succeeded', ...imagesJson(e.images) });
      else if (e.type === 'failed' || e.type === 'cancelled') {
        const { status, detail } = classify(e.error, request);
        send('error', { id: job.id, status: e.type, error: { status, error: reason(status), detail } });
      }
    };
    const onEvent = (e: JobEvent) => {
      switch (e.type) {
        case 'queued':
          return send('queued', { id: job.id, position: e.position });
        case 'started':
          return send('started', { id: job.id, batch_size: e.batchSize, seed: job.seed });
        case 'step':
          return send('step', {
            id: job.id, step: e.step, steps: e.steps, sigma: e.sigma, elapsed_ms: e.elapsedMs,
            progress: e.steps > 0 ? e.step / e.steps : 0, preview: e.preview ? previewBase64(e.preview) : null,
          });
        default:
          terminal(e);
          return end();
      }
    };
    const unsubscribe = job.subscribe(onEvent);
    const ping = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    ping.unref();
    res.on('close', end);

    send('status', jobJson(ctx, job, false));
    if (job.settled) {
      if (job.status === 'succeeded') send('done', { id: job.id, status: 'succeeded', ...(job.images ? imagesJson(job.images) : { images: null, note: 'this job answered its own request; its images were not kept' }) });
      else if (job.error) terminal({ type: job.status === 'cancelled' ? 'cancelled' : 'failed', error: job.error });
      end();
    } else if (job.preview) {
      send('step', { id: job.id, step: job.previewStep, steps: job.steps, progress: job.steps > 0 ? job.step / job.steps : 0, preview: previewBase64(job.preview) });
    }
  });
}
