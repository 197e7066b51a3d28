// Latent resizing as A1111's hires fix does it: torch.nn.functional.interpolate with the
// mode/antialias pair of each "Latent…" upscaler (shared.latent_upscale_modes), written from
// torch's CPU kernels (area_pixel_compute_source_index, cubic convolution A = −0.75, the separable
// antialiased filters with A = −0.5) and checked against torch itself (test/fixtures/latent_upscale.*).
//
//   upscaleLatent(latent, [2, 4, 64, 64], 128, 128, 'latent')   // Float32Array [2, 4, 128, 128]

export const LATENT_UPSCALERS = {
  latent: { mode: 'bilinear', antialias: false },
  latent_antialiased: { mode: 'bilinear', antialias: true },
  latent_bicubic: { mode: 'bicubic', antialias: false },
  latent_bicubic_antialiased: { mode: 'bicubic', antialias: true },
  latent_nearest: { mode: 'nearest', antialias: false },
  latent_nearest_exact: { mode: 'nearest-exact', antialias: false },
} as const;
export type LatentUpscaler = keyof typeof LATENT_UPSCALERS;

const f = Math.fround;

// One axis as a list of (source index, weight) taps per output index; a 2-D resize applies width
// taps then height taps.
type Taps = Array<Array<[number, number]>>;

function nearestTaps(inSize: number, outSize: number, exact: boolean): Taps {
  const scale = f(inSize / outSize);
  return Array.from({ length: outSize }, (_, i) => {
    let src: number;
    if (outSize === inSize) src = i;
    else if (!exact && outSize === 2 * inSize) src = i >> 1;
    else src = Math.floor(f((exact ? i + 0.5 : i) * scale));
    return [[Math.min(src, inSize - 1), 1]];
  });
}

function linearTaps(inSize: number, outSize: number): Taps {
  const scale = f(inSize / outSize);
  return Array.from({ length: outSize }, (_, i) => {
    const src = Math.max(f(f(scale * f(i + 0.5)) - 0.5), 0);
    const i0 = Math.trunc(src), step = i0 < inSize - 1 ? 1 : 0;
    const l1 = f(src - i0), l0 = f(1 - l1);
    return [[i0, l0], [i0 + step, l1]];
  });
}

function cubicTaps(inSize: number, outSize: number): Taps {
  const A = -0.75;
  const cc1 = (x: number) => f(f(f(f(A + 2) * x - f(A + 3)) * x) * x + 1);
  const cc2 = (x: number) => f(f(f(f(A * x - 5 * A) * x) + 8 * A) * x - 4 * A);
  const scale = f(inSize / outSize);
  return Array.from({ length: outSize }, (_, i) => {
    const real = f(f(scale * f(i + 0.5)) - 0.5);
    const i0 = Math.floor(real), t = f(real - i0);
    const w = [cc2(f(t + 1)), cc1(t), cc1(f(1 - t)), cc2(f(2 - t))];
    return w.map((wk, k) => [Math.min(Math.max(i0 - 1 + k, 0), inSize - 1), wk] as [number, number]);
  });
}

// torch's _compute_indices_min_size_weights_aa: PIL-style filters whose support widens when shrinking.
function antialiasTaps(inSize: number, outSize: number, cubic: boolean): Taps {
  const filter = cubic
    ? (x: number) => {
        const a = -0.5;
        x = Math.abs(x);
        if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
        if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
        return 0;
      }
    : (x: number) => Math.max(0, 1 - Math.abs(x));
  const scale = inSize / outSize, interp = cubic ? 4 : 2;
  const support = scale >= 1 ? interp * 0.5 * scale : interp * 0.5;
  const invscale = scale >= 1 ? 1 / scale : 1;
  return Array.from({ length: outSize }, (_, i) => {
    const center = scale * (i + 0.5);
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xsize = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    const taps: Array<[number, number]> = [];
    let total = 0;
    for (let j = 0; j < xsize; j++) {
      const w = filter((j + xmin - center + 0.5) * invscale);
      taps.push([xmin + j, w]);
      total += w;
    }
    return taps.map(([k, w]) => [k, total !== 0 ? f(w / total) : w] as [number, number]);
  });
}

function tapsFor(upscaler: LatentUpscaler, inSize: number, outSize: number): Taps {
  const { mode, antialias } = LATENT_UPSCALERS[upscaler];
  if (mode === 'nearest' || mode === 'nearest-exact') return nearestTaps(inSize, outSize, mode === 'nearest-exact');
  if (antialias) return antialiasTaps(inSize, outSize, mode === 'bicubic');
  return mode === 'bilinear' ? linearTaps(inSize, outSize) : cubicTaps(inSize, outSize);
}

// dst[to(line, i)] = Σ src[from(line, tap)] · weight over each output index i of every line.
function applyTaps(src: Float32Array, dst: Float32Array, lines: number, taps: Taps, from: (line: number, k: number) => number,
                   to: (line: number, i: number) => number): void {
  for (let line = 0; line < lines; ++line)
    for (let i = 0; i < taps.length; ++i) {
      let v = 0;
      for (const [k, wt] of taps[i]!) v = f(v + f(src[from(line, k)]! * wt));
      dst[to(line, i)] = v;
    }
}

/** A [batch, channels, h, w] latent resized to outH × outW with one of A1111's latent upscalers. */
export function upscaleLatent(latent: Float32Array, shape: readonly [number, number, number, number], outH: number, outW: number,
                              upscaler: LatentUpscaler): Float32Array {
  const [b, c, h, w] = shape;
  if (latent.length !== b * c * h * w) throw new RangeError(`latent has ${latent.length} floats, not ${b}×${c}×${h}×${w}`);
  const across = tapsFor(upscaler, w, outW), down = tapsFor(upscaler, h, outH);
  const out = new Float32Array(b * c * outH * outW);
  const rows = new Float32Array(h * outW);
  for (let p = 0; p < b * c; ++p) {
    // width first (rows of the source), then height (columns of the widened rows)
    applyTaps(latent.subarray(p * h * w, (p + 1) * h * w), rows, h, across, (y, k) => y * w + k, (y, x) => y * outW + x);
    applyTaps(rows, out.subarray(p * outH * outW, (p + 1) * outH * outW), outW, down, (x, k) => k * outW + x, (x, y) => y * outW + x);
  }
  return out;
}
