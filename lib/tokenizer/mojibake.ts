// Mojibake repair: UTF-8 text that was decoded as Latin-1 or Windows-1252 ("cafÃ©" -> "café").
//
// This is the common case of ftfy's fix_encoding, done conservatively: a segment is re-decoded only
// when ALL of it can be encoded back to single bytes (Latin-1 first, then sloppy Windows-1252, the
// order ftfy tries them) AND those bytes are strictly valid UTF-8. ftfy additionally gates the
// attempt on its "badness" heuristic and knows more encodings (Windows-1250/1251/..., MacRoman,
// cp437), byte-A0 restoration, lossy sequences and mojibake embedded in otherwise clean text; those
// are not reproduced here. Legitimate text almost never qualifies: every non-ASCII character of the
// segment would have to pair up into valid UTF-8 (e.g. 'é' followed by a space already does not).

import { cp1252Byte } from './cp1252.js';

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const NON_ASCII = /[^\x00-\x7f]/;

type SingleByte = 'latin-1' | 'cp1252';

function encodeSingleByte(text: string, enc: SingleByte): Uint8Array | null {
  const out = new Uint8Array(text.length); // every code point of a qualifying text is one unit
  for (let i = 0; i < text.length; i++) {
    const cp = text.charCodeAt(i);
    // ftfy's sloppy codecs reserve byte 0x1A for U+FFFD, so a literal U+001A rules Windows-1252 out.
    const b = enc === 'latin-1' ? (cp <= 0xff ? cp : -1) : cp === 0x1a ? -1 : cp1252Byte(cp);
    if (b < 0) return null;
    out[i] = b;
  }
  return out;
}

function fixOneStep(text: string): string {
  if (!NON_ASCII.test(text)) return text;
  for (const enc of ['latin-1', 'cp1252'] as const) {
    const bytes = encodeSingleByte(text, enc);
    if (!bytes) continue;
    try {
      return STRICT_UTF8.decode(bytes);
    } catch {
      // Not UTF-8 in this encoding; ftfy moves on to the next one.
    }
  }
  return text;
}

/** Undo (possibly repeated) UTF-8-read-as-Latin-1/Windows-1252 mojibake in one segment. */
export function fixEncoding(text: string): string {
  for (;;) {
    const next = fixOneStep(text);
    if (next === text) return text;
    text = next;
  }
}
