// A stand-in for StableDiffusion behind the server (same interface): solid-colour images, steps
// only when the test lets it, the abort signal honoured. Shared by the server tests that need no model.
import { GeneratedImage } from '../../lib/image.js';
import type { GenerateOptions } from '../../lib/pipeline.js';
import { createServer, type SdServer, type ServerOptions } from '../../lib/server/index.js';

export interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
}
export const deferred = (): Deferred => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
};

/** Stands in for StableDiffusion: records calls, steps when allowed, honours the abort signal. */
export class FakePipeline {
  readonly info = { family: 'sd1' as const, defaultSize: 512, vaeDownscale: 8 };
  readonly path = '/models/fake-model.safetensors';
  calls: GenerateOptions[] = [];
  failWith: Error | undefined;
  #held = false;
  #credits = 0;
  #changed = deferred();

  /** generate() stops before its next step until step() or release(). */
  hold(): void {
    this.#held = true;
  }

  /** Lets n more held steps run. */
  step(n = 1): void {
    this.#credits += n;
    this.#poke();
  }

  release(): void {
    this.#held = false;
    this.#poke();
  }

  #poke(): void {
    const c = this.#changed;
    this.#changed = deferred();
    c.resolve();
  }

  async generate(o: GenerateOptions): Promise<GeneratedImage[]> {
    this.calls.push(o);
    const signal = o.signal;
    const aborted = new Promise<never>((_, reject) => {
      if (signal?.aborted) reject(signal.reason);
      signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
    aborted.catch(() => {});
    if (this.failWith) throw this.failWith;
    const steps = o.steps ?? 20, n = o.batchSize ?? 1, seed = o.seed ?? 0;
    const w = o.width ?? 512, h = o.height ?? 512;
    for (let step = 1; step <= steps; step++) {
      await Promise.race([new Promise((r) => setImmediate(r)), aborted]);
      while (this.#held && this.#credits === 0) await Promise.race([this.#changed.promise, aborted]);
      if (this.#held) this.#credits--;
      o.onStep?.({ step, steps, sigma: 1 / step, elapsedMs: step, preview: { data: Buffer.alloc(8 * 8 * 3, 200), width: 8, height: 8, channels: 3 } });
    }
    return Array.from({ length: n }, (_, i) => {
      const px = Buffer.alloc(w * h * 4, 255);
      px[0] = i; // tell the batch's images apart
      return new GeneratedImage(px, w, h, seed + i, `${o.prompt}\nSteps: ${steps}, Seed: ${seed + i}, Size: ${w}x${h}`);
    });
  }
}

export function setup(options: ServerOptions = {}): { app: SdServer; fake: FakePipeline } {
  const fake = new FakePipeline();
  const app = createServer(fake, { batchWindowMs: 0, ...options });
  return { app, fake };
}

export async function waitFor(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

export const txt2img = (app: SdServer, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: '/sdapi/v1/txt2img', payload: body, headers });

export const small = { prompt: 'a red cube', width: 64, height: 64, steps: 2 };
