/**
 * How bpftrace prints a buffer: `ascii` (buf(), %r) printable ASCII as-is and every other byte as
 * `\\xNN`; `escaped` (%rx) every byte as `\\xNN`; `hex` (%rh) every byte as two hex digits, spaced.
 */
export type BufferStyle = 'ascii' | 'escaped' | 'hex';

export function hexFormatBuffer(bytes: Uint8Array, style: BufferStyle = 'ascii'): string {
  if (style === 'hex') return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
  let out = '';
  for (const b of bytes) {
    out += style === 'ascii' && b >= 32 && b <= 126 ? String.fromCharCode(b) : '\\x' + b.toString(16).padStart(2, '0');
  }
  return out;
}
