// bpftrace prints buffers (buf(), %r) with printable ASCII as-is and every other byte as `\xNN`.
export function hexFormatBuffer(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) {
    out += b >= 32 && b <= 126 ? String.fromCharCode(b) : '\\x' + b.toString(16).padStart(2, '0');
  }
  return out;
}
