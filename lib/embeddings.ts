// Textual-inversion embeddings as A1111 loads them (modules/textual_inversion): every .safetensors
// file of a folder is one embedding named after the file; a prompt that contains the name's tokens
// gets the file's vectors in their place (one token slot per vector, counted in the 75-token chunk).
//
//   const lib = new EmbeddingLibrary('/models/embeddings', { main: 768 }, tokenizer);
//   lib.matcher()                    // for tokenizeWeighted: finds "easynegative" in a prompt's ids
//   lib.get('easynegative').main     // Float32Array, vectors × 768
//
// File forms (A1111 create_embedding_from_data): one tensor [n, width] or [width] under any key
// (emb_params, string_to_param.*), or SDXL's pair clip_l [n, 768] + clip_g [n, 1280]. Files of
// another model's width are skipped with a reason, as A1111 skips them; pickled .pt/.bin files are
// listed as skipped and never opened.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync, type Dirent } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';

import { native } from './binding.js';
import { SdError } from './errors.js';
import type { ClipTokenizer, EmbeddingMatch } from './tokenizer/index.js';

export interface Embedding {
  name: string;
  path: string;
  vectors: number;
  /** vectors × the main encoder's width (SD1 CLIP-L, SD2 OpenCLIP, SDXL CLIP-L) */
  main: Float32Array;
  /** SDXL only: vectors × bigG's width */
  second?: Float32Array;
  /** the name's token ids (without start/end), what a prompt must contain */
  ids: number[];
}

export interface EncoderWidths {
  main: number;
  /** SDXL's bigG width; undefined for one-encoder models */
  second?: number;
}

const MAX_FILE_BYTES = 64 << 20;
const PICKLED = new Set(['.pt', '.bin', '.ckpt', '.pth']);

export class EmbeddingLibrary {
  readonly dir: string;
  #loaded = new Map<string, Embedding>();
  #skipped = new Map<string, string>();
  #byFirstId = new Map<number, Embedding[]>();
  #scanned = false;

  constructor(dir: string, readonly widths: EncoderWidths, readonly tokenizer: ClipTokenizer) {
    this.dir = resolve(dir);
  }

  /** Reads the folder again. */
  refresh(): void {
    this.#loaded.clear();
    this.#skipped.clear();
    this.#byFirstId.clear();
    let entries: Dirent[];
    try {
      entries = readdirSync(this.dir, { withFileTypes: true, recursive: true });
    } catch (e) {
      throw new SdError(`embeddingsDir "${this.dir}" cannot be read: ${(e as Error).message}`, 'ERR_SD_INVALID_OPTION');
    }
    for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (!entry.isFile()) continue;
      const ext = extname(entry.name).toLowerCase();
      const name = basename(entry.name, extname(entry.name));
      const path = join(entry.parentPath ?? (entry as unknown as { path: string }).path, entry.name);
      if (PICKLED.has(ext)) this.#skipped.set(name, `${path} is a pickled PyTorch file (never opened: it can run code); convert it to .safetensors`);
      else if (ext === '.safetensors' && !this.#loaded.has(name)) this.#load(name, path);
    }
    for (const e of this.#loaded.values()) {
      const list = this.#byFirstId.get(e.ids[0]!) ?? [];
      list.push(e);
      list.sort((a, b) => b.ids.length - a.ids.length); // longest name first, as A1111 matches
      this.#byFirstId.set(e.ids[0]!, list);
    }
    this.#scanned = true;
  }

  #load(name: string, path: string): void {
    let tensors: Record<string, { shape: number[]; data: Float32Array }>;
    try {
      tensors = native.readSmallTensors(path, MAX_FILE_BYTES);
    } catch (e) {
      this.#skipped.set(name, `${path}: ${(e as Error).message}`);
      return;
    }
    const ids = this.tokenizer.encode(name);
    if (ids.length === 0) {
      this.#skipped.set(name, `${path}: the name has no tokens a prompt could contain`);
      return;
    }
    const keys = Object.keys(tensors);
    const rows = (t: { shape: number[]; data: Float32Array }) => (t.shape.length === 1 ? 1 : t.shape[0]!);
    const width = (t: { shape: number[]; data: Float32Array }) => t.shape[t.shape.length - 1]!;
    const skip = (why: string) => void this.#skipped.set(name, `${path}: ${why}`);
    const { main, second } = this.widths;
    if (tensors.clip_l && tensors.clip_g) {
      if (second === undefined) return skip('an SDXL embedding (clip_l + clip_g); this model has one text encoder');
      const l = tensors.clip_l, g = tensors.clip_g;
      if (width(l) !== main || width(g) !== second || rows(l) !== rows(g)) {
        return skip(`clip_l ${l.shape.join('×')} / clip_g ${g.shape.join('×')} do not fit this model's encoders (${main} / ${second})`);
      }
      this.#loaded.set(name, { name, path, vectors: rows(g), main: l.data, second: g.data, ids });
      return;
    }
    if (keys.length !== 1) return skip(`holds ${keys.length} tensors (${keys.slice(0, 4).join(', ')}); an embedding file holds one, or clip_l + clip_g`);
    const t = tensors[keys[0]!]!;
    if (t.shape.length > 2 || width(t) !== main || second !== undefined) {
      return skip(`vectors ${t.shape.join('×')} are for another model (this one needs ${second !== undefined ? `clip_l + clip_g (${main} / ${second})` : `width ${main}`})`);
    }
    this.#loaded.set(name, { name, path, vectors: rows(t), main: t.data, ids });
  }

  #ensure(): void {
    if (!this.#scanned) this.refresh();
  }

  loaded(): ReadonlyMap<string, Embedding> {
    this.#ensure();
    return this.#loaded;
  }

  /** name → why the file is not used */
  skipped(): ReadonlyMap<string, string> {
    this.#ensure();
    return this.#skipped;
  }

  get(name: string): Embedding | undefined {
    this.#ensure();
    return this.#loaded.get(name);
  }

  /** For the tokenizer: the embedding whose name's ids start at tokens[position], longest first. */
  matcher(): (tokens: readonly number[], position: number) => EmbeddingMatch | undefined {
    this.#ensure();
    return (tokens, position) => {
      for (const e of this.#byFirstId.get(tokens[position]!) ?? []) {
        let same = position + e.ids.length <= tokens.length;
        for (let k = 1; same && k < e.ids.length; k++) same = tokens[position + k] === e.ids[k];
        if (same) return { name: e.name, vectors: e.vectors, tokenLength: e.ids.length };
      }
      return undefined;
    };
  }
}

const fileHashes = new Map<string, { key: string; hash: string }>();

/** A1111's "TI hashes" value: sha256 of the whole file, first 12 hex digits (cached per size and mtime). */
export function embeddingShortHash(path: string): string {
  const st = statSync(path);
  const key = `${st.size}:${st.mtimeMs}`;
  const cached = fileHashes.get(path);
  if (cached?.key === key) return cached.hash;
  const hash = createHash('sha256').update(readFileSync(path)).digest('hex').slice(0, 12);
  fileHashes.set(path, { key, hash });
  return hash;
}
