// KType constructors, comparison and naming (names follow bpftrace's messages: int64, string[16]).
import type { KType } from './ast.js';

export const INT64: KType = { kind: 'int', bits: 64, signed: true };
export const UINT64: KType = { kind: 'int', bits: 64, signed: false };
export const NONE: KType = { kind: 'none' };

export function isInt(t: KType | undefined): t is Extract<KType, { kind: 'int' }> {
  return t?.kind === 'int';
}

export function isStr(t: KType | undefined): t is Extract<KType, { kind: 'str' }> {
  return t?.kind === 'str';
}

export function typeName(t: KType): string {
  switch (t.kind) {
    case 'int':
      return `${t.signed ? 'int' : 'uint'}${t.bits}`;
    case 'str':
      return `string[${t.size}]`;
    case 'buf':
      return `buffer[${t.size}]`;
    case 'tuple':
      return `(${t.elems.map(typeName).join(', ')})`;
    case 'ptr':
      return `${typeName(t.to)} *`;
    case 'array':
      return `${typeName(t.elem)}[${t.length}]`;
    case 'struct':
    case 'record':
      return t.name;
    case 'timestamp':
      return `strftime(${JSON.stringify(t.format)})`;
    case 'none':
      return 'none';
    default:
      return t.kind;
  }
}

export function isPtr(t: KType | undefined): t is Extract<KType, { kind: 'ptr' }> {
  return t?.kind === 'ptr';
}

/** The size of what a pointer points to, the step of its arithmetic; undefined for a struct that BTF does not have. */
export function pointeeSize(p: Extract<KType, { kind: 'ptr' }>): number | undefined {
  const t = p.to;
  if (t.kind === 'int') return t.bits / 8;
  if (t.kind === 'ptr') return 8;
  if (t.kind === 'struct') return t.size;
  return undefined;
}

/**
 * Same kind of value (ints of any width, strings of any size, tuples element by element, pointers
 * to anything: bpftrace lets a map that held one pointer type take another).
 */
export function compatible(a: KType, b: KType): boolean {
  if (a.kind !== b.kind) return false;
  if ((a.kind === 'struct' && b.kind === 'struct') || (a.kind === 'record' && b.kind === 'record')) return a.name === b.name;
  if (a.kind === 'timestamp' && b.kind === 'timestamp') return a.format === b.format;
  if (a.kind === 'array' && b.kind === 'array') {
    if (a.elem.kind === 'int' && b.elem.kind === 'int') return a.length === b.length && a.elem.bits === b.elem.bits && a.elem.signed === b.elem.signed;
    return a.length === b.length && compatible(a.elem, b.elem);
  }
  if (a.kind === 'tuple' && b.kind === 'tuple') {
    return a.elems.length === b.elems.length && a.elems.every((e, i) => compatible(e, b.elems[i]!));
  }
  return true;
}

/**
 * The type that holds both: ints widen to 64 bits (maps and variables store ints as 64-bit values,
 * as bpftrace does), strings and buffers to the larger size. Only for compatible types.
 */
export function unify(a: KType, b: KType): KType {
  if (a.kind === 'int' && b.kind === 'int') {
    const signed = a.signed || b.signed;
    return a.space && a.space === b.space ? { kind: 'int', bits: 64, signed, space: a.space } : { kind: 'int', bits: 64, signed };
  }
  if (a.kind === 'str' && b.kind === 'str') return { kind: 'str', size: Math.max(a.size, b.size) };
  if (a.kind === 'buf' && b.kind === 'buf') return { kind: 'buf', size: Math.max(a.size, b.size) };
  if (a.kind === 'tuple' && b.kind === 'tuple') return { kind: 'tuple', elems: a.elems.map((e, i) => unifyElement(e, b.elems[i]!)) };
  return a;
}

/** A tuple element keeps its own type while both agree on it, so the tuple keeps bpftrace's layout. */
function unifyElement(a: KType, b: KType): KType {
  if (a.kind === 'int' && b.kind === 'int' && a.bits === b.bits && a.signed === b.signed && a.space === b.space) return a;
  return unify(a, b);
}

/**
 * How a value is stored in a map or a variable: ints as 64-bit, the rest as they are. A tuple keeps
 * its elements' own types and C layout, as bpftrace's does (sizeof(((int8) 1, (int32) 1)) is 8).
 */
export function storageType(t: KType): KType {
  if (t.kind === 'int') return t.space ? { kind: 'int', bits: 64, signed: t.signed, space: t.space } : { kind: 'int', bits: 64, signed: t.signed };
  return t;
}
