/**
 * Byte-length caps on strings that will be stored as UTF-8. JS strings are UTF-16, so the cut is
 * found by walking code units and counting the bytes each code point takes when encoded.
 */

/** Longest prefix of `s` whose UTF-8 encoding is at most `maxBytes`, never splitting a code point. */
export function truncateUtf8(s: string, maxBytes: number): string {
  // A UTF-16 code unit never takes more than 3 UTF-8 bytes (a surrogate pair takes 4 for 2 units).
  if (s.length * 3 <= maxBytes) return s;
  let bytes = 0;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    let size: number;
    let units = 1;
    if (c < 0x80) size = 1;
    else if (c < 0x800) size = 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        size = 4;
        units = 2;
      } else size = 3; // lone high surrogate: encoded as U+FFFD (3 bytes)
    } else size = 3;
    if (bytes + size > maxBytes) return s.slice(0, i);
    bytes += size;
    i += units - 1;
  }
  return s;
}
