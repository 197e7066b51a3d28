// StableDiffusion: one loaded checkpoint. Validates options (lib/options.ts), tokenizes prompts,
// hands the native core typed arrays, and turns its results into GeneratedImages. Calls on one
// model run one after another (a queue here, a mutex in the core); abort signals set a flag the
// core polls between steps; dispose() cancels what runs and rejects what waits.
//
//   await using sd = await StableDiffusion.load('v1-5-pruned-emaonly.safetensors');
//   const [img] = await sd.generate({ prompt: 'a photo of a cat', seed: 42, onStep: (e) => … });
import { basename, join } from 'node:path';

import { native } from './binding.js';
import { requireDefaultModel } from './default-model.js';
import { packageRoot } from './package-root.js';
import type { NativeMemoryPlan, NativeModel, NativePrompt, NativeResult, NativeTransfers } from './native.js';

import { SdError, fromNative } from './errors.js';
import { GeneratedImage, formatParameters, toImage8, toRgb, type ImageLike, type RgbImage } from './image.js';
import {
  CLIP_TOKENS, GENERATE_OPTIONS, checkValue, forModel, randomSeed, resolveGenerateOptions, resolveLoadOptions, validate,
  type GenerateSettings, type HiresSettings, type ModelLimits, type OptionSpec,
} from './options.js';
import { EmbeddingLibrary, embeddingShortHash } from './embeddings.js';
import { decodeImage, sniffImage } from './image-decode.js';
import { enlargeImage, enlargeLatent, hiresInfo, hiresTarget, isLatentUpscaler } from './hires.js';
import { RESIZE_MODES, prepareInpaint, type InpaintSettings, type PreparedInpaint } from './inpaint.js';
import { upscaleLatent } from './latent-upscale.js';
import { outpaintCanvas } from './outpaint.js';
import { resizeImage } from './resize-modes.js';
import { vaeInfo } from './vae-hash.js';
import { LoraDirectory, extractLoraTags, loraShortHash, lorasFor } from './loras.js';
import { ClipTokenizer, type WeightedTokens } from './tokenizer/index.js';
import { promptSchedule } from './tokenizer/prompt-schedule.js';

/** planMemory(): bytes per stage of one generate() call (weights, text, UNet, VAE) and their peak, totalBytes */
export type MemoryPlan = NativeMemoryPlan;

export interface ModelInfo {
  family: 'sd1' | 'sd2' | 'sdxl';
  prediction: 'eps' | 'v';
  unetModelChannels: number;
  unetContextDim: number;
  unetAdmChannels: number;
  clipWidth: number;
  clipLayers: number;
  clipHeads: number;
  vaeDownscale: number;
  latentChannels: number;
  /** a 9-channel inpainting UNet (latent + mask + masked-image latent) */
  inpainting: boolean;
  vaeScaleFactor: number;
  defaultSize: number;
  /** steps and CFG scale that generate() uses when not given: the model's recorded ones, else 20 and 7 */
  defaultSteps: number;
  defaultCfgScale: number;
  tensors: number;
  fileBytes: number;
  backend: string;
  /** what runs the model: 'cpu', 'cuda:0 (NVIDIA H100 …)', 'emulated' (the load option device, 'auto' resolved) */
  device: string;
}

export interface LoadOptions {
  threads?: number;
  dtype?: 'f32' | 'bf16';
  /** 'auto': a v_pred key or modelspec.prediction_type in the file, else A1111's test run for SD2 (768-v: 'v'), else 'eps' */
  prediction?: 'auto' | 'eps' | 'v';
  /** a VAE .safetensors (e.g. vae-ft-mse-840000-ema-pruned.safetensors) used instead of the checkpoint's own */
  vae?: string;
  /** folder where `<lora:name:weight>` prompt tags find name.safetensors (subfolders included) */
  loraDir?: string;
  /** memory for merged LoRA sets kept for the next request, in MiB (default 1024) */
  loraCacheMB?: number;
  /** activation memory a whole-image VAE pass may plan, in MiB (default 3072); generate()'s
   * vaeTiling 'auto' decodes / encodes in tiles above it */
  vaeMemoryMB?: number;
  /** folder of textual-inversion .safetensors files; a prompt naming one (e.g. "easynegative") uses it */
  embeddingsDir?: string;
  /** 75-token chunks one prompt may use (default 16); a longer prompt is an error, never truncated */
  maxPromptChunks?: number;
  /** TAESD decoder for preview/decoder 'taesd': a .safetensors file or a folder with taesd_decoder /
   * taesdxl_decoder.safetensors (picked by family); default: the package's models/taesd */
  taesd?: string;
  /** 'auto' (default): CUDA when this build has it and a GPU is present, else the CPU; 'cpu'; 'cuda' / 'cuda:N';
   * 'emulated': a test device (CPU kernels behind memory the host cannot touch; counts its transfers) */
  device?: 'auto' | 'cpu' | 'cuda' | `cuda:${number}` | 'emulated';
  signal?: AbortSignal;
  onProgress?: (event: { phase: 'loading' | 'ready'; fraction: number }) => void;
}

export interface StepEvent {
  step: number;
  steps: number;
  sigma: number;
  elapsedMs: number;
  /** the current denoised estimate of the first image, RGB: latent-sized (preview 'cheap') or full-size ('taesd') */
  preview?: { data: Buffer; width: number; height: number; channels: 3 };
}

