// --preview / --taesd of the commands that run jobs (serve, worker).
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { packageRoot } from '../package-root.js';
import { UsageError, str, type Parsed } from './args.js';

/** --preview cheap|taesd, or undefined when not given. */
export function parsePreview(values: Parsed['values'], usage: string): 'cheap' | 'taesd' | undefined {
  const preview = str(values, 'preview');
  if (preview !== undefined && preview !== 'cheap' && preview !== 'taesd') throw new UsageError(`--preview must be cheap or taesd, got ${preview}`, usage);
  return preview;
}

/**
 * Previews through TAESD load its decoder at the first step event: a missing file is said at
 * start, not as every request's error (the file rule is the native loader's, taesd_decode.cpp).
 */
export function requireTaesd(taesd: string | undefined, family: string, usage: string): void {
  const path = taesd ?? join(packageRoot, 'models', 'taesd');
  const file = existsSync(path) && statSync(path).isDirectory() ? join(path, family === 'sdxl' ? 'taesdxl_decoder.safetensors' : 'taesd_decoder.safetensors') : path;
  if (!existsSync(file)) {
    throw new UsageError(`--preview taesd: TAESD decoder "${file}" not found; give --taesd a taesd_decoder.safetensors (SD1/SD2) or taesdxl_decoder.safetensors (SDXL)`, usage);
  }
}
