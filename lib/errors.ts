// Errors sd-native throws. Every one is an SdError with a stable `code`; the message is the
// whole explanation (what was wrong, with the value, and what to do). Native failures keep the
// core's message verbatim and carry the original error as `cause`.
//
//   try { await sd.generate({ prompt, width: 500 }) }
//   catch (e) { if (e instanceof SdError && e.code === 'ERR_SD_INVALID_OPTION') … }

export type SdErrorCode =
  | 'ERR_SD_INVALID_OPTION' // an option failed validation (lib/options.ts)
  | 'ERR_SD_LOAD' // the model file could not be opened or is not a usable checkpoint
  | 'ERR_SD_GENERATE' // the native core failed during generation or text encoding
  | 'ERR_SD_DISPOSED' // the model was disposed before or during the call
  | 'ERR_SD_IMAGE' // an image (PNG or raw pixels) could not be read or does not fit
  | 'ERR_SD_UNSUPPORTED' // this build of the addon lacks the requested feature
  | 'ERR_SD_DEVICE'; // the load option device names a device this build or machine does not have

export class SdError extends Error {
  readonly code: SdErrorCode;

  constructor(message: string, code: SdErrorCode, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SdError';
    this.code = code;
  }
}

/** An Error from the addon (or anything thrown) as an SdError with the same message. */
export function fromNative(e: unknown, code: SdErrorCode): SdError {
  if (e instanceof SdError) return e;
  const message = e instanceof Error ? e.message : String(e);
  // the addon marks errors that have a code of their own (an unusable device)
  const own = (e as { code?: unknown } | null)?.code === 'ERR_SD_DEVICE' ? 'ERR_SD_DEVICE' : code;
  return new SdError(message, own, { cause: e });
}
