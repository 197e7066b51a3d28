// make-random-checkpoint: a full-size SD 1.x / 2.x / XL single-file .safetensors checkpoint with
// deterministic random weights, for load and speed benchmarks without downloading real models.
// See `bench/make-random-checkpoint --help`.
//
// Weights: N(0, 1/fan_in) for Linear/Conv (activations keep their scale), norm weights 1 + N(0, 0.02²),
// biases and norm biases N(0, 0.02²), embeddings N(0, 0.02²) / N(0, 0.01²), logit_scale ln(1/0.07),
// position_ids 0..76 (I64). Each tensor draws from its own xorshift32 stream seeded by
// hash(seed, name) (four interleaved lanes), so a tensor's values do not depend on which other tensors exist. The normal
// deviates come from a 4096-entry table (standardised Box–Muller samples scaled per tensor and
// converted to the output dtype once), so filling costs one RNG step and one table load per element:
// the run is bound by the disk, not by generation.
//
// Streaming: tensors are generated into two 16 MiB buffers in turn; one is written (async) while
// the other fills. Peak memory is a few tens of MB for any architecture.
import fs from 'node:fs';
import path from 'node:path';
import { ARCHS, TINY } from './arch.mjs';

const USAGE = `usage: bench/make-random-checkpoint --arch sd1|sd2|sdxl -o FILE [options]

  --arch sd1|sd2|sdxl   SD 1.5 (CompVis keys, CLIP-L), SD 2.x (OpenCLIP ViT-H, linear proj),
                        SDXL base (CLIP-L + OpenCLIP bigG, label_emb)
  -o, --output FILE     where to write (written to FILE.tmp, then renamed)
  --dtype f16|bf16|f32  dtype of the weights (default f16; position_ids are always I64)
  --seed N              random seed (default 1)
  --list                print "name dtype shape" for every tensor and exit without writing
  --with-init           with --list: add each tensor's init (normal:STD[:MEAN], const:VALUE,
                        arange), the lists bench/gpu/*.tensors are made from
  --self-check DIR      build the architectures at the parity goldens' tiny sizes and compare
                        names and shapes with DIR/*_tiny.json sidecars; exit 1 on a mismatch
  -h, --help            this text

example: bench/make-random-checkpoint --arch sd1 -o /tmp/sd15-random.safetensors`;

function parseArgs(argv) {
  const o = { arch: null, output: null, dtype: 'f16', seed: 1, list: false, withInit: false, selfCheck: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) die(`${a} needs a value\n\n${USAGE}`);
      return argv[++i];
    };
    if (a === '--arch') o.arch = next();
    else if (a === '-o' || a === '--output') o.output = next();
    else if (a === '--dtype') o.dtype = next();
    else if (a === '--seed') o.seed = Number(next());
    else if (a === '--list') o.list = true;
    else if (a === '--with-init') o.withInit = true;
    else if (a === '--self-check') o.selfCheck = next();
    else if (a === '-h' || a === '--help') {
      console.log(USAGE);
      process.exit(0);
    } else die(`unknown argument ${a}\n\n${USAGE}`);
  }
  if (o.selfCheck) return o;
  if (!ARCHS[o.arch]) die(`--arch must be one of ${Object.keys(ARCHS).join(', ')}, got ${o.arch}\n\n${USAGE}`);
  if (!['f16', 'bf16', 'f32'].includes(o.dtype)) die(`--dtype must be f16, bf16 or f32, got ${o.dtype}`);
  if (!Number.isInteger(o.seed) || o.seed < 0 || o.seed > 0xffffffff) die(`--seed must be an integer 0..4294967295`);
  if (o.withInit && !o.list) die(`--with-init goes with --list`);
  if (!o.list && !o.output) die(`-o FILE is required\n\n${USAGE}`);
  return o;
}

function die(msg) {
  console.error(msg);
  process.exit(2);
}

// ---- numbers --------------------------------------------------------------------------------

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

function f32Bits(x) {
  f32[0] = x;
  return u32[0];
}

