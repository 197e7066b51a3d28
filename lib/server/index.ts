// sd-native's HTTP server: the A1111 API, the OpenAI images API, jobs with SSE progress,
// /health and Prometheus /metrics, over one model, with a bounded queue that batches matching
// requests into one UNet call.
//
//   import { StableDiffusion } from 'sd-native';
//   import { createServer } from 'sd-native/server';
//   const sd = await StableDiffusion.load('model.safetensors');
//   const app = createServer(sd, { token: process.env.SD_NATIVE_TOKEN, queueSize: 16, batchWindowMs: 50 });
//   await app.listen({ host: '127.0.0.1', port: 7860 });
//
// Inside an existing fastify app: `app.register(sdNative, { pipeline: sd, prefix: '/sd' })`.
// Inside express / node:http: `await server.ready(); handler = (req, res) => server.routing(req, res)`.
// Closing the server (app.close()) ends waiting and running jobs with 503; the model stays loaded.
// Jobs run in this process unless `queueFactory` says otherwise (lib/cluster: a BullMQ queue in Redis,
// run by `sd-native worker`s; `sd-native serve --queue redis://…`).
import { timingSafeEqual } from 'node:crypto';

import Fastify, { type FastifyInstance, type FastifyPluginAsync, type FastifyServerOptions } from 'fastify';

import { registerA1111 } from './a1111.js';
import { registerA1111Extras } from './a1111-extras.js';
import { registerA1111Vae } from './a1111-vae.js';
import { createContext, type ServerContext, type ServerOptions } from './context.js';
import { HttpError, sendError } from './errors.js';
import { registerExtras } from './extras.js';
import { registerJobs } from './jobs.js';
import { registerOpenAi } from './openai.js';
import { registerOpenAiEdits } from './openai-edits.js';
import type { ServerPipeline } from './queue.js';

export type { ServerOptions } from './context.js';
export type { ServerContext } from './context.js';
export type { Job, JobEvent, JobInput, JobStatus, QueueStats, ServerImage, ServerPipeline } from './queue.js';
export { JobQueue } from './queue.js';
export { HttpError, JobCancelledError, JobTimeoutError, QueueFullError, ServerClosingError } from './errors.js';

/** A fastify instance with the server's queue and metrics at `.sd`. */
export type SdServer = FastifyInstance & { sd: ServerContext };

function tokenMatches(header: string | undefined, token: string): boolean {
  if (!header) return false;
  let given: string | undefined;
  const bearer = /^Bearer\s+(.+)$/i.exec(header);
  if (bearer) given = bearer[1]!.trim();
  const basic = /^Basic\s+(.+)$/i.exec(header);
  if (basic) {
    const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
    given = decoded.slice(decoded.indexOf(':') + 1); // A1111 clients: --api-auth user:password, password = the token
  }
  if (given === undefined) return false;
  const a = Buffer.from(given), b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Bodies may nest this deep; deeper ones are refused before any route sees them. */
const MAX_JSON_DEPTH = 32;

// Depth of a parsed JSON value, walked without recursion (a 5000-deep body must not overflow the stack).
function jsonDepth(root: unknown, limit: number): number {
  let deepest = 0;
  const stack: Array<[unknown, number]> = [[root, 1]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    deepest = Math.max(deepest, depth);
    if (deepest > limit) return deepest;
    for (const child of Object.values(v as Record<string, unknown>)) stack.push([child, depth + 1]);
  }
  return deepest;
}

/** Registers every route, hook and handler on `app` (a fastify instance or plugin scope). */
function install(app: FastifyInstance, ctx: ServerContext): void {
  app.setErrorHandler((error, request, reply) => sendError(reply, request, error));
  app.addHook('preValidation', async (request) => {
    if (request.body !== undefined && jsonDepth(request.body, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
      throw new HttpError(422, `the body nests deeper than ${MAX_JSON_DEPTH} levels`);
    }
  });
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ error: 'Not Found', detail: `no route ${request.method} ${request.url.split('?')[0]}` });
  });

  const token = ctx.options.token;
  if (token) {
    app.addHook('onRequest', async (request, reply) => {
      if (request.routeOptions.url?.endsWith('/health')) return;
      if (tokenMatches(request.headers.authorization, token)) return;
      reply.header('www-authenticate', 'Bearer realm="sd-native"');
      throw new HttpError(401, request.headers.authorization ? 'the token in Authorization is not valid' : 'this server needs Authorization: Bearer <token>');
    });
  }

  app.addHook('onResponse', async (request, reply) => {
    ctx.metrics.observeRequest(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
  });

  // Waiting and running jobs end with 503 before the server stops taking connections,
  // so their requests are answered and close() does not wait for long generations.
  app.addHook('preClose', async () => {
    await ctx.queue.close();
  });

  app.get('/health', async (_request, reply) => {
    const closing = ctx.queue.closing;
    return reply.code(closing ? 503 : 200).send({
      status: closing ? 'closing' : 'ok',
      model: ctx.modelFile,
      family: ctx.pipeline.info.family,
      queue: { waiting: ctx.queue.waiting, running: ctx.queue.runningJobs, capacity: ctx.queue.options.capacity },
      // native work in progress, also when every job of it has ended (a 504 while the model still
      // finishes its current op): the next job starts only after it
      busy: ctx.queue.running !== undefined,
      uptime_s: Math.round((Date.now() - ctx.metrics.startedAt) / 1000),
    });
  });

  app.get('/metrics', async (_request, reply) =>
    reply.type('text/plain; version=0.0.4; charset=utf-8').send(ctx.metrics.render(ctx.queue, ctx.modelFile)));

  registerA1111(app, ctx);
  registerExtras(app, ctx);
  registerA1111Extras(app, ctx);
  registerA1111Vae(app, ctx);
  registerOpenAi(app, ctx);
  registerOpenAiEdits(app, ctx);
  registerJobs(app, ctx);
}

/**
 * A fastify server for one loaded model (a StableDiffusion, or anything with its `info`,
 * `path` and `generate()`). Not listening yet: call `listen()`, or `inject()` in tests.
 */
export function createServer(pipeline: ServerPipeline, options: ServerOptions & { fastify?: FastifyServerOptions } = {}): SdServer {
  const { fastify: fastifyOptions, ...serverOptions } = options;
  const ctx = createContext(pipeline, serverOptions);
  const { requestTimeoutMs, keepAliveTimeoutMs, maxConnections } = ctx.options;
  const app = Fastify({
    logger: false, bodyLimit: ctx.bodyLimit, requestTimeout: requestTimeoutMs, keepAliveTimeout: keepAliveTimeoutMs,
    // node checks the request timeout on this interval (default 30 s): a trickled body must end near its limit
    http: { connectionsCheckingInterval: Math.max(100, Math.min(1000, requestTimeoutMs)), headersTimeout: requestTimeoutMs },
    ...fastifyOptions,
  }) as unknown as SdServer;
  app.server.maxConnections = maxConnections;
  app.decorate('sd', ctx);
  install(app, ctx);
  return app;
}

/** The same routes as a fastify plugin, for an existing app: `app.register(sdNative, { pipeline, prefix })`. */
export const sdNative: FastifyPluginAsync<ServerOptions & { pipeline: ServerPipeline }> = async (app, opts) => {
  const { pipeline, ...serverOptions } = opts;
  const ctx = createContext(pipeline, serverOptions);
  app.decorate('sd', ctx);
  install(app, ctx);
};
