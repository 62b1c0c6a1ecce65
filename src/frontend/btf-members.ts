// The members of a kernel struct or union as the type system sees them, from BTF: each member's
// byte offset and its KType (char arrays as strings, pointers as pointers, enums as integers).
import type { KType } from './ast.js';
import { type Btf, BtfKind } from './btf.js';

/** A member of a struct or union. `problem` says why a member has no type kafkatrace can read. */
export interface RecordMember {
  name: string;
  /** Bytes from the start of the record (members of anonymous structs and unions included). */
  offset: number;
  type?: KType;
  /** A bitfield: its value is `width` bits from bit `shift` of the bytes at `offset` (little-endian). */
  bitfield?: Bitfield;
  problem?: string;
  /** A member whose type is an anonymous struct or union (`struct { int x; } s;`): that record, whole. */
  anonymous?: { size: number; members: RecordMember[] };
}

export interface Bitfield {
  shift: number;
  width: number;
}

/** The name kafkatrace gives a struct or union type (`struct task_struct`), or undefined for an anonymous one. */
function recordName(btf: Btf, id: number): string | undefined {
  const t = btf.type(id);
  if (!t?.name) return undefined;
  return `${t.kind === BtfKind.Union ? 'union' : 'struct'} ${t.name}`;
}

/** What a pointer points to: void and functions as bytes (C's void * arithmetic moves by one). */
function pointee(btf: Btf, id: number, depth: number): KType {
  const { id: rid, type } = btf.resolve(id);
  if (type && (type.kind === BtfKind.Struct || type.kind === BtfKind.Union)) {
    const name = recordName(btf, rid);
    if (name) return { kind: 'struct', name, size: type.sizeOrType };
  }
  if (type?.kind === BtfKind.Fwd) return { kind: 'struct', name: `${type.kindFlag ? 'union' : 'struct'} ${type.name}` };
  const t = depth < 8 ? typeOf(btf, id, depth + 1) : undefined;
  return t && 'kind' in t ? t : { kind: 'int', bits: 8, signed: false };
}

function typeOf(btf: Btf, id: number, depth: number): KType | { problem: string } {
  const { id: rid, type } = btf.resolve(id);
  const spelled = btf.cName(id);
  if (!type) return { problem: `its type is void` };
  switch (type.kind) {
    case BtfKind.Int: {
      const size = type.sizeOrType;
      if (size !== 1 && size !== 2 && size !== 4 && size !== 8) return { problem: `its type ${spelled} has ${size} bytes (integers of 1, 2, 4 and 8 bytes are supported)` };
      return { kind: 'int', bits: (size * 8) as 8 | 16 | 32 | 64, signed: ((type.intEncoding ?? 0) & 1) === 1 };
    }
    case BtfKind.Enum:
    case BtfKind.Enum64: {
      const size = type.sizeOrType;
      if (size !== 1 && size !== 2 && size !== 4 && size !== 8) return { problem: `its type ${spelled} has ${size} bytes` };
      return { kind: 'int', bits: (size * 8) as 8 | 16 | 32 | 64, signed: type.kindFlag };
    }
    case BtfKind.Ptr:
      return { kind: 'ptr', to: pointee(btf, type.sizeOrType, depth) };
    case BtfKind.Array: {
      const elem = btf.resolve(type.array!.type).type;
      const n = type.array!.nelems;
      // Arrays of char are strings (`comm`); arrays of __u8 and other typedefs stay integers, as in bpftrace.
      if (elem?.kind === BtfKind.Int && /^(?:(?:const|volatile) )*(?:(?:un)?signed )?char$/.test(btf.cName(type.array!.type))) return { kind: 'str', size: n };
      const e = depth < 8 ? typeOf(btf, type.array!.type, depth + 1) : { problem: `its type ${spelled} nests arrays too deep` };
      if (!('kind' in e)) return e;
      // An array of structs of unknown size (a forward declaration) cannot be indexed.
      if (n > 0 && (e.kind !== 'struct' || e.size !== undefined)) return { kind: 'array', elem: e, length: n };
      return { problem: `its type ${spelled} is an array of no known size` };
    }
    case BtfKind.Struct:
    case BtfKind.Union: {
      const name = recordName(btf, rid);
      return name ? { kind: 'struct', name, size: type.sizeOrType } : { problem: `its type is an anonymous ${type.kind === BtfKind.Union ? 'union' : 'struct'}` };
    }
    default:
      return { problem: `its type ${spelled} is not supported` };
  }
}

/**
 * The members of record `id`, with the members of anonymous structs and unions in their place (as
 * C names them: `s.member`), in declaration order.
 */
export function recordMembers(btf: Btf, id: number): RecordMember[] {
  const out: RecordMember[] = [];
  const walk = (rid: number, base: number, depth: number): void => {
    const t = btf.resolve(rid).type;
    for (const m of t?.members ?? []) {
      const offset = base + Math.floor(m.bitOffset / 8);
      if (!m.name) {
        const inner = btf.resolve(m.type).type;
        if (depth < 16 && inner && (inner.kind === BtfKind.Struct || inner.kind === BtfKind.Union)) walk(m.type, offset, depth + 1);
        continue;
      }
      const mt = btf.resolve(m.type).type;
      const bitfield = m.bitSize > 0 || m.bitOffset % 8 !== 0 || (mt?.kind === BtfKind.Int && mt.intBits !== undefined && mt.intBits !== mt.sizeOrType * 8);
      if (bitfield) {
        const width = m.bitSize > 0 ? m.bitSize : (mt?.intBits ?? 0);
        const type = typeOf(btf, m.type, 0);
        if (!('kind' in type) || type.kind !== 'int' || width === 0 || m.bitOffset % 8 + width > 64) out.push({ name: m.name, offset, problem: `it is a bitfield of a type kafkatrace cannot read` });
        // bpftrace reads bitfields as unsigned whatever their declared type.
        else out.push({ name: m.name, offset, type: { kind: 'int', bits: type.bits, signed: false }, bitfield: { shift: m.bitOffset % 8, width } });
        continue;
      }
      const type = typeOf(btf, m.type, 0);
      if ('kind' in type) {
        out.push({ name: m.name, offset, type });
        continue;
      }
      const anonymous = mt && (mt.kind === BtfKind.Struct || mt.kind === BtfKind.Union) && !mt.name && depth < 16;
      out.push(anonymous ? { name: m.name, offset, problem: type.problem, anonymous: { size: mt.sizeOrType, members: recordMembers(btf, btf.resolve(m.type).id) } } : { name: m.name, offset, problem: type.problem });
    }
  };
  walk(id, 0, 0);
  return out;
}