// float -> IEEE half bits, round to nearest even (same rules as native/core/dtype.h).
function toF16(x) {
  const bits = f32Bits(x);
  const sign = (bits >>> 16) & 0x8000;
  const abs = bits & 0x7fffffff;
  if (abs > 0x7f800000) return sign | 0x7e00;
  if (abs >= 0x477ff000) return sign | 0x7c00;
  if (abs < 0x38800000) {
    if (abs < 0x33000000) return sign;
    const e = abs >>> 23;
    const m = (abs & 0x7fffff) | 0x800000;
    const shift = 126 - e;
    let half = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1))) half++;
    return sign | half;
  }
  return (sign | ((abs + 0xfff + ((abs >>> 13) & 1) - 0x38000000) >>> 13)) & 0xffff;
}

function toBF16(x) {
  const bits = f32Bits(x);
  if ((bits & 0x7fffffff) > 0x7f800000) return (bits >>> 16) | 0x40;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

function xorshiftSeed(seed, name) {
  let h = (0x811c9dc5 ^ seed) >>> 0;  // FNV-1a over the name, mixed with the seed
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d) >>> 0;
  h ^= h >>> 15;
  return h === 0 ? 0x9e3779b9 : h;
}

// 4096 standard normal deviates (Box–Muller from a fixed stream), standardised to mean 0, std 1.
const TABLE_BITS = 12;
const BASE = (() => {
  const n = 1 << TABLE_BITS;
  const v = new Float64Array(n);
  let s = 0x2545f491;
  const uni = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return ((s >>> 0) + 0.5) / 4294967296;
  };
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(uni()));
    const t = 2 * Math.PI * uni();
    v[i] = r * Math.cos(t);
    v[i + 1] = r * Math.sin(t);
  }
  let mean = 0;
  for (const x of v) mean += x / n;
  let sd = 0;
  for (const x of v) sd += ((x - mean) * (x - mean)) / n;
  sd = Math.sqrt(sd);
  return v.map((x) => (x - mean) / sd);
})();

const tableCache = new Map();
function table(dtype, mean, std) {
  const key = `${dtype}:${mean}:${std}`;
  let t = tableCache.get(key);
  if (!t) {
    const n = BASE.length;
    if (dtype === 'f32') {
      t = new Float32Array(n);
      for (let i = 0; i < n; i++) t[i] = mean + std * BASE[i];
    } else {
      t = new Uint16Array(n);
      const conv = dtype === 'f16' ? toF16 : toBF16;
      for (let i = 0; i < n; i++) t[i] = conv(mean + std * BASE[i]);
    }
    tableCache.set(key, t);
  }
  return t;
}

// ---- writing --------------------------------------------------------------------------------

const CHUNK = 16 << 20;

class Sink {
  constructor(fd) {
    this.fd = fd;
    this.bufs = [new ArrayBuffer(CHUNK), new ArrayBuffer(CHUNK)];
    this.cur = 0;
    this.off = 0;
    this.pending = null;
    this.views();
  }
  views() {
    const b = this.bufs[this.cur];
    this.u8 = new Uint8Array(b);
    this.u16 = new Uint16Array(b);
    this.f32 = new Float32Array(b);
    this.i64 = new BigInt64Array(b);
  }
  async flush() {
    if (this.pending) await this.pending;
    const data = this.u8.subarray(0, this.off);
    this.pending = writeAll(this.fd, data);
    this.cur ^= 1;
    this.off = 0;
    this.views();
  }
  async close() {
    if (this.off) await this.flush();
    if (this.pending) await this.pending;
    this.pending = null;
  }
}

function writeAll(fd, data) {
  return new Promise((resolve, reject) => {
    const step = (off) => {
      if (off >= data.length) return resolve();
      fs.write(fd, data, off, data.length - off, null, (err, n) => (err ? reject(err) : step(off + n)));
    };
    step(0);
  });
}

