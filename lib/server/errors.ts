// HTTP errors of the server. Every error response is JSON `{ error, detail }`: `error` is the
// status's reason phrase (or the OpenAI error object on /v1/images routes, which OpenAI clients
// parse), `detail` the whole explanation with the value that broke the rule:
//
//   422 { "error": "Unprocessable Entity", "detail": "width must be a multiple of 8 between 64 and 2048, got 500" }
//   429 { "error": "Too Many Requests", "detail": "the queue is full (16 jobs waiting); retry in 3 s" }
//
// Validation failures are 422 on the A1111 routes (as FastAPI answers) and 400 elsewhere (as
// OpenAI answers). Job outcomes that are not results are errors too: timeout 504, cancelled 409,
// server closing 503.
import { STATUS_CODES } from 'node:http';

import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

import { SdError } from '../errors.js';

export class HttpError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;

  constructor(status: number, detail: string, options?: { cause?: unknown; headers?: Record<string, string> }) {
    super(detail, options);
    this.name = 'HttpError';
    this.status = status;
    this.headers = options?.headers ?? {};
  }
}

/** The bounded queue has no room: 429 with Retry-After (whole seconds). */
export class QueueFullError extends HttpError {
  constructor(readonly waiting: number, readonly retryAfter: number) {
    super(429, `the queue is full (${waiting} jobs waiting); retry in ${retryAfter} s`, { headers: { 'retry-after': String(retryAfter) } });
    this.name = 'QueueFullError';
  }
}

/** The job did not finish in the server's time limit (queue wait included). */
export class JobTimeoutError extends HttpError {
  constructor(readonly timeoutMs: number) {
    super(504, `the job did not finish within ${formatSeconds(timeoutMs)} (queue wait included); it was cancelled`);
    this.name = 'JobTimeoutError';
  }
}

/** The job was cancelled: interrupt, DELETE /v1/jobs/:id, or its client went away. */
export class JobCancelledError extends HttpError {
  constructor(detail: string) {
    super(409, detail);
    this.name = 'JobCancelledError';
  }
}

/** The server is closing: waiting and running jobs end with 503. */
export class ServerClosingError extends HttpError {
  constructor() {
    super(503, 'the server is shutting down; the job was not finished');
    this.name = 'ServerClosingError';
  }
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(3)} s`;
}

export const reason = (status: number): string => STATUS_CODES[status] ?? 'Error';

/** Routes answering in OpenAI's error format. */
const isOpenAiRoute = (url: string): boolean => /^\/v1\/(images|models)\b/.test(stripPrefix(url));
const isA1111Route = (url: string): boolean => stripPrefix(url).startsWith('/sdapi/');
// When mounted under a prefix (app.register(sdNative, { prefix: '/sd' })) the route url carries it.
function stripPrefix(url: string): string {
  const i = url.search(/\/(sdapi|v1)\//);
  return i > 0 ? url.slice(i) : url;
}

interface AjvError {
  keyword: string;
  instancePath: string;
  schemaPath: string;
  params: Record<string, unknown>;
  message?: string;
}

type Schema = Record<string, unknown>;

function schemaAt(root: Schema | undefined, path: string[]): Schema | undefined {
  let s: Schema | undefined = root;
  for (const part of path) {
    if (!s) return undefined;
    const props = s.properties as Record<string, Schema> | undefined;
    if (props && part in props) s = props[part];
    else if (s.items && typeof s.items === 'object' && /^\d+$/.test(part)) s = s.items as Schema;
    else return undefined;
  }
  return s;
}

function valueAt(root: unknown, path: string[]): unknown {
  let v = root;
  for (const part of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

/** A value as a message shows it (numbers as written, strings quoted, long strings cut). */
export function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 37)}...` : v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return `an array of ${v.length}`;
  return 'an object';
}

/**
 * One sentence for an ajv error, in the house style:
 *   "width must be a multiple of 8 between 64 and 2048, got 500"
 *   "n must be an integer between 1 and 8, got 9"
 *   "prompt is required"
 */
