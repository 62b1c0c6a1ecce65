// Struct and union members (`p->m`, `(*p).m`, `p->embedded.m`): read at the offset the front end
// took from BTF, with the bpf_probe_read_* of the memory the record is in (each `->` one read).
import type { Expr, KType } from '../../frontend/ast.js';
import { InternalError } from '../../errors.js';
import { typeOf, type HelperName } from '../../plan/events.js';
import { sizeOf } from '../../plan/layout.js';
import { readSpace, scalarCType } from '../ctypes.js';
import type { Gen } from './context.js';

type Member = Extract<Expr, { kind: 'field' }> & { offset: number };

export function isMember(e: Extract<Expr, { kind: 'field' }>): e is Member {
  return e.offset !== undefined;
}

/** The address of a record the front end typed as a struct place: `*p`, `p->embedded`, `s.embedded`. */
function recordAddress(g: Gen, e: Expr): string {
  if (typeOf(e).kind === 'record') return `(__u64)(${g.mem(e)})`;
  if (e.kind === 'unary' && e.op === '*') return `(__u64)(${g.scalar(e.operand)})`;
  if (e.kind === 'field' && isMember(e)) return memberAddress(g, e);
  throw new InternalError(`${e.kind} is not a struct place`);
}

function memberAddress(g: Gen, e: Member): string {
  const base = e.arrow ? `(__u64)(${g.scalar(e.object)})` : recordAddress(g, e.object);
  return `(${base} + ${e.offset})`;
}

/** Reads `size` bytes of a member into `dest` (with -kk, a failed read is reported). */
function read(g: Gen, e: Member, dest: string, size: number | string, from: string): void {
  const helper = readHelper(g, e);
  const rc = g.temp();
  g.emit(`long ${rc} = bpf_${helper}(${dest}, ${size}, (const void *)${from});`);
  // bpftrace's location of a member access ends one column past the member's name.
  g.checkHelper(helper, 2, rc, `${rc} < 0`, { ...e.loc, length: e.loc.length + 1 });
}

/**
 * The read helper for a member. Where neither the pointer nor the probe says which memory it is in
 * (an integer cast to a pointer), bpf_probe_read, as bpftrace: it reads kernel memory as
 * bpf_probe_read_kernel does, user memory below it, and fails with EFAULT on a bad address.
 */
function readHelper(g: Gen, e: Member): HelperName {
  // A struct value is a copy in the program's own memory.
  if (!e.arrow && typeOf(e.object).kind === 'record') return 'probe_read_kernel';
  const t = typeOf(e.object);
  const own = t.kind === 'int' || t.kind === 'ptr' || t.kind === 'struct' ? t.space : undefined;
  if (own === undefined && !g.p.userMemory) return 'probe_read';
  return `probe_read_${readSpace(t, g.p.userMemory)}`;
}

export function memberScalar(g: Gen, e: Member): string {
  const t = typeOf(e);
  const from = memberAddress(g, e);
  const r = g.temp();
  if (e.bitfield) {
    // The bytes the bits span (the front end keeps them within 8), shifted and masked.
    const { shift, width } = e.bitfield;
    const bytes = Math.ceil((shift + width) / 8);
    const raw = g.temp();
    const mask = width === 64 ? '~0ULL' : `((1ULL << ${width}) - 1)`;
    g.emit(`__u64 ${raw} = 0;`);
    read(g, e, `&${raw}`, bytes, from);
    g.emit(`${scalarCType(t)} ${r} = (${scalarCType(t)})((${raw} >> ${shift}) & ${mask});`);
    return r;
  }
  const size = t.kind === 'int' ? t.bits / 8 : 8;
  g.emit(`${scalarCType(t)} ${r} = 0;`);
  read(g, e, `&${r}`, size, from);
  return r;
}

/** The first `n` bytes of a member as they are in memory (a `char[6]` that macaddr() reads, NUL or not). */
export function memberBytes(g: Gen, e: Member, p: string, n: number): void {
  read(g, e, p, n, memberAddress(g, e));
}

/**
 * A char array (as a string of the destination's size) or an array of integers, into memory at `p`.
 * A char array is a string of all its bytes, NUL or not, as in bpftrace: only one cut short for a
 * smaller destination ends in a NUL.
 */
export function memberMem(g: Gen, e: Member, p: string, t: KType): void {
  const own = sizeOf(typeOf(e));
  const size = Math.min(own, sizeOf(t));
  read(g, e, p, size, memberAddress(g, e));
  if (t.kind === 'str' && own > t.size) g.emit(`((__u8 *)${p})[${t.size - 1}] = 0;`);
}
