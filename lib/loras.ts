// LoRA files as A1111 users ask for them: `<lora:name:weight>` (or `<lora:name:te:unet>`,
// `<lora:name:te=0.5:unet=1>`) tags in the prompt, found by name in a LoRA folder and removed from
// the text the encoder sees, plus the `loras` option's explicit paths. The native core merges the
// files (native/adapters); this side only finds them and names them in the infotext.
//
//   const found = extractLoraTags('a cat <lora:ink:0.8>');   // { prompt: 'a cat ', tags: [{ name: 'ink', … }] }
//   const dir = new LoraDirectory('/models/Lora');
//   dir.resolve('ink')                                        // '/models/Lora/styles/ink.safetensors'
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync, readdirSync, statSync, type Dirent } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';

import { native } from './binding.js';
import { SdError } from './errors.js';
import { suggest, type LoraFile } from './options.js';

export interface LoraTag {
  name: string;
  textWeight: number;
  unetWeight: number;
}

const invalid = (message: string) => new SdError(message, 'ERR_SD_INVALID_OPTION');

// A1111's extra-network syntax: <type:arg:arg…>; every such tag leaves the prompt.
const EXTRA_NETWORK = /<(\w+):([^>]+)>/g;
const PICKLED = new Set(['.pt', '.ckpt', '.bin', '.pth']);

function tagWeight(text: string, tag: string): number {
  const v = Number(text.trim());
  if (text.trim() === '' || !Number.isFinite(v) || Math.abs(v) > 100) throw invalid(`${tag}: weight "${text}" is not a number between -100 and 100`);
  return v;
}

/** Takes `<lora:…>` tags out of a prompt (as A1111 does: the encoder never sees them). */
export function extractLoraTags(prompt: string): { prompt: string; tags: LoraTag[] } {
  const tags: LoraTag[] = [];
  const stripped = prompt.replace(EXTRA_NETWORK, (tag, type: string, args: string) => {
    const kind = type.toLowerCase();
    if (kind !== 'lora' && kind !== 'lyco') {
      throw invalid(`${tag}: sd-native applies <lora:name:weight> networks only (not "${type}"); remove the tag`);
    }
    const positional: string[] = [];
    const named: Record<string, string> = {};
    for (const part of args.split(':')) {
      const eq = part.indexOf('=');
      if (eq > 0) named[part.slice(0, eq).trim()] = part.slice(eq + 1);
      else positional.push(part);
    }
    const name = positional[0]?.trim() ?? '';
    if (name === '') throw invalid(`${tag}: the tag names no LoRA`);
    for (const key of Object.keys(named)) {
      if (key !== 'te' && key !== 'unet') throw invalid(`${tag}: unknown argument "${key}"; <lora:name:te:unet> takes te= and unet=`);
    }
    if (positional.length > 3) throw invalid(`${tag}: too many arguments; the form is <lora:name:weight> or <lora:name:te_weight:unet_weight>`);
    const textWeight = tagWeight(named.te ?? positional[1] ?? '1', tag);
    const unetWeight = named.unet !== undefined || positional[2] !== undefined ? tagWeight(named.unet ?? positional[2]!, tag) : textWeight;
    tags.push({ name, textWeight, unetWeight });
    return '';
  });
  const open = stripped.search(/<(lora|lyco):/i);
  if (open >= 0) throw invalid(`prompt: "${stripped.slice(open, open + 40)}" opens a <lora: tag that never closes with ">"`);
  return { prompt: stripped, tags };
}

/** The .safetensors files of a LoRA folder (and its subfolders), by name (file name without extension). */
export class LoraDirectory {
  readonly dir: string;
  #byName = new Map<string, string>();
  #pickled = new Map<string, string>();
  #scanned = false;

  constructor(dir: string) {
    this.dir = resolve(dir);
  }

