// GET /metrics in the Prometheus text format (version 0.0.4): the queue's gauges and counters,
// read when scraped, and a request latency histogram kept here.
//
//   sd_queue_depth 3
//   sd_jobs_running 2
//   sd_images_generated_total 118
//   sd_iterations_per_second 4.21
//   sd_http_request_duration_seconds_bucket{method="POST",route="/sdapi/v1/txt2img",status="200",le="1"} 7
import type { ServerQueue } from './queue.js';

/** Latency buckets, seconds: from a health check to a 50-step 1024² image on a CPU. */
export const LATENCY_BUCKETS = [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

interface Series {
  labels: string;
  counts: number[];
  sum: number;
  count: number;
}

const escape = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const num = (v: number) => (Number.isFinite(v) ? String(Number(v.toPrecision(6))) : v > 0 ? '+Inf' : v < 0 ? '-Inf' : 'NaN');

export class Metrics {
  #latency = new Map<string, Series>();
  #requests = new Map<string, number>();
  readonly startedAt = Date.now();

  /** One finished HTTP request. `route` is the route pattern, not the URL (bounded label set). */
  observeRequest(method: string, route: string, status: number, seconds: number): void {
    const labels = `method="${escape(method)}",route="${escape(route)}",status="${status}"`;
    let s = this.#latency.get(labels);
    if (!s) this.#latency.set(labels, (s = { labels, counts: LATENCY_BUCKETS.map(() => 0), sum: 0, count: 0 }));
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) if (seconds <= LATENCY_BUCKETS[i]!) s.counts[i]!++;
    s.sum += seconds;
    s.count++;
    this.#requests.set(labels, (this.#requests.get(labels) ?? 0) + 1);
  }

  render(queue: ServerQueue, model: string): string {
    const q = queue.stats;
    const out: string[] = [];
    const metric = (name: string, type: string, help: string, lines: string[]) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...lines);
    };
    const one = (name: string, type: string, help: string, v: number) => metric(name, type, help, [`${name} ${num(v)}`]);

    metric('sd_model_info', 'gauge', 'The loaded model (always 1).', [`sd_model_info{model="${escape(model)}"} 1`]);
    one('sd_queue_depth', 'gauge', 'Jobs waiting in the queue.', queue.waiting);
    one('sd_queue_capacity', 'gauge', 'Most jobs that may wait before requests get 429.', queue.options.capacity);
    one('sd_jobs_running', 'gauge', 'Jobs inside the generate() call that runs now.', queue.runningJobs);
    one('sd_generate_running', 'gauge', 'generate() calls in progress (1 also while a call whose jobs all ended is still stopping).', queue.running ? 1 : 0);
    one('sd_images_generated_total', 'counter', 'Images generated.', q.imagesGenerated);
    one('sd_batches_total', 'counter', 'generate() calls (one UNet batch each).', q.batches);
    metric('sd_jobs_total', 'counter', 'Jobs by outcome.', [
      `sd_jobs_total{outcome="succeeded"} ${q.succeeded}`,
      `sd_jobs_total{outcome="failed"} ${q.failed}`,
      `sd_jobs_total{outcome="cancelled"} ${q.cancelled}`,
      `sd_jobs_total{outcome="timeout"} ${q.timedOut}`,
    ]);
    one('sd_jobs_rejected_total', 'counter', 'Requests refused with 429 because the queue was full.', q.rejected);
    one('sd_iterations_per_second', 'gauge', 'Sampling steps per second of the last generate() call (A1111 it/s).', q.lastIterationsPerSecond);
    one('sd_images_per_second', 'gauge', 'Images per second of the last generate() call.', q.lastImagesPerSecond);
    one('sd_last_batch_size', 'gauge', 'Images in the last generate() call.', q.lastBatchSize);
    out.push(...(queue.metrics?.() ?? []));

    const hist: string[] = [];
    for (const s of this.#latency.values()) {
      LATENCY_BUCKETS.forEach((le, i) => hist.push(`sd_http_request_duration_seconds_bucket{${s.labels},le="${le}"} ${s.counts[i]}`));
      hist.push(`sd_http_request_duration_seconds_bucket{${s.labels},le="+Inf"} ${s.count}`);
      hist.push(`sd_http_request_duration_seconds_sum{${s.labels}} ${num(s.sum)}`);
      hist.push(`sd_http_request_duration_seconds_count{${s.labels}} ${s.count}`);
    }
    metric('sd_http_request_duration_seconds', 'histogram', 'HTTP request latency (queue wait included).', hist);

    const mem = process.memoryUsage();
    one('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.', mem.rss);
    one('nodejs_heap_used_bytes', 'gauge', 'V8 heap in use, bytes.', mem.heapUsed);
    one('process_start_time_seconds', 'gauge', 'Start time of the server, seconds since the epoch.', Math.floor(this.startedAt / 1000));
    return `${out.join('\n')}\n`;
  }
}
