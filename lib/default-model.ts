// The small model we ship in its own package (@sd-native/tiny-model, a dependency): what
// StableDiffusion.load() and the CLI use when no checkpoint is given.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

import { moduleUrl } from './package-root.js';

export const DEFAULT_MODEL_PACKAGE = '@sd-native/tiny-model';

/** the default model's path, or undefined when its package is not installed */
export function defaultModelPath(): string | undefined {
  try {
    const { modelPath } = createRequire(moduleUrl)(DEFAULT_MODEL_PACKAGE) as { modelPath: string };
    return existsSync(modelPath) ? modelPath : undefined;
  } catch {
    return undefined;
  }
}

/** The default model's path; explains what to do when it is missing. */
export function requireDefaultModel(): string {
  const path = defaultModelPath();
  if (path === undefined) {
    throw new Error(
      `no model given, and the default model (package ${DEFAULT_MODEL_PACKAGE}, sd-native-tiny.safetensors) is not installed: ` +
        `\`npm install ${DEFAULT_MODEL_PACKAGE}\`, or pass a checkpoint with -m path/to/model.safetensors ` +
        '(any single-file SD 1.x / 2.x / XL .safetensors)',
    );
  }
  return path;
}