  /** Reads the folder again (new or removed files). */
  refresh(): void {
    this.#byName.clear();
    this.#pickled.clear();
    const walk = (dir: string, depth: number) => {
      let entries: Dirent[];
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch (e) {
        if (depth === 0) throw new SdError(`loraDir "${this.dir}" cannot be read: ${(e as Error).message}`, 'ERR_SD_INVALID_OPTION');
        return;
      }
      for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
        const path = join(dir, entry.name);
        if (entry.isDirectory() && depth < 8) walk(path, depth + 1);
        const ext = extname(entry.name).toLowerCase();
        const name = basename(entry.name, extname(entry.name));
        if (!entry.isFile()) continue;
        if (ext === '.safetensors' && !this.#byName.has(name)) this.#byName.set(name, path);
        else if (PICKLED.has(ext)) this.#pickled.set(name, path);
      }
    };
    walk(this.dir, 0);
    this.#scanned = true;
  }

  /** name → path of every LoRA file found. */
  list(): Array<{ name: string; path: string }> {
    if (!this.#scanned) this.refresh();
    return [...this.#byName].map(([name, path]) => ({ name, path }));
  }

  /** The file a tag names; throws with close names when there is none. A miss rescans the folder once. */
  resolve(name: string): string {
    if (!this.#scanned || !this.#byName.has(name)) this.refresh();
    const hit = this.#byName.get(name);
    if (hit) return hit;
    const pickled = this.#pickled.get(name);
    if (pickled) {
      throw new SdError(`LoRA "${name}" is ${pickled}, a pickled PyTorch file; sd-native never unpickles (it can run code). ` +
        'Convert it to .safetensors and put that in the folder', 'ERR_SD_INVALID_OPTION');
    }
    const names = [...this.#byName.keys()];
    const close = suggest(name, names);
    const near = names.filter((n) => n.toLowerCase().includes(name.toLowerCase()) || name.toLowerCase().includes(n.toLowerCase())).slice(0, 5);
    const hints = [...new Set([...(close ? [close] : []), ...near])];
    throw new SdError(`unknown LoRA "${name}" in ${this.dir}` +
      (hints.length ? `; did you mean ${hints.map((h) => `"${h}"`).join(', ')}?` : ` (it holds ${names.length} .safetensors files)`), 'ERR_SD_INVALID_OPTION');
  }
}

/** The files a generation applies: the option's first, then the prompt's tags in order. */
export function lorasFor(explicit: readonly LoraFile[], tags: readonly LoraTag[], dir: LoraDirectory | undefined, max: number): LoraFile[] {
  if (explicit.length + tags.length > max) {
    throw invalid(`loras: at most ${max} LoRA files per generation, got ${explicit.length + tags.length} (${tags.length} from <lora:…> tags)`);
  }
  const fromTags = tags.map((t) => {
    if (!dir) throw invalid(`the prompt asks for <lora:${t.name}> but the model was loaded without loraDir`);
    return { path: dir.resolve(t.name), textWeight: t.textWeight, unetWeight: t.unetWeight };
  });
  return [...explicit.map((l) => ({ ...l, path: resolve(l.path) })), ...fromTags];
}

/** A safetensors file's __metadata__ (kohya records its training settings there), read by the addon's
 * validated header reader; {} when the file cannot be read. */
export function loraMetadata(path: string): Record<string, string> {
  try {
    return native.inspectSafetensors(path).metadata;
  } catch {
    return {};
  }
}

const hashes = new Map<string, { key: string; hash: string }>();

/**
 * A1111's "addnet" hash of a safetensors file: sha256 of everything after the JSON header, first
 * 12 hex digits (the value its infotext records under "Lora hashes"). Cached per (path, size, mtime).
 */
export function loraShortHash(path: string): string {
  const st = statSync(path);
  const key = `${st.size}:${st.mtimeMs}`;
  const cached = hashes.get(path);
  if (cached?.key === key) return cached.hash;
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(8);
    readSync(fd, head, 0, 8, 0);
    const headerBytes = Number(head.readBigUInt64LE(0));
    const h = createHash('sha256');
    const chunk = Buffer.alloc(1 << 20);
    for (let pos = 8 + headerBytes; pos < st.size;) {
      const n = readSync(fd, chunk, 0, chunk.length, pos);
      if (n <= 0) break;
      h.update(chunk.subarray(0, n));
      pos += n;
    }
    const hash = h.digest('hex').slice(0, 12);
    hashes.set(path, { key, hash });
    return hash;
  } finally {
    closeSync(fd);
  }
}
