// The only ways script text reaches generated C. String contents become C literals whose every byte
// outside a small safe set is an octal escape, so quotes, backslashes, newlines, NULs, `*/` and
// trigraphs (`??/`) cannot end the literal or start code; names become sanitised identifiers.

const SAFE = /^[A-Za-z0-9 _.,:;!#%&()+\-=<>@[\]^{}|~$]$/;

/** The UTF-8 bytes of `s` as a C string literal, e.g. `"a\042b"`. */
export function cStringLiteral(s: string): string {
  let out = '"';
  for (const byte of Buffer.from(s, 'utf8')) {
    const ch = String.fromCharCode(byte);
    out += byte < 0x80 && SAFE.test(ch) ? ch : '\\' + byte.toString(8).padStart(3, '0');
  }
  return out + '"';
}

/** A C character constant for one byte, as a number (never quoted text). */
export function cByte(byte: number): string {
  return String(byte & 0xff);
}

/** A C identifier made from `name`: identifier characters kept, others `_`, never a leading digit. */
export function cIdent(name: string): string {
  const s = name.replace(/[^A-Za-z0-9_]/g, '_');
  return /^[0-9]/.test(s) || s === '' ? '_' + s : s;
}

/** Text safe inside a C block comment: only characters that cannot close it or form trigraphs. */
export function cComment(s: string): string {
  return s.replace(/[^A-Za-z0-9 _.,:;#%&()+\-=<>@[\]^{}|~$]/g, '_');
}
