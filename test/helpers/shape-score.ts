// Scores a generated 64×64 picture against a held-out prompt, step for step as train/eval_spec.md
// says (train/eval_metrics.py is the Python side; test/fixtures/scorer_cases.json pins the two together).

export interface HeldoutItem {
  prompt: string;
  color: string;
  shape: string;
  position: string;
  size: string;
  background: string;
}

export interface HeldoutSpec {
  palette: Record<string, number[]>;
  positions: Record<string, number[]>;
  shape_templates_16x16: Record<string, string[]>;
  prompts: HeldoutItem[];
}

export interface Analysis {
  color: string | null;
  shape: string | null;
  position: string | null;
  objectPixels: number;
  bbox?: [number, number, number, number];
}

const MASK_THRESHOLD = 60;

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function nearest<T extends number[]>(table: Record<string, T>, dist: (v: T) => number): string {
  let best = '', bestD = Infinity;
  for (const [name, v] of Object.entries(table)) {
    const d = dist(v);
    if (d < bestD) (best = name), (bestD = d);
  }
  return best;
}

/** Largest 4-connected component of `mask` (ties: the first found in row-major order). */
function largestComponent(mask: Uint8Array, w: number, h: number): number[] {
  const seen = new Uint8Array(w * h);
  let best: number[] = [];
  for (let start = 0; start < w * h; start++) {
    if (!mask[start] || seen[start]) continue;
    const comp = [start];
    seen[start] = 1;
    for (let q = 0; q < comp.length; q++) {
      const p = comp[q]!, y = Math.floor(p / w), x = p % w;
      const next = [y > 0 ? p - w : -1, y < h - 1 ? p + w : -1, x > 0 ? p - 1 : -1, x < w - 1 ? p + 1 : -1];
      for (const n of next) if (n >= 0 && mask[n] && !seen[n]) (seen[n] = 1), comp.push(n);
    }
    if (comp.length > best.length) best = comp;
  }
  return best;
}

/** rgba: RGBA (or RGB with channels = 3) bytes of a w×h picture. */
export function analyse(rgba: Uint8Array | Uint8ClampedArray, w: number, h: number, spec: HeldoutSpec, channels = 4): Analysis {
  const px = (p: number, c: number) => rgba[p * channels + c]!;
  const border: number[] = [];
  for (let x = 0; x < w; x++) border.push(x, (h - 1) * w + x);
  for (let y = 1; y < h - 1; y++) border.push(y * w, y * w + w - 1);
  const bg = [0, 1, 2].map((c) => median(border.map((p) => px(p, c))));
  const mask = new Uint8Array(w * h);
  for (let p = 0; p < w * h; p++)
    mask[p] = Math.hypot(px(p, 0) - bg[0]!, px(p, 1) - bg[1]!, px(p, 2) - bg[2]!) > MASK_THRESHOLD ? 1 : 0;
  const comp = largestComponent(mask, w, h);
  if (comp.length === 0) return { color: null, shape: null, position: null, objectPixels: 0 };
  const colour = [0, 1, 2].map((c) => median(comp.map((p) => px(p, c))));
  const color = nearest(spec.palette, (v) => Math.hypot(colour[0]! - v[0]!, colour[1]! - v[1]!, colour[2]! - v[2]!));
  const inComp = new Uint8Array(w * h);
  let x0 = w, x1 = 0, y0 = h, y1 = 0;
  for (const p of comp) {
    inComp[p] = 1;
    const y = Math.floor(p / w), x = p % w;
    x0 = Math.min(x0, x), x1 = Math.max(x1, x + 1), y0 = Math.min(y0, y), y1 = Math.max(y1, y + 1);
  }
  // the bounding-box centre, not the centroid: a triangle's centroid sits below its box centre
  const cx = (x0 + x1) / 2 / w, cy = (y0 + y1) / 2 / h;
  const position = nearest(spec.positions, (v) => (cx - v[0]!) ** 2 + (cy - v[1]!) ** 2);
  const bh = y1 - y0, bw = x1 - x0;
  const grid: boolean[] = [];
  for (let i = 0; i < 16; i++)
    for (let j = 0; j < 16; j++)
      grid.push(inComp[(y0 + Math.floor(((i + 0.5) * bh) / 16)) * w + x0 + Math.floor(((j + 0.5) * bw) / 16)] === 1);
  let shape = '', bestIou = -1;
  for (const [name, rows] of Object.entries(spec.shape_templates_16x16)) {
    let inter = 0, union = 0;
    for (let k = 0; k < 256; k++) {
      const t = rows[k >> 4]![k & 15] === '1';
      inter += Number(t && grid[k]!);
      union += Number(t || grid[k]!);
    }
    const iou = inter / Math.max(union, 1);
    if (iou > bestIou) (shape = name), (bestIou = iou);
  }
  return { color, shape, position, objectPixels: comp.length, bbox: [x0, y0, x1, y1] };
}