// Hot loops: plain functions (not async) so V8 optimises them, four independent xorshift32 lanes
// (a, b, c, d) so the CPU overlaps their dependency chains; element i comes from lane i % 4.
// `shift` keeps the top TABLE_BITS bits as the table index. Returns the lane states.
function fillLanes(out, tab, start, end, s, shift) {
  let a = s[0], b = s[1], c = s[2], d = s[3];
  let i = start;
  for (; i + 4 <= end; i += 4) {
    a ^= a << 13; b ^= b << 13; c ^= c << 13; d ^= d << 13;
    a ^= a >>> 17; b ^= b >>> 17; c ^= c >>> 17; d ^= d >>> 17;
    a ^= a << 5; b ^= b << 5; c ^= c << 5; d ^= d << 5;
    out[i] = tab[a >>> shift];
    out[i + 1] = tab[b >>> shift];
    out[i + 2] = tab[c >>> shift];
    out[i + 3] = tab[d >>> shift];
  }
  for (; i < end; i++) {  // tail (< 4 elements): lane a only
    a ^= a << 13;
    a ^= a >>> 17;
    a ^= a << 5;
    out[i] = tab[a >>> shift];
  }
  s[0] = a; s[1] = b; s[2] = c; s[3] = d;
}
// Separate copies per array type keep each one monomorphic.
const fill16 = (out, tab, start, end, s, shift) => fillLanes16(out, tab, start, end, s, shift);
const fillLanes16 = new Function('return ' + fillLanes.toString())();
const fill32 = (out, tab, start, end, s, shift) => fillLanes32(out, tab, start, end, s, shift);
const fillLanes32 = new Function('return ' + fillLanes.toString())();

// Writes tensor t into the sink, in chunk-sized pieces.
async function emitTensor(sink, t, seed) {
  const esize = t.esize;
  let remaining = t.numel;
  const h = xorshiftSeed(seed, t.name);
  const lanes = new Int32Array([h, xorshiftSeed(h, 'b'), xorshiftSeed(h, 'c'), xorshiftSeed(h, 'd')]);
  let index = 0;
  const init = t.init;
  const tab = init.kind === 'normal' ? table(t.dtype === 'F32' ? 'f32' : t.dtype === 'F16' ? 'f16' : 'bf16', init.mean || 0, init.std) : null;
  const shift = 32 - TABLE_BITS;
  while (remaining > 0) {
    const space = (CHUNK - sink.off) / esize;
    const n = Math.min(space, remaining);
    const start = sink.off / esize;
    const end = start + n;
    if (init.kind === 'arange') {
      for (let i = start; i < end; i++) sink.i64[i] = BigInt(index++);
    } else if (init.kind === 'const') {
      if (esize === 4) sink.f32.fill(init.value, start, end);
      else sink.u16.fill(t.dtype === 'F16' ? toF16(init.value) : toBF16(init.value), start, end);
    } else if (esize === 4) {
      fill32(sink.f32, tab, start, end, lanes, shift);
    } else {
      fill16(sink.u16, tab, start, end, lanes, shift);
    }
    sink.off += n * esize;
    remaining -= n;
    if (sink.off === CHUNK) await sink.flush();
  }
}

const ESIZE = { F32: 4, F16: 2, BF16: 2, I64: 8 };

function plan(components, dtype) {
  const weightDtype = { f16: 'F16', bf16: 'BF16', f32: 'F32' }[dtype];
  const tensors = [];
  for (const c of components)
    for (const t of c.tensors) {
      const dt = t.dtype || weightDtype;
      const numel = t.shape.reduce((a, b) => a * b, 1);
      tensors.push({ ...t, dtype: dt, esize: ESIZE[dt], numel, component: c.label });
    }
  // Data layout: larger elements first, no gaps (every tensor aligned to its element size, and
  // the layout the reference reader accepts). Header order stays the state-dict order.
  const layout = [...tensors].sort((a, b) => b.esize - a.esize);
  let off = 0;
  for (const t of layout) {
    t.begin = off;
    off += t.numel * t.esize;
  }
  return { tensors, layout, dataBytes: off };
}

function header(p, meta) {
  const parts = [`"__metadata__":${JSON.stringify(meta)}`];
  for (const t of p.tensors)
    parts.push(`${JSON.stringify(t.name)}:{"dtype":"${t.dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${t.begin},${t.begin + t.numel * t.esize}]}`);
  let h = `{${parts.join(',')}}`;
  h += ' '.repeat((8 - (Buffer.byteLength(h) % 8)) % 8);
  return Buffer.from(h);
}

// One token, so that readers of --list split a line on spaces; numbers as JS prints them (round-trip).
function initText(init) {
  if (init.kind === 'normal') return init.mean ? `normal:${init.std}:${init.mean}` : `normal:${init.std}`;
  if (init.kind === 'const') return `const:${init.value}`;
  return init.kind;
}

function fmtBytes(n) {
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : `${(n / 1e6).toFixed(1)} MB`;
}