export interface GenerateOptions {
  prompt: string;
  negativePrompt?: string;
  width?: number;
  height?: number;
  steps?: number;
  cfgScale?: number;
  /** CFG rescale φ (0..1, default 0): pulls the guided result's spread back to the conditional one's */
  cfgRescale?: number;
  seed?: number;
  sampler?: string;
  scheduler?: string;
  rng?: 'cpu' | 'cuda' | 'nv';
  eta?: number;
  clipSkip?: number;
  batchSize?: number;
  /** img2img: PNG bytes or raw pixels (RGBA / RGB / gray), any size: fitted to width × height by resizeMode */
  initImage?: ImageLike | Uint8Array;
  strength?: number;
  /** A1111's resize modes for an init image of another size: stretch, crop to fill, or fit and extend the edges */
  resizeMode?: 'just_resize' | 'crop_and_resize' | 'resize_and_fill' | 'latent_upscale';
  /** inpainting: initImage's size; white (or opaque, in a mask with transparency) is repainted */
  mask?: ImageLike | Uint8Array;
  /** Gaussian sigma softening the mask's edge, pixels (default 4) */
  maskBlur?: number;
  /** repaint what the mask leaves black */
  maskInvert?: boolean;
  /** what the masked area starts from: 'original' (default), 'fill' (surrounding colours), 'latent_noise', 'latent_nothing' */
  inpaintingFill?: 'fill' | 'original' | 'latent_noise' | 'latent_nothing';
  /** 'masked': work on a padded box around the mask at the output size and paste it back (A1111 "Only masked") */
  inpaintArea?: 'whole' | 'masked';
  /** context pixels around the mask for inpaintArea 'masked' (default 32) */
  inpaintPadding?: number;
  /** outpainting: pixels added on each side of initImage, inpainted (with the mask options; a mask of its own is refused) */
  outpaintLeft?: number;
  outpaintRight?: number;
  outpaintTop?: number;
  outpaintBottom?: number;
  /** hires fix (A1111): generate at width × height, enlarge, then refine at the larger size */
  hires?: boolean;
  /** enlargement factor (default 2), unless hiresWidth / hiresHeight give the size */
  hiresScale?: number;
  hiresWidth?: number;
  hiresHeight?: number;
  /** 'latent' (default) and its interpolation variants enlarge the latent; 'lanczos' / 'nearest' the image */
  hiresUpscaler?: 'latent' | 'latent_antialiased' | 'latent_bicubic' | 'latent_bicubic_antialiased' | 'latent_nearest' | 'latent_nearest_exact' | 'lanczos' | 'nearest';
  /** second-pass steps (0: as steps) */
  hiresSteps?: number;
  /** second-pass denoising strength (default 0.7) */
  hiresStrength?: number;
  /** second-pass sampler and scheduler (default: the first pass's) */
  hiresSampler?: string;
  hiresScheduler?: string;
  /** second-pass prompt and negative prompt (default: the first pass's); the hires prompt's
   * <lora:…> tags set the second pass's LoRAs, as A1111's hr_prompt does */
  hiresPrompt?: string;
  hiresNegativePrompt?: string;
  /** VAE decode and img2img encode in overlapping tiles: true, false, or 'auto' (default: tiles when
   * the whole image would need more than the load option vaeMemoryMB: at the default, 1536² and up) */
  vaeTiling?: 'auto' | boolean;
  /** seamless tiling (A1111 'Tiling'): circular padding in every UNet and VAE convolution, so the
   * image repeats without a seam; CPU backend only, and the VAE pass must fit untiled */
  tiling?: boolean;
  /** onStep previews: 'cheap' (= true, latent-size linear map), 'taesd' (full size), 'off' (= false) */
  preview?: boolean | 'cheap' | 'taesd' | 'off';
  /** final decode: 'vae' (default) or 'taesd' (fast, approximate) */
  decoder?: 'vae' | 'taesd';
  /** SDXL size conditioning (A1111 / generative-models): the original size the model is told the
   * picture comes from, the crop's top-left, and the target size; 0 = the output size, uncropped */
  originalWidth?: number;
  originalHeight?: number;
  cropTop?: number;
  cropLeft?: number;
  targetWidth?: number;
  targetHeight?: number;
  /** LoRA / LyCORIS files: `{ path, weight }` or `{ path, textWeight, unetWeight }`; `<lora:name:w>`
   * prompt tags add files from the load option loraDir */
  loras?: Array<{ path: string; weight?: number; textWeight?: number; unetWeight?: number }>;
  signal?: AbortSignal;
  onStep?: (event: StepEvent) => void;
}

export interface TextEmbedding {
  /** [1, 77 · chunks, contextDim], row-major */
  data: Float32Array;
  shape: [number, number, number];
  tokenCount: number;
}

export interface NoiseImage {
  data: Buffer;
  width: number;
  height: number;
  channels: 4;
  timestep: number;
}

/** The prompt texts of a call (after LoRA tags are taken out), per image or shared. */
interface PromptTexts {
  conds: string[];
  unconds: string[];
  /** the hires pass's own prompts, when hiresPrompt or hiresNegativePrompt differ */
  hires?: HiresPrompts;
}

/** A1111's hr_prompt / hr_negative_prompt for every image, and the LoRA set of the hires prompt. */
interface HiresPrompts {
  texts: PromptTexts;
  conds: NativePrompt[];
  unconds: NativePrompt[];
  loras: GenerateSettings['loras'];
}

const adaptersOf = (loras: GenerateSettings['loras']) => loras.map((l) => ({ path: l.path, textWeight: l.textWeight, unetWeight: l.unetWeight }));

/** One image of generateBatch(): its prompt, negative prompt and seed. */
export interface BatchItem {
  prompt: string;
  negativePrompt?: string;
  seed?: number;
}

function toNativePrompt(t: WeightedTokens, embeddings?: EmbeddingLibrary): NativePrompt {
  const n = t.chunks.length;
  const ids = new Int32Array(n * 77), weights = new Float32Array(n * 77), eot = new Int32Array(n);
  const slots = t.chunks.flatMap((c, i) => c.embeds.map((e) => ({ ...e, at: i * 77 + e.index })));
  const widths = embeddings?.widths ?? { main: 0 };
  const embedMain = new Float32Array(slots.length * widths.main);
  const embedSecond = new Float32Array(widths.second ? slots.length * widths.second : 0);
  t.chunks.forEach((c, i) => {
    ids.set(c.ids, i * 77);
    weights.set(c.weights, i * 77);
    eot[i] = c.eotIndex;
  });
  slots.forEach((slot, k) => {
    const e = embeddings!.get(slot.name)!;
    embedMain.set(e.main.subarray(slot.vector * widths.main, (slot.vector + 1) * widths.main), k * widths.main);
    if (widths.second) embedSecond.set(e.second!.subarray(slot.vector * widths.second, (slot.vector + 1) * widths.second), k * widths.second);
  });
  return { ids, weights, eot, embedPositions: Int32Array.from(slots, (s) => s.at), embedMain, embedSecond };
}

