// Which checkpoint a command uses: -m, or the small model from @sd-native/tiny-model.
import { requireDefaultModel } from '../default-model.js';

/** The -m path, or the default model; a missing default is explained (exit 1). */
export function modelPath(given: string | undefined): string {
  return given ?? requireDefaultModel();
}
