// Windows-1252 in its "sloppy" form (as web browsers and ftfy read it): bytes 0x80..0x9F map to
// the characters below; the five bytes Windows leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D)
// map to the C1 control of the same number. Bytes 0x00..0x7F and 0xA0..0xFF equal Latin-1.

/** Character for byte 0x80 + i, i in 0..31. */
export const CP1252_HIGH: readonly string[] = [
  '\u20ac', '\x81', '\u201a', '\u0192', '\u201e', '\u2026', '\u2020', '\u2021',
  '\u02c6', '\u2030', '\u0160', '\u2039', '\u0152', '\x8d', '\u017d', '\x8f',
  '\x90', '\u2018', '\u2019', '\u201c', '\u201d', '\u2022', '\u2013', '\u2014',
  '\u02dc', '\u2122', '\u0161', '\u203a', '\u0153', '\x9d', '\u017e', '\u0178',
];

let reverse: Map<number, number> | undefined;

/** Byte for a code point in sloppy Windows-1252, or -1 if it has none. */
export function cp1252Byte(cp: number): number {
  if (cp < 0x80 || (cp >= 0xa0 && cp <= 0xff)) return cp;
  if (!reverse) {
    reverse = new Map();
    CP1252_HIGH.forEach((ch, i) => reverse!.set(ch.codePointAt(0)!, 0x80 + i));
  }
  return reverse.get(cp) ?? -1;
}
