// C spellings of kafkatrace types and constants.
import type { KType } from '../frontend/ast.js';
import { pointeeSize } from '../frontend/types.js';
import { InternalError } from '../errors.js';

/** Types held in a C integer (u64 for pointers, symbols, stack ids, user ids, timestamps); others live in memory. */
export function isScalar(t: KType): boolean {
  return t.kind === 'int' || t.kind === 'ptr' || t.kind === 'cgroup_path' || t.kind === 'ksym' || t.kind === 'strerror' || t.kind === 'username' || t.kind === 'timestamp' || t.kind === 'kstack';
}

export function intCType(bits: number, signed: boolean): string {
  return `__${signed ? 's' : 'u'}${bits}`;
}

/** The C type of a scalar value (ints at their width; kstack a signed 64-bit id; the rest u64). */
export function scalarCType(t: KType): string {
  if (t.kind === 'int') return intCType(t.bits, t.signed);
  if (t.kind === 'kstack') return '__s64';
  return '__u64';
}

export function isSigned(t: KType): boolean {
  return (t.kind === 'int' && t.signed) || t.kind === 'kstack';
}

/** A C integer constant for a bigint, typed so that C does not reinterpret it. */
export function cInt(v: bigint): string {
  if (v < 0n) return v >= -(1n << 63n) + 1n ? `(-${-v}LL)` : `((__s64)0x8000000000000000ULL)`;
  return v <= (1n << 63n) - 1n ? `${v}LL` : `${BigInt.asUintN(64, v)}ULL`;
}

/** Which bpf_probe_read_* reads through an address of type `t`: its own space, else the probe's. */
export function readSpace(t: KType, probeReadsUser: boolean): 'user' | 'kernel' {
  const own = t.kind === 'int' || t.kind === 'ptr' || t.kind === 'struct' ? t.space : undefined;
  return own ?? (probeReadsUser ? 'user' : 'kernel');
}

/** The step of a pointer's arithmetic: the size of what it points to (the front end checked it is known). */
export function step(t: Extract<KType, { kind: 'ptr' }>): number {
  const size = pointeeSize(t);
  if (size === undefined) throw new InternalError(`arithmetic on a pointer to ${t.to.kind} of unknown size`);
  return size;
}