/** The embeddings a prompt's tokens use, in order of first use. */
function embeddingsUsed(...prompts: WeightedTokens[]): string[] {
  return [...new Set(prompts.flatMap((t) => t.chunks.flatMap((c) => c.embeds.map((e) => e.name))))];
}

/** Resolves when `p` settles, or rejects with signal.reason as soon as the signal aborts. */
function untilOrAbort(p: Promise<unknown>, signal?: AbortSignal): Promise<void> {
  if (!signal) return p.then(() => undefined);
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}

const MAX_LORAS = GENERATE_OPTIONS.find((o) => o.name === 'loras')!.max!;

const disposedError = () => new SdError('this model has been disposed; load it again with StableDiffusion.load()', 'ERR_SD_DISPOSED');

export class StableDiffusion {
  /** what the loader detected: family, sizes, the VAE's downscale factor, the backend */
  readonly info: ModelInfo;
  /** the checkpoint path as given to load() */
  readonly path: string;
  /** the external VAE file as given to load(), or undefined: the checkpoint's own */
  readonly vae: string | undefined;
  #handle: NativeModel;
  #disposed = false;
  #queue: Promise<void> = Promise.resolve();
  #tokenizer: ClipTokenizer | undefined;
  #loraDir: LoraDirectory | undefined;
  #embeddingsDir: string;
  #embeddings: EmbeddingLibrary | undefined;

  #maxPromptChunks: number;
  /** planMemory()'s native answers by request shape */
  #plans = new Map<string, MemoryPlan>();
  #vaeInfo: { name: string; hash: string } | undefined;

  private constructor(handle: NativeModel, path: string, vae: string, loraDir: string, embeddingsDir: string, maxPromptChunks: number) {
    this.#handle = handle;
    this.path = path;
    this.vae = vae || undefined;
    this.#loraDir = loraDir ? new LoraDirectory(loraDir) : undefined;
    this.#embeddingsDir = embeddingsDir;
    this.#maxPromptChunks = maxPromptChunks;
    this.info = Object.freeze(handle.info());
  }

