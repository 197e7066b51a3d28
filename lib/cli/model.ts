// Which checkpoint a command uses: -m, or the small model shipped in models/.
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';

import { packageRoot } from '../binding.js';

export const DEFAULT_MODEL = join(packageRoot, 'models', 'sd-native-tiny.safetensors');

/** The -m path, or the default model; a missing default is explained (exit 1). */
export function modelPath(given: string | undefined): string {
  if (given !== undefined) return given;
  if (!existsSync(DEFAULT_MODEL)) {
    throw new Error(
      `no model given, and the default model ${relative(process.cwd(), DEFAULT_MODEL) || DEFAULT_MODEL} is not there ` +
        `(it ships with released packages; in a clone it is made by train/). ` +
        'Pass a checkpoint with -m path/to/model.safetensors (any single-file SD 1.x / 2.x / XL .safetensors)',
    );
  }
  return DEFAULT_MODEL;
}
