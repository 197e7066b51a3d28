// Memory admission: a request is queued only if what it would plan fits the server's budget.
// The figures are the model's own (StableDiffusion.planMemory measures the graphs generate() would
// build, without allocating them): the weights plus the largest stage (text, the UNet's CFG batch,
// the VAE pass). Over the budget, a request whose VAE pass is what does not fit is run with VAE
// tiles, as vaeTiling 'auto' does above the load option vaeMemoryMB; otherwise it is refused with
// 413 and the figures, before it waits in the queue. A job that fits also carries the largest
// batch that fits, so the queue never merges it into a UNet call over the budget.
import type { MemoryPlan } from '../pipeline.js';
import { HttpError } from './errors.js';
import type { ServerContext } from './context.js';
import type { JobInput } from './queue.js';

const MiB = (bytes: number) => Math.ceil(bytes / 2 ** 20);

function largestStage(plan: MemoryPlan): string {
  const stages: Array<[string, number]> = [['text encoding', plan.textBytes], ['UNet', plan.unetBytes], ['VAE', plan.vaeBytes]];
  const [name, bytes] = stages.reduce((a, b) => (b[1] > a[1] ? b : a));
  return `${name} ${MiB(bytes)} MiB`;
}

/** Checks `input` against ctx's memory budget; may switch its VAE to tiles and sets input.batchLimit. */
export function admit(ctx: ServerContext, input: JobInput): void {
  const budget = ctx.options.memoryBudgetMB * 2 ** 20;
  const planMemory = ctx.pipeline.planMemory?.bind(ctx.pipeline);
  if (!planMemory || budget === 0) return;
  const { initImage, mask: _mask, ...settings } = input.settings;
  const plan = (batchSize: number, vaeTiling = settings.vaeTiling) =>
    planMemory({ ...settings, ...(initImage ? { initImage } : {}), ...(vaeTiling !== undefined ? { vaeTiling } : {}), batchSize });
  let first = plan(input.n);
  if (first.totalBytes > budget && (settings.vaeTiling ?? 'auto') === 'auto' && first.vaeTiles === 0) {
    const tiled = plan(input.n, true);
    if (tiled.totalBytes <= budget) {
      input.settings.vaeTiling = true;
      first = tiled;
    }
  }
  if (first.totalBytes > budget) {
    throw new HttpError(413, `this request needs ${MiB(first.totalBytes)} MiB (weights ${MiB(first.weightsBytes)} MiB + ${largestStage(first)}) ` +
      `but the server's memory budget is ${MiB(budget)} MiB; ask for a smaller size or fewer images`);
  }
  // The largest batch within budget (plans grow with the batch): a bound on the call it may join.
  let lo = input.n, hi = ctx.options.maxBatchImages;
  const tiling = input.settings.vaeTiling;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (plan(mid, tiling).totalBytes <= budget) lo = mid;
    else hi = mid - 1;
  }
  input.batchLimit = lo;
}