  /**
   * Maps a single-file SD 1.x / 2.x / XL safetensors checkpoint and builds the pipeline. Without a
   * path it loads the small model shipped in @sd-native/tiny-model, as the CLI does.
   */
  static async load(path?: string, options: LoadOptions = {}): Promise<StableDiffusion> {
    if (path === undefined) {
      try {
        path = requireDefaultModel();
      } catch (e) {
        throw new SdError((e as Error).message, 'ERR_SD_LOAD');
      }
    }
    if (typeof path !== 'string' || path === '') {
      throw new SdError(`path must be the path of a .safetensors checkpoint, got ${JSON.stringify(path) ?? String(path)}`, 'ERR_SD_INVALID_OPTION');
    }
    const o = resolveLoadOptions(options);
    if (o.signal?.aborted) throw o.signal.reason;
    const progress = o.onProgress as LoadOptions['onProgress'];
    progress?.({ phase: 'loading', fraction: 0 });
    let pending: Promise<NativeModel>;
    try {
      pending = native.loadModel(path, {
        threads: o.threads, compute: o.dtype, prediction: o.prediction === 'auto' ? '' : o.prediction, vae: o.vae, loraCacheMB: o.loraCacheMB,
        vaeMemoryMB: o.vaeMemoryMB, taesd: o.taesd || join(packageRoot, 'models', 'taesd'), device: o.device,
      });
    } catch (e) {
      throw fromNative(e, 'ERR_SD_LOAD'); // an unusable device is refused before the load starts
    }
    let handle: NativeModel;
    try {
      await untilOrAbort(pending.catch(() => {}), o.signal);
      handle = await pending;
    } catch (e) {
      if (o.signal?.aborted) {
        pending.then((h) => h.dispose(), () => {}); // the load cannot be interrupted: free it when it ends
        throw o.signal.reason;
      }
      throw fromNative(e, 'ERR_SD_LOAD');
    }
    progress?.({ phase: 'ready', fraction: 1 });
    return new StableDiffusion(handle, path, o.vae, o.loraDir, o.embeddingsDir, o.maxPromptChunks);
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** The LoRA files loraDir holds ([] without one); refresh: read the folder again first. */
  loras(options: { refresh?: boolean } = {}): Array<{ name: string; path: string }> {
    if (!this.#loraDir) return [];
    if (options.refresh) this.#loraDir.refresh();
    return this.#loraDir.list();
  }

  // The prompt the encoder sees (tags removed) and the LoRA set: the option's files, then the tags'.
  #withLoras(s: GenerateSettings): { text: string; settings: GenerateSettings } {
    const { prompt, tags } = extractLoraTags(s.prompt);
    return { text: prompt, settings: { ...s, loras: lorasFor(s.loras, tags, this.#loraDir, MAX_LORAS) } };
  }

  #limits(): ModelLimits {
    return { vaeDownscale: this.info.vaeDownscale, clipLayers: this.info.clipLayers, defaultSize: this.info.defaultSize, defaultSteps: this.info.defaultSteps, defaultCfgScale: this.info.defaultCfgScale };
  }

  #library(): EmbeddingLibrary | undefined {
    this.#tokenizer ??= ClipTokenizer.load();
    if (!this.#embeddingsDir) return undefined;
    const xl = this.info.family === 'sdxl';
    const widths = { main: this.info.clipWidth, ...(xl ? { second: this.info.unetContextDim - this.info.clipWidth } : {}) };
    return (this.#embeddings ??= new EmbeddingLibrary(this.#embeddingsDir, widths, this.#tokenizer));
  }

  /** Textual-inversion embeddings of embeddingsDir: the ones in use and the files skipped, with why. */
  embeddings(options: { refresh?: boolean } = {}): { loaded: Array<{ name: string; vectors: number; path: string }>; skipped: Record<string, string> } {
    const lib = this.#library();
    if (!lib) return { loaded: [], skipped: {} };
    if (options.refresh) lib.refresh();
    return { loaded: [...lib.loaded().values()].map(({ name, vectors, path }) => ({ name, vectors, path })), skipped: Object.fromEntries(lib.skipped()) };
  }

  #weighted(prompt: string): WeightedTokens {
    const lib = this.#library();
    let t: WeightedTokens;
    try {
      t = this.#tokenizer!.tokenizeWeighted(prompt, { padId: CLIP_TOKENS.end, ...(lib ? { embeddings: lib.matcher() } : {}) });
    } catch (e) {
      if (e instanceof RangeError) throw new SdError(e.message, 'ERR_SD_INVALID_OPTION');
      throw e;
    }
    if (t.chunks.length > this.#maxPromptChunks) {
      throw new SdError(`a prompt uses ${t.chunks.length} chunks of 75 tokens (${t.tokenCount} tokens); this model takes at most ${this.#maxPromptChunks} ` +
        '(load option maxPromptChunks): shorten it or use fewer BREAKs', 'ERR_SD_INVALID_OPTION');
    }
    return t;
  }

  // Prompt editing and alternation as native segments: the union of every prompt's schedule steps,
  // each with the text every prompt has up to it (none when no prompt schedules anything).
  #segments(texts: PromptTexts | undefined, steps: number, hiresSteps?: number): { segments?: object[] } {
    if (!texts) return {};
    const all = [...new Set([...texts.conds, ...texts.unconds])];
    const schedules = new Map(all.map((t) => [t, promptSchedule(t, steps, hiresSteps)]));
    if ([...schedules].every(([t, sched]) => sched.length === 1 && sched[0]![1] === t)) return {};
    const ends = [...new Set([...schedules.values()].flatMap((sched) => sched.map(([end]) => end)))].sort((a, b) => a - b);
    const tokens = new Map<string, NativePrompt>();
    const at = (text: string, end: number) => {
      const active = schedules.get(text)!.find(([e]) => e >= end)![1];
      if (!tokens.has(active)) tokens.set(active, this.#tokens(active));
      return tokens.get(active)!;
    };
    return { segments: ends.map((end) => ({ endAtStep: end, conds: texts.conds.map((t) => at(t, end)), unconds: texts.unconds.map((t) => at(t, end)) })) };
  }

  // A1111's hr_prompt / hr_negative_prompt: one text for every image of the second pass; the hires
  // prompt's extra-network tags replace the first prompt's (A1111 activates hr_extra_network_data).
  // s: the settings before the first prompt's LoRA tags were merged in.
  #hiresPrompts(s: GenerateSettings, first: HiresPrompts, used: Set<string>): { hires?: HiresPrompts } {
    const h = s.hiresPlan;
    if (!h || (!h.prompt && !h.negativePrompt)) return {};
    const n = first.conds.length, out = { ...first, texts: { ...first.texts } };
    if (h.prompt) {
      const { text, settings } = this.#withLoras({ ...s, prompt: h.prompt });
      const cond = this.#tokens(text, used);
      Object.assign(out, { conds: Array(n).fill(cond), loras: settings.loras }), (out.texts.conds = Array(n).fill(text));
    }
    if (h.negativePrompt) {
      const uncond = this.#tokens(h.negativePrompt, used);
      (out.unconds = Array(n).fill(uncond)), (out.texts.unconds = Array(n).fill(h.negativePrompt));
    }
    return { hires: out };
  }

  #tokens(prompt: string, used?: Set<string>): NativePrompt {
    const t = this.#weighted(prompt);
    for (const name of embeddingsUsed(t)) used?.add(name);
    return toNativePrompt(t, this.#embeddings);
  }

  // Runs job after every earlier call has finished; a signal that aborts while waiting rejects at once.
  #enqueue<T>(job: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const previous = this.#queue;
    let done!: () => void;
    const mine = new Promise<void>((r) => (done = r));
    this.#queue = Promise.all([previous, mine]).then(() => undefined);
    return (async () => {
      try {
        await untilOrAbort(previous, signal);
        if (this.#disposed) throw new SdError('model disposed before the call started', 'ERR_SD_DISPOSED');
        return await job();
      } finally {
        done();
      }
    })();
  }

  /** txt2img, or img2img with initImage. Resolves with batchSize images. */
  async generate(options: GenerateOptions): Promise<GeneratedImage[]> {
    if (this.#disposed) throw disposedError();
    const s = resolveGenerateOptions(options, this.#limits());
    const given = options as GenerateOptions;
    let init: RgbImage | undefined;
    let inpaint: PreparedInpaint | undefined;
    if (s.mask !== undefined && s.initImage === undefined) throw new SdError('mask needs an initImage to inpaint', 'ERR_SD_INVALID_OPTION');
    if (s.hires && s.initImage !== undefined) throw new SdError('hires is a txt2img option (A1111 has no hires fix for img2img): leave out initImage or hires', 'ERR_SD_INVALID_OPTION');
    if (s.initImage !== undefined) {
      init = toRgb(await decodeCompressed(s.initImage, 'initImage'));
      // Without width/height the output takes the image's size, rounded to the VAE's multiple.
      const what = `initImage is ${init.width}×${init.height}`;
      const step = this.info.vaeDownscale, fit = (v: number) => Math.max(step, Math.round(v / step) * step);
      if (given.width === undefined) s.width = checkSize('width', fit(init.width), what, this.#limits());
      if (given.height === undefined) s.height = checkSize('height', fit(init.height), what, this.#limits());
      const sides = { left: s.outpaintLeft, right: s.outpaintRight, top: s.outpaintTop, bottom: s.outpaintBottom };
      if (sides.left || sides.right || sides.top || sides.bottom) {
        if (s.mask !== undefined) throw new SdError('outpainting makes its own mask (the new border): leave out mask', 'ERR_SD_INVALID_OPTION');
        const canvas = outpaintCanvas({ ...init, channels: 3 }, sides, s.maskBlur, this.info.vaeDownscale);
        const what = `the outpainted canvas is ${canvas.image.width}×${canvas.image.height}`;
        s.width = checkSize('width', canvas.image.width, what, this.#limits());
        s.height = checkSize('height', canvas.image.height, what, this.#limits());
        inpaint = prepareInpaint(canvas.image, canvas.mask, { ...s, resizeMode: 'just_resize' }, this.info.vaeDownscale);
        init = inpaint.image;
      } else if (s.mask !== undefined) {
        if (s.resizeMode === 'latent_upscale') throw new SdError("resizeMode 'latent_upscale' does not combine with a mask: resize the image first, or pick another mode", 'ERR_SD_INVALID_OPTION');
        const mask = toImage8(await decodeCompressed(s.mask, 'mask'), 'mask');
        inpaint = prepareInpaint({ ...init, channels: 3 }, mask, s as GenerateSettings & { resizeMode: InpaintSettings['resizeMode'] }, this.info.vaeDownscale);
        init = inpaint.image;
      } else if (s.resizeMode === 'latent_upscale') {
        // encoded at its own size (rounded to the VAE's multiple), the latent then resized: see #generate
        const step = this.info.vaeDownscale, fit = (v: number) => Math.max(step, Math.round(v / step) * step);
        if (fit(init.width) !== init.width || fit(init.height) !== init.height) init = resizeImage(0, { ...init, channels: 3 }, fit(init.width), fit(init.height));
      } else if (init.width !== s.width || init.height !== s.height) {
        init = resizeImage(RESIZE_MODES[s.resizeMode as keyof typeof RESIZE_MODES], { ...init, channels: 3 }, s.width, s.height);
      }
    }
    if (s.signal?.aborted) throw s.signal.reason;
    const { text, settings } = this.#withLoras(s);
    const used = new Set<string>();
    const cond = this.#tokens(text, used), uncond = this.#tokens(settings.negativePrompt, used);
    const texts = { conds: [text], unconds: [settings.negativePrompt] };
    const hires = this.#hiresPrompts(s, { texts, conds: [cond], unconds: [uncond], loras: settings.loras }, used);
    return this.#enqueue(() => this.#generate(settings, cond, uncond, init, undefined, [...used], inpaint, { ...texts, ...hires }), s.signal);
  }

  /**
   * Several prompts (and seeds) with shared settings in ONE UNet batch: the server merges queued
   * requests this way. Each item: { prompt, negativePrompt?, seed? } (seed -1 or absent: random).
   */
  async generateBatch(items: BatchItem[], options: Omit<GenerateOptions, 'prompt' | 'negativePrompt' | 'seed' | 'batchSize'> = {}): Promise<GeneratedImage[]> {
    if (this.#disposed) throw disposedError();
    if (!Array.isArray(items) || items.length === 0 || items.length > 16)
      throw new SdError(`generateBatch needs 1 to 16 items, got ${Array.isArray(items) ? items.length : typeof items}`, 'ERR_SD_INVALID_OPTION');
    if ((options as GenerateOptions).initImage !== undefined)
      throw new SdError('generateBatch does not take initImage; use generate() for img2img', 'ERR_SD_INVALID_OPTION');
    const first = items[0]!;
    const s = resolveGenerateOptions({ ...options, prompt: first.prompt, negativePrompt: first.negativePrompt ?? '', batchSize: items.length } as GenerateOptions, this.#limits());
    const seeds = items.map((it, i) => {
      const seed = it.seed ?? -1;
      if (!Number.isInteger(seed) || seed < -1 || seed > Number.MAX_SAFE_INTEGER)
        throw new SdError(`items[${i}].seed must be an integer between 0 and 2^53-1 (or -1 for random), got ${seed}`, 'ERR_SD_INVALID_OPTION');
      return seed === -1 ? randomSeed() : seed;
    });
    for (const [i, it] of items.entries())
      if (typeof it.prompt !== 'string') throw new SdError(`items[${i}].prompt must be a string`, 'ERR_SD_INVALID_OPTION');
    if (s.signal?.aborted) throw s.signal.reason;
    // One UNet batch runs one set of weights: every item must ask for the same LoRA set.
    const perItem = items.map((it) => this.#withLoras({ ...s, prompt: it.prompt }));
    const setKey = (l: GenerateSettings['loras']) => JSON.stringify(l);
    const settings = perItem[0]!.settings;
    const odd = perItem.findIndex((p) => setKey(p.settings.loras) !== setKey(settings.loras));
    if (odd > 0) throw new SdError(`items[${odd}] asks for other LoRAs than items[0]; one batch runs one LoRA set`, 'ERR_SD_INVALID_OPTION');
    const used = new Set<string>();
    const batch = {
      items, seeds,
      conds: perItem.map((p) => this.#tokens(p.text, used)),
      unconds: items.map((it) => this.#tokens(it.negativePrompt ?? '', used)),
    };
    const texts = { conds: perItem.map((p) => p.text), unconds: items.map((it) => it.negativePrompt ?? '') };
    const hires = this.#hiresPrompts(s, { texts, conds: batch.conds, unconds: batch.unconds, loras: settings.loras }, used);
    return this.#enqueue(() => this.#generate(settings, batch.conds[0]!, batch.unconds[0]!, undefined, batch, [...used], undefined, { ...texts, ...hires }), s.signal);
  }

  async #generate(s: GenerateSettings, cond: NativePrompt, uncond: NativePrompt, init: RgbImage | undefined,
                  batch?: { items: BatchItem[]; seeds: number[]; conds: NativePrompt[]; unconds: NativePrompt[] },
                  embeddingNames: string[] = [], inpaint?: PreparedInpaint, texts?: PromptTexts): Promise<GeneratedImage[]> {
    const cancel = new Int32Array(1);
    const onAbort = () => void (cancel[0] = 1);
    const userStep = s.onStep as ((e: StepEvent) => void) | undefined;
    let stepError: { error: unknown } | undefined;
    const onStep = userStep && ((e: StepEvent) => {
      if (stepError || cancel[0]) return; // after an abort, no more events
      try {
        userStep(e);
      } catch (error) {
        stepError = { error };
        cancel[0] = 1;
      }
    });
    const params = {
      cond, uncond, width: s.width, height: s.height, steps: s.steps, batch: s.batchSize, clipSkip: s.clipSkip,
      cfgScale: s.cfgScale, cfgRescale: s.cfgRescale, seed: s.seed, sampler: s.sampler, scheduler: s.scheduler, rng: s.rng, eta: s.eta,
      strength: s.strength, exactSteps: false, decode: true, vaeTiling: String(s.vaeTiling), tiling: s.tiling, preview: userStep ? s.preview : 'off', decoder: s.decoder, originalWidth: s.originalWidth, originalHeight: s.originalHeight,
      cropTop: s.cropTop, cropLeft: s.cropLeft, targetWidth: s.targetWidth, targetHeight: s.targetHeight,
      adapters: adaptersOf(s.loras),
      ...(init ? { initImage: { data: init.data, width: init.width, height: init.height } } : {}),
      ...(inpaint ? { inpaint: { pixels: inpaint.pixelMask, latent: inpaint.latentMask, fill: s.inpaintingFill === 'fill' ? 'original' : s.inpaintingFill } } : {}),
      ...(batch ? { conds: batch.conds, unconds: batch.unconds, seeds: batch.seeds } : {}),
      ...this.#segments(texts, s.steps),
    };
    // One native pass; onStep events renumbered by `map` (a hires fix counts both passes' steps).
    const run = async (passParams: object, map: (e: StepEvent) => StepEvent): Promise<NativeResult> => {
      let out: NativeResult;
      s.signal?.addEventListener('abort', onAbort, { once: true });
      try {
        out = await this.#handle.generate(passParams, onStep && ((e: StepEvent) => onStep(map(e))), cancel);
        // Step events travel on their own queue: let the ones already sent arrive before we settle.
        if (onStep) await new Promise((resolve) => setImmediate(resolve));
      } catch (e) {
        if (this.#disposed) throw new SdError('model disposed during generation', 'ERR_SD_DISPOSED', { cause: e });
        throw fromNative(e, 'ERR_SD_GENERATE');
      } finally {
        s.signal?.removeEventListener('abort', onAbort);
      }
      if (stepError) throw stepError.error;
      if (s.signal?.aborted) throw s.signal.reason;
      if (out.cancelled) {
        if (this.#disposed) throw new SdError('model disposed during generation', 'ERR_SD_DISPOSED');
        throw new SdError('generation was cancelled', 'ERR_SD_GENERATE');
      }
      return out;
    };
    const start = init && s.resizeMode === 'latent_upscale' && !inpaint && (init.width !== s.width || init.height !== s.height)
      ? await this.#latentUpscaledStart(params, s, run) : params;
    const r = s.hiresPlan ? await this.#hiresPasses(s, s.hiresPlan, start, batch, texts, run) : await run(start, (e) => e);
    const model = basename(this.path).replace(/\.[^.]*$/, '');
    const per = r.latent.length / r.images.length;
    const loras = s.loras.map((l) => ({ name: basename(l.path).replace(/\.[^.]*$/, ''), hash: loraShortHash(l.path) }));
    const embeddings = embeddingNames.map((name) => ({ name, hash: embeddingShortHash(this.#embeddings!.get(name)!.path) }));
    const a = r.adapters;
    const loraStats = s.loras.length
      ? { files: s.loras.length, modulesApplied: a.modulesApplied, modulesUnmatched: a.modulesUnmatched, mergedBytes: a.mergedBytes, mergeSeconds: a.mergeSeconds, cached: a.cached }
      : undefined;
    const vae = this.vae ? (this.#vaeInfo ??= vaeInfo(this.vae)) : undefined;
    const finals = r.images.map((data) => (inpaint ? inpaint.composite(data) : { data, width: r.width, height: r.height }));
    return finals.map(({ data, width, height }, i) => {
      const seed = r.seeds[i] ?? s.seed + i;
      const item = batch?.items[i];
      const prompt = item ? item.prompt : s.prompt, negativePrompt = item ? item.negativePrompt ?? '' : s.negativePrompt;
      const parameters = formatParameters({
        prompt, negativePrompt, steps: s.steps, sampler: s.sampler, scheduler: s.schedulerLabel,
        cfgScale: s.cfgScale, seed, width: s.hiresPlan ? s.width : width, height: s.hiresPlan ? s.height : height, model, clipSkip: s.clipSkip,
        strength: init ? s.strength : s.hiresPlan?.strength, rng: s.rng, tiling: s.tiling, loras, embeddings, vae, hires: s.hiresPlan && hiresInfo(s.hiresPlan, prompt, negativePrompt),
      });
      return new GeneratedImage(Buffer.from(data.buffer, data.byteOffset, data.byteLength), width, height, seed, parameters, r.latent.subarray(i * per, (i + 1) * per), {
        family: this.info.family, prediction: this.info.prediction,
        textSeconds: r.secondsText, samplingSeconds: r.secondsSampling, decodeSeconds: r.secondsDecode, peakActivationBytes: r.peakActivationBytes,
        decodeTiles: r.decodeTiles, encodeTiles: r.encodeTiles,
        ...(loraStats ? { loras: loraStats } : {}),
      });
    });
  }

  // A1111's "Just resize (latent upscale)": the image's latent (a strength-0 pass: the encode
  // alone), resized bilinearly as torch interpolate does, is where img2img starts.
  async #latentUpscaledStart(params: Record<string, unknown> & { initImage?: RgbImage }, s: GenerateSettings,
                             run: (p: object, map: (e: StepEvent) => StepEvent) => Promise<NativeResult>): Promise<Record<string, unknown>> {
    const { initImage, ...rest } = params;
    const { width, height } = initImage!;
    const encoded = await run({ ...params, width, height, strength: 0, decode: false }, (e) => e);
    const f = this.info.vaeDownscale;
    return { ...rest, initLatent: upscaleLatent(encoded.latent, this.#latentShape(encoded.latent, width, height), s.height / f, s.width / f, 'latent') };
  }

  // [batch, channels, h/f, w/f] of a latent the native side returned for a width × height pass
  #latentShape(latent: Float32Array, width: number, height: number): [number, number, number, number] {
    const f = this.info.vaeDownscale, c = this.info.latentChannels;
    return [latent.length / (c * (height / f) * (width / f)), c, height / f, width / f];
  }

  // The hires fix: a first pass at width × height (no decode when the latent is enlarged), then an
  // exact-steps img2img pass at the target size from the enlarged latent (one batch) or from each
  // enlarged image (one pass per image: every image is its own init image).
  async #hiresPasses(s: GenerateSettings, hires: HiresSettings, params: Record<string, unknown>,
                     batch: { items: BatchItem[]; seeds: number[]; conds: NativePrompt[]; unconds: NativePrompt[] } | undefined, texts: PromptTexts | undefined,
                     run: (p: object, map: (e: StepEvent) => StepEvent) => Promise<NativeResult>): Promise<NativeResult> {
    const f = this.info.vaeDownscale, steps2 = hires.steps || s.steps, total = s.steps + steps2;
    const target = hiresTarget(s.width, s.height, hires, f);
    const what = `the hires fix target is ${target.width}×${target.height}`;
    checkSize('width', target.width, what, this.#limits());
    checkSize('height', target.height, what, this.#limits());
    const latentUp = isLatentUpscaler(hires.upscaler);
    const first = await run({ ...params, decode: !latentUp }, (e) => ({ ...e, steps: total }));
    const { segments: _first, ...rest } = params;
    const own = texts?.hires;
    const prompts = own && {
      cond: own.conds[0], uncond: own.unconds[0], adapters: adaptersOf(own.loras), ...(batch ? { conds: own.conds, unconds: own.unconds } : {}),
    };
    const second = {
      ...rest, ...prompts, width: target.width, height: target.height, steps: steps2, strength: hires.strength, exactSteps: true, decode: true,
      sampler: hires.sampler, scheduler: hires.scheduler, ...this.#segments(own?.texts ?? texts, s.steps, steps2),
    };
    const conds = own?.conds ?? batch?.conds, unconds = own?.unconds ?? batch?.unconds;
    const later = (e: StepEvent) => ({ ...e, step: e.step + s.steps, steps: total });
    if (isLatentUpscaler(hires.upscaler)) {
      const initLatent = enlargeLatent(first.latent, this.#latentShape(first.latent, s.width, s.height), target, hires.upscaler, f);
      return run({ ...second, initLatent }, later);
    }
    const passes: NativeResult[] = [];
    for (const [i, data] of first.images.entries()) {
      const image = enlargeImage(data, s.width, s.height, target, hires.upscaler as 'lanczos' | 'nearest', f);
      passes.push(await run({
        ...second, batch: 1, seed: first.seeds[i], initImage: { data: image.data, width: image.width, height: image.height },
        ...(batch ? { conds: [conds![i]], unconds: [unconds![i]], seeds: [first.seeds[i]] } : {}),
        ...(second.segments ? { segments: (second.segments as Array<{ endAtStep: number; conds: NativePrompt[]; unconds: NativePrompt[] }>).map((g) => ({
          endAtStep: g.endAtStep, conds: [g.conds[g.conds.length === 1 ? 0 : i]], unconds: [g.unconds[g.unconds.length === 1 ? 0 : i]] })) } : {}),
      }, later));
    }
    const latent = new Float32Array(passes.reduce((k, p) => k + p.latent.length, 0));
    passes.reduce((at, p) => (latent.set(p.latent, at), at + p.latent.length), 0);
    const sum = (k: 'secondsText' | 'secondsSampling' | 'secondsDecode') => first[k] + passes.reduce((t, p) => t + p[k], 0);
    return {
      ...passes[0]!, images: passes.flatMap((p) => p.images), latent, seeds: first.seeds,
      secondsText: sum('secondsText'), secondsSampling: sum('secondsSampling'), secondsDecode: sum('secondsDecode'),
      peakActivationBytes: Math.max(first.peakActivationBytes, ...passes.map((p) => p.peakActivationBytes)),
    };
  }

  /**
   * The memory generate(options) would need, in bytes, measured on its own graphs without running
   * or allocating them: the weights plus the largest of text encoding, the UNet batch (twice the
   * images with CFG) and the VAE pass as vaeTiling would run it (a hires fix: the larger pass).
   * img2img: give width and height (the init image is not decoded here). Throws SdError as
   * generate() would for options it refuses (a prompt over maxPromptChunks, a bad size).
   */
  planMemory(options: GenerateOptions): MemoryPlan {
    if (this.#disposed) throw disposedError();
    const { initImage, mask: _mask, ...rest } = options;
    const s = resolveGenerateOptions(rest, this.#limits());
    const { text, settings } = this.#withLoras(s);
    const hires = s.hiresPlan;
    const hiresSteps = hires ? hires.steps || s.steps : undefined;
    let chunks = 1;
    for (const t of [text, settings.negativePrompt]) {
      for (const [, active] of promptSchedule(t, s.steps, hiresSteps)) chunks = Math.max(chunks, this.#weighted(active).chunks.length);
    }
    const plan = (width: number, height: number, img2img: boolean) => {
      const request = { width, height, batch: s.batchSize, chunks, cfg: s.cfgScale !== 1, img2img, vaeTiling: String(s.vaeTiling) as 'auto' | 'true' | 'false' };
      // Building a large UNet graph takes milliseconds of this thread; a server asks for the same shapes again and again.
      const key = `${JSON.stringify(request)} ${process.env.SD_NATIVE_VAE_TILE ?? ''}`;
      let known = this.#plans.get(key);
      if (!known) {
        if (this.#plans.size >= 256) this.#plans.clear();
        this.#plans.set(key, (known = this.#handle.planMemory(request)));
      }
      return known;
    };
    try {
      const first = plan(s.width, s.height, initImage !== undefined);
      if (!hires) return first;
      const target = hiresTarget(s.width, s.height, hires, this.info.vaeDownscale);
      const second = plan(target.width, target.height, !isLatentUpscaler(hires.upscaler));
      return second.totalBytes >= first.totalBytes ? second : first;
    } catch (e) {
      throw fromNative(e, 'ERR_SD_INVALID_OPTION');
    }
  }

  /** The cross-attention context the UNet sees for a prompt ([1, 77·chunks, contextDim]). */
  async encodeText(prompt: string, options: { clipSkip?: number } = {}): Promise<TextEmbedding> {
    if (this.#disposed) throw disposedError();
    const table = GENERATE_OPTIONS.filter((o) => o.name === 'prompt' || o.name === 'clipSkip');
    const o = validate(table, { ...options, prompt }, 'encodeText()', this.#limits());
    const tokens = this.#weighted(o.prompt as string);
    const handle = this.#handle;
    return this.#enqueue(async () => {
      let data: Float32Array;
      try {
        data = await handle.encodeText(toNativePrompt(tokens, this.#embeddings), o.clipSkip as number);
      } catch (e) {
        throw fromNative(e, 'ERR_SD_GENERATE');
      }
      const rows = tokens.chunks.length * 77;
      return { data, shape: [1, rows, data.length / rows], tokenCount: tokens.tokenCount };
    });
  }

  /**
   * The forward process of diffusion on a latent: q(x_t | x_0) = √ᾱ_t·x0 + √(1−ᾱ_t)·noise with the
   * model's DDPM schedule, t an integer timestep 0…999 (noise: same length as latent, N(0, 1)).
   */
  addNoise(latent: Float32Array, t: number, noise: Float32Array): Float32Array {
    if (this.#disposed) throw disposedError();
    if (!Number.isInteger(t) || t < 0 || t > 999) throw new SdError(`t must be an integer between 0 and 999, got ${t}`, 'ERR_SD_INVALID_OPTION');
    if (noise.length !== latent.length) throw new SdError(`noise has ${noise.length} values but latent has ${latent.length}`, 'ERR_SD_INVALID_OPTION');
    try {
      return this.#handle.addNoise(latent, t, noise);
    } catch (e) {
      throw fromNative(e, 'ERR_SD_GENERATE');
    }
  }

  /**
   * Forward diffusion q(x_t | x_0) of an image's latent at each timestep (0…999), decoded back
   * to pixels: what the sampler starts from at each noise level.
   */
  async noise(image: ImageLike | Uint8Array, options: { timesteps: number[]; seed?: number }): Promise<NoiseImage[]> {
    if (this.#disposed) throw disposedError();
    const handle = this.#handle;
    const { timesteps, seed = 0 } = options ?? {};
    if (!Array.isArray(timesteps) || timesteps.length === 0 || timesteps.some((t) => !Number.isInteger(t) || t < 0 || t > 999)) {
      throw new SdError(`timesteps must be a non-empty array of integers between 0 and 999, got ${JSON.stringify(timesteps)}`, 'ERR_SD_INVALID_OPTION');
    }
    checkValue(GENERATE_OPTIONS.find((o) => o.name === 'seed')!, seed);
    const rgb = toRgb(image, 'image');
    const what = `image is ${rgb.width}×${rgb.height}`;
    checkSize('width', rgb.width, what, this.#limits());
    checkSize('height', rgb.height, what, this.#limits());
    return this.#enqueue(async () => {
      let out: Buffer[];
      try {
        out = await handle.noiseStrip(rgb.data, rgb.width, rgb.height, timesteps, seed);
      } catch (e) {
        throw fromNative(e, 'ERR_SD_GENERATE');
      }
      return out.map((data, i) => ({ data, width: rgb.width, height: rgb.height, channels: 4 as const, timestep: timesteps[i]! }));
    });
  }

  /** Host <-> device traffic since load: uploads/downloads (calls, bytes) and the weights copied to the device.
   * Zeros on the CPU, where the model's memory is the host's. Safe to call while a generate() runs (a consistent snapshot). */
  transfers(): NativeTransfers {
    if (this.#disposed) throw disposedError();
    return this.#handle.transfers();
  }

  /** Frees the model. A running generation stops within one step and rejects with ERR_SD_DISPOSED. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#handle.dispose();
  }

  /** dispose(), then wait until the calls in flight have settled (`await using sd = …`). */
  async [Symbol.asyncDispose](): Promise<void> {
    this.dispose();
    await this.#queue;
  }
}

// Init images and masks beyond this are refused from their header (a 64 MP image is already 256 MB as RGBA).
const MAX_INPUT_PIXELS = 8192 * 8192;

/** JPEG and WebP bytes decoded (off the event loop, by sharp); PNG bytes and raw pixels as given. */
async function decodeCompressed(image: unknown, what: string): Promise<ImageLike | Uint8Array> {
  const format = image instanceof Uint8Array ? sniffImage(image) : undefined;
  if (format !== 'jpeg' && format !== 'webp') return image as ImageLike | Uint8Array;
  try {
    return await decodeImage(image as Uint8Array, { maxPixels: MAX_INPUT_PIXELS });
  } catch (e) {
    throw e instanceof SdError ? new SdError(`${what}: ${e.message}`, e.code, { cause: e }) : e;
  }
}

function checkSize(name: 'width' | 'height', value: number, what: string, limits: ModelLimits): number {
  const spec: OptionSpec = forModel(GENERATE_OPTIONS.find((o) => o.name === name)!, limits);
  try {
    return checkValue(spec, value) as number;
  } catch (e) {
    throw new SdError(`${what}, which this model cannot use: ${(e as Error).message}`, 'ERR_SD_IMAGE');
  }
}
