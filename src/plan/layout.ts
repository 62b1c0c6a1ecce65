// Byte layouts shared by the code generator (which writes C structs) and the runtime (which reads
// records and map keys): one definition, so the two cannot disagree.
//
// Encodings: int is little-endian of its width; str is `size` bytes, NUL-padded; buf is a u32
// length then `size` bytes; tuple is its elements in order, each at its own alignment, padded to the
// largest of them (a C struct, as bpftrace lays tuples out: sizeof((int8, int16, int32)) is 8);
// array is its elements in a row; record is the struct's own bytes; macaddr its 6 bytes; ksym, strerror, username, timestamp, ptr, cgroup_path are a u64; usym and ustack are a u64 (address, or stack id) then a u64
// pid; kstack is an i64 stack id; inet is a u32 address family then 16 address bytes. A stack id
// of kstack(n) or ustack(n) carries n in bits 32 and up: its map keeps n frames (stackMapName).
import type { KType } from '../frontend/ast.js';
import { InternalError } from '../errors.js';
import type { Layout } from './types.js';

function alignOf(t: KType): number {
  switch (t.kind) {
    case 'int':
      return t.bits / 8;
    case 'str':
      return 1;
    case 'buf':
    case 'inet':
      return 4;
    case 'tuple':
      return Math.max(1, ...t.elems.map(alignOf));
    case 'array':
      return alignOf(t.elem);
    case 'macaddr':
      return 1;
    case 'record':
      // bpftrace 0.17 aligns a struct value to 1 (sizeof((int8, struct {char; short})) is 5 there).
      return 1;
    case 'none':
      return 1;
    default:
      return 8;
  }
}

export function sizeOf(t: KType): number {
  switch (t.kind) {
    case 'int':
      return t.bits / 8;
    case 'str':
      return t.size;
    case 'buf':
      return 4 + t.size;
    case 'tuple':
      return layoutOf(t.elems, 0, alignOf(t)).size;
    case 'array':
      return t.length * sizeOf(t.elem);
    case 'ksym':
    case 'strerror':
    case 'username':
    case 'timestamp':
    case 'kstack':
    case 'ptr':
    case 'cgroup_path':
      return 8;
    case 'struct':
      // Only sizeof() asks: the front end gives no value a struct type and finds every struct's size.
      if (t.size === undefined) throw new InternalError(`${t.name} has no known size`);
      return t.size;
    case 'record':
      return t.size;
    case 'usym':
    case 'ustack':
      return 16;
    case 'inet':
      return 20;
    case 'macaddr':
      return 6;
    case 'none':
      return 0;
  }
}

/**
 * Lays out values one after another at their natural alignment; the total is padded to `align`:
 * 8 for ring-buffer records, map keys and values, a tuple's own alignment for a tuple.
 */
export function layoutOf(types: KType[], start = 0, align = 8): Layout {
  let offset = start;
  const fields = types.map((type) => {
    const own = alignOf(type);
    offset = Math.ceil(offset / own) * own;
    const size = sizeOf(type);
    const field = { type, offset, size };
    offset += size;
    return field;
  });
  return { size: Math.ceil(offset / align) * align, fields };
}

/** Offset of the first field of a ring-buffer record: after the u32 event id and its padding. */
export const EVENT_HEADER_SIZE = 8;

/** Frames a stack map keeps without a limit (the kernel's PERF_MAX_STACK_DEPTH). */
export const STACK_DEPTH = 127;
const STACK_MAP = 'kt_stacks';
const LIMITED_STACK_MAP = new RegExp(`^${STACK_MAP}_\\d+$`);

/**
 * The stack map of stacks cut to `limit` frames (kstack(n), ustack(n)), or of whole stacks: the
 * kernel hashes a stack over the frames its map keeps, so stacks that differ only deeper share an id.
 */
export function stackMapName(limit: number | undefined): string {
  return limit ? `${STACK_MAP}_${limit}` : STACK_MAP;
}

export function isStackMap(name: string): boolean {
  return name === STACK_MAP || LIMITED_STACK_MAP.test(name);
}

/** A stored stack id: the map's own id, and the frame limit that names its map. */
export function stackRef(stored: bigint): { stackId: number; limit?: number } {
  if (stored < 0n) return { stackId: Number(stored) };
  const limit = Number(stored >> 32n);
  return limit ? { stackId: Number(stored & 0xffffffffn), limit } : { stackId: Number(stored) };
}
