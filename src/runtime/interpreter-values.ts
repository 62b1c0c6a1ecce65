// Value semantics of user-space probe actions, identical to what the generated BPF C does: 64-bit
// wrap-around, C's signed/unsigned rules for arithmetic and comparisons (signed only when both
// operands are), division by zero giving 0, shift counts masked to 6 bits, and strings held in
// fixed-size NUL-terminated storage (a string[N] keeps at most N - 1 bytes).
import { InternalError } from '../errors.js';
import type { KType } from '../frontend/ast.js';
import type { Value } from './values.js';

type IntType = Extract<KType, { kind: 'int' }>;

const s64 = (v: bigint): bigint => BigInt.asIntN(64, v);
const u64 = (v: bigint): bigint => BigInt.asUintN(64, v);

export const isSigned = (t: KType | undefined): boolean => t?.kind === 'int' && t.signed;

/** Truncates an integer to its type's width and sign, as a C cast does. */
export function wrapInt(t: IntType): (v: bigint) => bigint {
  if (t.bits === 64) return t.signed ? s64 : u64;
  const bits = t.bits;
  return t.signed ? (v) => BigInt.asIntN(bits, v) : (v) => BigInt.asUintN(bits, v);
}

/** A string as a `string[size]` holds it: cut at a NUL and after size - 1 bytes of UTF-8. */
export function truncateString(s: string, size: number): string {
  const nul = s.indexOf('\0');
  if (nul >= 0) s = s.slice(0, nul);
  // A UTF-16 unit is at most 3 bytes of UTF-8: short strings need no measuring.
  if (s.length * 3 < size) return s;
  const bytes = Buffer.from(s, 'utf8');
  if (bytes.length < size) return s;
  // A multi-byte character cut in half decodes to U+FFFD: drop it, as it is not a whole character.
  return bytes.subarray(0, Math.max(0, size - 1)).toString('utf8').replace(/\uFFFD+$/, '');
}

/** Converts a value to how a variable, map key or map value of type `t` stores it. */
export function converter(t: KType): (v: Value) => Value {
  switch (t.kind) {
    case 'int': {
      const w = wrapInt(t);
      return (v) => (typeof v === 'bigint' ? w(v) : v);
    }
    case 'str': {
      const size = t.size;
      return (v) => (typeof v === 'string' ? truncateString(v, size) : v);
    }
    case 'tuple': {
      const elems = t.elems.map(converter);
      return (v) => (Array.isArray(v) ? v.map((x, i) => (elems[i] ? elems[i]!(x) : x)) : v);
    }
    default:
      return (v) => v;
  }
}

type IntOp = (a: bigint, b: bigint) => bigint;

/**
 * A binary arithmetic operator as the generated C computes it: in s64 when both operands are signed,
 * else in u64, then cast to the result type.
 */
export function arithmetic(op: string, lt: KType, rt: KType, result: KType): IntOp {
  const c = isSigned(lt) && isSigned(rt) ? s64 : u64;
  const out = result.kind === 'int' ? wrapInt(result) : s64;
  switch (op) {
    case '+':
      return (a, b) => out(a + b);
    case '-':
      return (a, b) => out(a - b);
    case '*':
      return (a, b) => out(a * b);
    case '&':
      return (a, b) => out(a & b);
    case '|':
      return (a, b) => out(a | b);
    case '^':
      return (a, b) => out(a ^ b);
    // BigInt division truncates toward zero and % takes the dividend's sign, like kt_sdiv/kt_smod;
    // the s64 wrap turns INT64_MIN / -1 back into INT64_MIN as the C does.
    case '/':
      return (a, b) => (b === 0n ? 0n : out(c(c(a) / c(b))));
    case '%':
      return (a, b) => (b === 0n ? 0n : out(c(c(a) % c(b))));
    case '<<':
      return (a, b) => out(c(a) << (b & 63n));
    case '>>':
      return (a, b) => out(c(a) >> (b & 63n));
    default:
      throw new InternalError(`no arithmetic operator '${op}'`);
  }
}

/** An integer comparison, signed only when both operands are signed; 1n or 0n. */
export function comparison(op: string, lt: KType, rt: KType): IntOp {
  const c = isSigned(lt) && isSigned(rt) ? s64 : u64;
  switch (op) {
    case '<':
      return (a, b) => (c(a) < c(b) ? 1n : 0n);
    case '<=':
      return (a, b) => (c(a) <= c(b) ? 1n : 0n);
    case '>':
      return (a, b) => (c(a) > c(b) ? 1n : 0n);
    case '>=':
      return (a, b) => (c(a) >= c(b) ? 1n : 0n);
    case '==':
      return (a, b) => (c(a) === c(b) ? 1n : 0n);
    case '!=':
      return (a, b) => (c(a) !== c(b) ? 1n : 0n);
    default:
      throw new InternalError(`no comparison operator '${op}'`);
  }
}

/**
 * `-x` and `~x` as C computes them on the operand's own type: 8- and 16-bit operands are promoted to
 * int first, a uint32 stays 32 bits, then the result is cast to the expression's type.
 */
export function unaryOp(op: '-' | '~', operand: KType, result: KType): (v: bigint) => bigint {
  const out = result.kind === 'int' ? wrapInt(result) : s64;
  const f = op === '-' ? (v: bigint) => -v : (v: bigint) => ~v;
  if (operand.kind === 'int' && !operand.signed && operand.bits === 32) return (v) => out(BigInt.asUintN(32, f(v)));
  return (v) => out(f(v));
}

/** C's strncmp over NUL-terminated storage: 0 when the first n bytes agree, else 1 (as kt_strncmp). */
export function strncmp(a: string, b: string, n: number): bigint {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  for (let i = 0; i < n; i++) {
    const ca = x[i] ?? 0;
    if (ca !== (y[i] ?? 0)) return 1n;
    if (ca === 0) return 0n;
  }
  return 0n;
}

/**
 * ntop() of an integer: its low 4 bytes as they lie in memory (little-endian), as the kernel side
 * copies them; an AF_INET6 family gets them as the first of 16 bytes, the rest zero.
 */
export function inetOfInt(af: number, v: bigint): Value {
  const x = Number(BigInt.asUintN(32, v));
  const bytes = new Uint8Array(af === AF_INET6 ? 16 : 4);
  bytes.set([x & 0xff, (x >>> 8) & 0xff, (x >>> 16) & 0xff, x >>> 24]);
  return { kind: 'inet', af, bytes };
}

const AF_INET6 = 10;