export function validationMessage(errors: AjvError[], schema: Schema | undefined, data: unknown): string {
  const e = errors[0];
  if (!e) return 'the request is invalid';
  const path = e.instancePath.split('/').filter(Boolean).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (e.keyword === 'required') {
    const name = [...path, String(e.params.missingProperty)].join('.');
    return `${name} is required`;
  }
  const name = path.join('.') || 'the request body';
  const value = valueAt(data, path);
  const s = schemaAt(schema, path);
  if (s && (s.type === 'integer' || s.type === 'number' || (Array.isArray(s.type) && s.type.includes('integer')))) {
    const min = s.minimum, max = s.maximum, mult = s.multipleOf;
    const integer = s.type === 'integer' || (Array.isArray(s.type) && s.type.includes('integer'));
    const kind = mult !== undefined ? `a multiple of ${mult}` : integer ? 'an integer' : 'a number';
    if (min !== undefined && max !== undefined) return `${name} must be ${kind} between ${min} and ${max}, got ${show(value)}`;
  }
  if (e.keyword === 'enum') {
    const allowed = (e.params.allowedValues as unknown[]).map((x) => JSON.stringify(x)).join(', ');
    return `${name} must be one of ${allowed}, got ${show(value)}`;
  }
  if (e.keyword === 'maxLength' && s?.description) return `${name} is too long: ${s.description}`;
  if (e.keyword === 'pattern' && s?.description) return `${name} must be ${s.description}, got ${show(value)}`;
  if (e.keyword === 'additionalProperties') return `unknown field ${JSON.stringify(e.params.additionalProperty)}`;
  return `${name} ${e.message ?? 'is invalid'}, got ${show(value)}`;
}

/** The status and detail for anything a handler or the queue threw. */
export function classify(error: unknown, request: FastifyRequest): { status: number; detail: string; headers: Record<string, string> } {
  const url = request.routeOptions.url ?? request.url;
  const invalid = isA1111Route(url) ? 422 : 400;
  if (error instanceof HttpError) return { status: error.status, detail: error.message, headers: error.headers };
  if (error instanceof SdError) {
    switch (error.code) {
      case 'ERR_SD_INVALID_OPTION':
      case 'ERR_SD_IMAGE':
        return { status: invalid, detail: error.message, headers: {} };
      case 'ERR_SD_DISPOSED':
        return { status: 503, detail: error.message, headers: {} };
      case 'ERR_SD_UNSUPPORTED':
        return { status: 501, detail: error.message, headers: {} };
      default:
        return { status: 500, detail: error.message, headers: {} };
    }
  }
  const fe = error as FastifyError & { validation?: AjvError[] };
  if (fe && Array.isArray(fe.validation)) {
    const context = (fe as { validationContext?: string }).validationContext ?? 'body';
    const schemas = request.routeOptions.schema as Record<string, Schema> | undefined;
    const data = context === 'body' ? request.body : context === 'querystring' ? request.query : context === 'params' ? request.params : request.headers;
    return { status: invalid, detail: validationMessage(fe.validation, schemas?.[context], data), headers: {} };
  }
  if (fe && typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 600) {
    // fastify's own: 400 bad JSON, 413 body too large, 415 content type
    return { status: fe.statusCode, detail: fe.message, headers: {} };
  }
  return { status: 500, detail: error instanceof Error ? error.message : String(error), headers: {} };
}

/** The JSON body of an error response for this route. */
export function errorBody(status: number, detail: string, request: FastifyRequest): Record<string, unknown> {
  const url = request.routeOptions.url ?? request.url;
  if (isOpenAiRoute(url)) {
    const type = status === 401 ? 'authentication_error' : status === 429 ? 'rate_limit_exceeded' : status < 500 ? 'invalid_request_error' : 'server_error';
    return { error: { message: detail, type, param: null, code: status === 429 ? 'rate_limit_exceeded' : null }, detail };
  }
  return { error: reason(status), detail };
}

/** Sends an error, unless the client is gone or a reply was already started. */
export function sendError(reply: FastifyReply, request: FastifyRequest, error: unknown): FastifyReply | undefined {
  const { status, detail, headers } = classify(error, request);
  if (status >= 500 && status !== 503 && status !== 504) request.log.error({ err: error }, 'request failed');
  if (reply.sent || reply.raw.headersSent || reply.raw.destroyed) return undefined;
  return reply.code(status).headers(headers).send(errorBody(status, detail, request));
}
