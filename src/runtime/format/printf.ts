// bpftrace's printf: C printf semantics applied to 64-bit values, as bpftrace 0.17 hands each argument
// to snprintf: without a length modifier %d/%u/%x/%o see an int (the low 32 bits), `hh` a char, `h` a
// short, and `l`, `ll`, `j`, `z`, `t` the full 64 bits. %s prints strings up to their NUL, %r a buffer as
// bpftrace's hex escapes (%rx every byte escaped, %rh bytes as space-separated hex), %p a pointer (`(nil)` for 0, as glibc prints it).
import type { Value } from '../values.js';
import { type BufferStyle, hexFormatBuffer } from './buffer.js';

const BUFFER_STYLES: Record<string, BufferStyle> = { r: 'ascii', rx: 'escaped', rh: 'hex' };

interface FormatSpec {
  /** The specification as written. */
  text: string;
  flags: string;
  width?: number;
  precision?: number;
  length: string;
  conversion: string;
}

type FormatPiece = string | FormatSpec;

const SPEC = /%([-+ #0]*)(\d+)?(?:\.(\d*))?(hh|h|ll|l|j|z|t)?(r[xh]|[diouxXcsp%r])/y;

/** Splits a format string into literal text and conversion specifications. */
export function parseFormat(format: string): FormatPiece[] {
  const pieces: FormatPiece[] = [];
  let literal = '';
  let i = 0;
  while (i < format.length) {
    if (format[i] !== '%') {
      literal += format[i];
      i++;
      continue;
    }
    SPEC.lastIndex = i;
    const m = SPEC.exec(format);
    if (!m) {
      literal += '%';
      i++;
      continue;
    }
    if (m[5] === '%') {
      literal += '%';
    } else {
      if (literal) pieces.push(literal);
      literal = '';
      pieces.push({
        text: m[0],
        flags: m[1] ?? '',
        width: m[2] !== undefined ? Number(m[2]) : undefined,
        precision: m[3] !== undefined ? Number(m[3] || '0') : undefined,
        length: m[4] ?? '',
        conversion: m[5]!,
      });
    }
    i = SPEC.lastIndex;
  }
  if (literal) pieces.push(literal);
  return pieces;
}

function bitsFor(length: string): number {
  switch (length) {
    case 'hh':
      return 8;
    case 'h':
      return 16;
    case '':
      return 32;
    default:
      return 64;
  }
}

const byteLength = (s: string): number => Buffer.byteLength(s, 'utf8');

function pad(s: string, spec: FormatSpec, zeroPrefixLength = -1): string {
  const width = spec.width ?? 0;
  const missing = width - byteLength(s);
  if (missing <= 0) return s;
  if (spec.flags.includes('-')) return s + ' '.repeat(missing);
  if (zeroPrefixLength >= 0) return s.slice(0, zeroPrefixLength) + '0'.repeat(missing) + s.slice(zeroPrefixLength);
  return ' '.repeat(missing) + s;
}

function toBigint(v: Value | undefined): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'string') return 0n;
  if (v === undefined || v instanceof Uint8Array || Array.isArray(v)) return 0n;
  switch (v.kind) {
    case 'ksym':
    case 'usym':
      return v.addr;
    case 'username':
      return BigInt(v.uid);
    case 'strerror':
      return BigInt(v.errno);
    case 'timestamp':
      return v.ns;
    case 'kstack':
    case 'ustack':
      return BigInt(v.stackId);
    default:
      return 0n;
  }
}

function formatInteger(spec: FormatSpec, raw: bigint): string {
  const bits = bitsFor(spec.length);
  const signed = spec.conversion === 'd' || spec.conversion === 'i';
  const value = signed ? BigInt.asIntN(bits, raw) : BigInt.asUintN(bits, raw);
  const negative = value < 0n;
  const magnitude = negative ? -value : value;
  const base = spec.conversion === 'o' ? 8 : spec.conversion === 'x' || spec.conversion === 'X' ? 16 : 10;
  let digits = magnitude.toString(base);
  if (spec.conversion === 'X') digits = digits.toUpperCase();
  if (spec.precision !== undefined) {
    digits = spec.precision === 0 && magnitude === 0n ? '' : digits.padStart(spec.precision, '0');
  }
  let prefix = '';
  if (negative) prefix = '-';
  else if (signed && spec.flags.includes('+')) prefix = '+';
  else if (signed && spec.flags.includes(' ')) prefix = ' ';
  if (spec.flags.includes('#')) {
    if (spec.conversion === 'o' && !digits.startsWith('0')) digits = '0' + digits;
    else if (spec.conversion === 'x' && magnitude !== 0n) prefix += '0x';
    else if (spec.conversion === 'X' && magnitude !== 0n) prefix += '0X';
  }
  const zeroPad = spec.flags.includes('0') && !spec.flags.includes('-') && spec.precision === undefined;
  return pad(prefix + digits, spec, zeroPad ? prefix.length : -1);
}

function formatString(spec: FormatSpec, s: string): string {
  let text = s;
  if (spec.precision !== undefined && byteLength(text) > spec.precision) {
    text = Buffer.from(text, 'utf8').subarray(0, spec.precision).toString('utf8');
  }
  return pad(text, spec);
}

/** Formats one conversion; `render` turns a non-integer value into the text %s prints for it. */
function formatSpec(spec: FormatSpec, arg: Value | undefined, render: (v: Value) => string): string {
  switch (spec.conversion) {
    case 'd':
    case 'i':
    case 'u':
    case 'o':
    case 'x':
    case 'X':
      return formatInteger(spec, toBigint(arg));
    case 'c':
      return pad(String.fromCharCode(Number(BigInt.asUintN(8, toBigint(arg)))), spec);
    case 'p': {
      const p = BigInt.asUintN(64, toBigint(arg));
      return pad(p === 0n ? '(nil)' : '0x' + p.toString(16), spec);
    }
    case 'r':
    case 'rx':
    case 'rh':
      // bpftrace hands a buffer conversion with flags, a width or a precision to snprintf as written,
      // which prints it as it is (and consumes the argument).
      if (spec.text.length !== 1 + spec.conversion.length) return spec.text;
      return formatString(spec, arg instanceof Uint8Array ? hexFormatBuffer(arg, BUFFER_STYLES[spec.conversion]) : arg === undefined ? '' : render(arg));
    default:
      return formatString(spec, arg === undefined ? '' : render(arg));
  }
}

// A script has a handful of formats and prints them at high rates: parse each once.
const parsed = new Map<string, FormatPiece[]>();

function cachedParse(format: string): FormatPiece[] {
  let pieces = parsed.get(format);
  if (!pieces) {
    pieces = parseFormat(format);
    if (parsed.size < 4096) parsed.set(format, pieces);
  }
  return pieces;
}

/** printf(format, args...) as bpftrace prints it. */
export function formatPrintf(format: string | FormatPiece[], args: Value[], render: (v: Value) => string): string {
  const pieces = typeof format === 'string' ? cachedParse(format) : format;
  let out = '';
  let next = 0;
  for (const piece of pieces) {
    out += typeof piece === 'string' ? piece : formatSpec(piece, args[next++], render);
  }
  return out;
}