function summary(p) {
  const by = new Map();
  for (const t of p.tensors) {
    const s = by.get(t.component) || { tensors: 0, params: 0 };
    s.tensors++;
    if (t.dtype !== 'I64') s.params += t.numel;  // position_ids is a buffer, not a parameter
    by.set(t.component, s);
  }
  let params = 0;
  for (const [label, s] of by) {
    console.log(`  ${label.padEnd(14)} ${String(s.tensors).padStart(5)} tensors ${s.params.toLocaleString('en-US').padStart(16)} parameters`);
    params += s.params;
  }
  return params;
}

async function generate(o) {
  const components = ARCHS[o.arch]();
  const p = plan(components, o.dtype);
  if (o.list) {
    for (const t of p.tensors) console.log(`${t.name} ${t.dtype} [${t.shape.join(', ')}]${o.withInit ? ` ${initText(t.init)}` : ''}`);
    return;
  }
  const meta = {
    format: 'pt',
    'sd_native.generator': 'bench/make-random-checkpoint',
    'sd_native.arch': o.arch,
    'sd_native.seed': String(o.seed),
    'sd_native.note': 'random weights for benchmarks; not a usable model',
  };
  const h = header(p, meta);
  const total = 8 + h.length + p.dataBytes;
  console.log(`${o.arch}: ${p.tensors.length} tensors, ${o.dtype} weights, writing ${fmtBytes(total)} to ${o.output}`);
  const params = summary(p);
  console.log(`  total          ${String(p.tensors.length).padStart(5)} tensors ${params.toLocaleString('en-US').padStart(16)} parameters`);

  const tmp = `${o.output}.tmp`;
  const t0 = process.hrtime.bigint();
  const fd = fs.openSync(tmp, 'w');
  try {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(h.length));
    fs.writeSync(fd, len);
    fs.writeSync(fd, h);
    const sink = new Sink(fd);
    let done = 0;
    let lastPct = -1;
    for (const t of p.layout) {
      await emitTensor(sink, t, o.seed);
      done += t.numel * t.esize;
      const pct = Math.floor((100 * done) / p.dataBytes / 10) * 10;
      if (process.stderr.isTTY && pct !== lastPct) {
        process.stderr.write(`\r  ${pct}%`);
        lastPct = pct;
      }
    }
    await sink.close();
    if (process.stderr.isTTY) process.stderr.write('\r');
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, o.output);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const size = fs.statSync(o.output).size;
  if (size !== total) throw new Error(`wrote ${size} bytes, expected ${total}`);
  console.log(`wrote ${path.resolve(o.output)}: ${size.toLocaleString('en-US')} bytes (${fmtBytes(size)}) in ${secs.toFixed(1)} s, ${(size / 1e6 / secs).toFixed(0)} MB/s`);
}

function selfCheck(dir) {
  let bad = 0;
  for (const [name, build] of Object.entries(TINY)) {
    const file = path.join(dir, `${name}.json`);
    const want = Object.entries(JSON.parse(fs.readFileSync(file, 'utf8')).keys).filter(([k]) => !k.startsWith('golden.'));
    const got = build();
    const wantMap = new Map(want.map(([k, v]) => [k, v.shape]));
    const gotMap = new Map(got.map((t) => [t.name, t.shape]));
    const problems = [];
    for (const [k, s] of wantMap) {
      if (!gotMap.has(k)) problems.push(`missing ${k}`);
      else if (gotMap.get(k).join(',') !== s.join(',')) problems.push(`${k}: shape [${gotMap.get(k)}] != [${s}]`);
    }
    for (const k of gotMap.keys()) if (!wantMap.has(k)) problems.push(`extra ${k}`);
    console.log(`${name}: ${got.length} tensors generated, ${want.length} in sidecar: ${problems.length ? 'MISMATCH' : 'ok'}`);
    for (const pr of problems.slice(0, 10)) console.log(`  ${pr}`);
    bad += problems.length;
  }
  process.exit(bad ? 1 : 0);
}

const o = parseArgs(process.argv.slice(2));
if (o.selfCheck) selfCheck(o.selfCheck);
else
  await generate(o).catch((e) => {
    console.error(`make-random-checkpoint: ${e.message}`);
    process.exit(1);
  });
