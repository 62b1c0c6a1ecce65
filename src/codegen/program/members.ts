// Struct and union members (`p->m`, `(*p).m`, `p->embedded.m`): read at the offset the front end
// took from BTF, with the bpf_probe_read_* of the memory the record is in (each `->` one read).
import type { Expr, KType } from '../../frontend/ast.js';
import { InternalError } from '../../errors.js';
import { typeOf } from '../../plan/events.js';
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

function readFn(g: Gen, e: Member): string {
  // A struct value is a copy in the program's own memory.
  if (!e.arrow && typeOf(e.object).kind === 'record') return 'bpf_probe_read_kernel';
  return `bpf_probe_read_${readSpace(typeOf(e.object), g.p.userMemory)}`;
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
    g.emit(`${readFn(g, e)}(&${raw}, ${bytes}, (const void *)${from});`);
    g.emit(`${scalarCType(t)} ${r} = (${scalarCType(t)})((${raw} >> ${shift}) & ${mask});`);
    return r;
  }
  const size = t.kind === 'int' ? t.bits / 8 : 8;
  g.emit(`${scalarCType(t)} ${r} = 0;`);
  g.emit(`${readFn(g, e)}(&${r}, ${size}, (const void *)${from});`);
  return r;
}

/** The first `n` bytes of a member as they are in memory (a `char[6]` that macaddr() reads, NUL or not). */
export function memberBytes(g: Gen, e: Member, p: string, n: number): void {
  g.emit(`${readFn(g, e)}(${p}, ${n}, (const void *)${memberAddress(g, e)});`);
}

/** A char array (as a string of the destination's size) or an array of integers, into memory at `p`. */
export function memberMem(g: Gen, e: Member, p: string, t: KType): void {
  const own = sizeOf(typeOf(e));
  const size = Math.min(own, sizeOf(t));
  g.emit(`${readFn(g, e)}(${p}, ${size}, (const void *)${memberAddress(g, e)});`);
  if (t.kind === 'str' && own >= t.size) g.emit(`((__u8 *)${p})[${t.size - 1}] = 0;`);
}
