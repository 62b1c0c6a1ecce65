// Decoding of ring-buffer records and kernel map entries into Values, following the byte layouts of
// src/plan/layout.ts and the map value storage documented above PlanMap in src/plan/types.ts.
import { isKtError, KtError } from '../errors.js';
import type { KType, MapValueKind } from '../frontend/ast.js';
import { EVENT_HEADER_SIZE, layoutOf, sizeOf, stackRef } from '../plan/layout.js';
import type { Layout, Plan, PlanEvent, PlanMap } from '../plan/types.js';
import type { AvgValue, DecodedEvent, MapEntry, MapEntryValue, MapSnapshot, Value } from './values.js';

const utf8 = new TextDecoder('utf-8');

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function need(dv: DataView, offset: number, size: number): void {
  if (offset + size > dv.byteLength) {
    throw new KtError('short-data', `need ${offset + size} bytes, have ${dv.byteLength}`);
  }
}

/** A bitfield of a struct value: the bytes its bits span, shifted and masked (unsigned, as bpftrace prints it). */
function bitfield(dv: DataView, offset: number, b: { shift: number; width: number }): bigint {
  const bytes = Math.ceil((b.shift + b.width) / 8);
  need(dv, offset, bytes);
  let raw = 0n;
  for (let i = bytes - 1; i >= 0; i--) raw = (raw << 8n) | BigInt(dv.getUint8(offset + i));
  return (raw >> BigInt(b.shift)) & ((1n << BigInt(b.width)) - 1n);
}

function readInt(dv: DataView, offset: number, bits: 8 | 16 | 32 | 64, signed: boolean): bigint {
  need(dv, offset, bits / 8);
  switch (bits) {
    case 8:
      return BigInt(signed ? dv.getInt8(offset) : dv.getUint8(offset));
    case 16:
      return BigInt(signed ? dv.getInt16(offset, true) : dv.getUint16(offset, true));
    case 32:
      return BigInt(signed ? dv.getInt32(offset, true) : dv.getUint32(offset, true));
    case 64:
      return signed ? dv.getBigInt64(offset, true) : dv.getBigUint64(offset, true);
  }
}

/** A C string: the bytes up to the first NUL, at most `size`. */
function cString(bytes: Uint8Array): string {
  // Most strings are short ASCII (comm, topics); building those directly is much faster than
  // TextDecoder, which decodes anything else as UTF-8.
  let ascii = '';
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === 0) return ascii;
    if (b >= 0x80 || i >= 64) {
      const nul = bytes.indexOf(0, i);
      return utf8.decode(nul < 0 ? bytes : bytes.subarray(0, nul));
    }
    ascii += String.fromCharCode(b);
  }
  return ascii;
}

/** Decodes one value of type `type` stored at `offset`. */
export function decodeValue(type: KType, dv: DataView, offset: number): Value {
  switch (type.kind) {
    case 'int':
      return readInt(dv, offset, type.bits, type.signed);
    case 'ptr':
      return readInt(dv, offset, 64, false);
    case 'str': {
      need(dv, offset, type.size);
      return cString(new Uint8Array(dv.buffer, dv.byteOffset + offset, type.size));
    }
    case 'buf': {
      need(dv, offset, 4 + type.size);
      const len = Math.min(dv.getUint32(offset, true), type.size);
      return new Uint8Array(dv.buffer.slice(dv.byteOffset + offset + 4, dv.byteOffset + offset + 4 + len));
    }
    case 'tuple': {
      return tupleLayout(type).fields.map((f) => decodeValue(f.type, dv, offset + f.offset));
    }
    case 'cgroup_path':
      return { kind: 'cgroup_path', id: readInt(dv, offset, 64, false), filter: type.filter };
    case 'macaddr':
      need(dv, offset, 6);
      return { kind: 'macaddr', bytes: new Uint8Array(dv.buffer.slice(dv.byteOffset + offset, dv.byteOffset + offset + 6)) };
    case 'record':
      return { kind: 'record', fields: type.fields.map((f) => [f.name, f.bitfield ? bitfield(dv, offset + f.offset, f.bitfield) : decodeValue(f.type, dv, offset + f.offset)]) };
    case 'array': {
      const step = sizeOf(type.elem);
      return { kind: 'array', elems: Array.from({ length: type.length }, (_, i) => decodeValue(type.elem, dv, offset + i * step)) };
    }
    case 'ksym':
      return { kind: 'ksym', addr: readInt(dv, offset, 64, false) };
    case 'usym':
      return {
        kind: 'usym',
        addr: readInt(dv, offset, 64, false),
        pid: Number(readInt(dv, offset + 8, 64, false) & 0xffffffffn),
      };
    case 'username':
      return { kind: 'username', uid: Number(readInt(dv, offset, 64, false) & 0xffffffffn) };
    case 'strerror':
      return { kind: 'strerror', errno: Number(BigInt.asIntN(32, readInt(dv, offset, 64, false))) };
    case 'timestamp':
      return { kind: 'timestamp', ns: readInt(dv, offset, 64, false), format: type.format };
    case 'kstack':
      return { kind: 'kstack', ...stackRef(readInt(dv, offset, 64, true)) };
    case 'ustack':
      return {
        kind: 'ustack',
        ...stackRef(readInt(dv, offset, 64, true)),
        pid: Number(readInt(dv, offset + 8, 64, false) & 0xffffffffn),
      };
    case 'inet': {
      need(dv, offset, 20);
      const af = dv.getUint32(offset, true);
      const len = af === 10 ? 16 : 4;
      return { kind: 'inet', af, bytes: new Uint8Array(dv.buffer.slice(dv.byteOffset + offset + 4, dv.byteOffset + offset + 4 + len)) };
    }
    case 'struct':
    case 'none':
      return { kind: 'none' };
  }
}

function decodeFields(layout: Layout, dv: DataView, base = 0): Value[] {
  return layout.fields.map((f) => decodeValue(f.type, dv, base + f.offset));
}

/**
 * Where an event's layout offsets count from. Layouts built with layoutOf(types, EVENT_HEADER_SIZE)
 * hold absolute record offsets; a layout built from 0 (its first field at 0, inside the header) is
 * relative to the end of the header. Both are accepted so the record format has one meaning.
 */
function eventBase(layout: Layout): number {
  const first = layout.fields[0];
  return first !== undefined && first.offset < EVENT_HEADER_SIZE ? EVENT_HEADER_SIZE : 0;
}

// Records arrive at high rates: index each plan's events and each tuple type's layout once.
const eventIndex = new WeakMap<Plan, Map<number, PlanEvent>>();
const tupleLayouts = new WeakMap<KType, Layout>();

function eventsById(plan: Plan): Map<number, PlanEvent> {
  let index = eventIndex.get(plan);
  if (!index) {
    index = new Map(plan.events.map((e) => [e.id, e]));
    eventIndex.set(plan, index);
  }
  return index;
}

function tupleLayout(type: KType & { kind: 'tuple' }): Layout {
  let layout = tupleLayouts.get(type);
  if (!layout) {
    layout = layoutOf(type.elems);
    tupleLayouts.set(type, layout);
  }
  return layout;
}

/** The argument layout of an event, if it has arguments. */
function eventLayout(e: PlanEvent): Layout | undefined {
  return 'layout' in e ? e.layout : undefined;
}

/**
 * Decodes a ring-buffer record: u32 event id, 4 bytes of padding, then the event's fields at their
 * layout offsets (offsets count from the start of the record). An unknown id or a record shorter than
 * its layout becomes an error value, so one bad record never stops the session.
 */
export function decodeEvent(plan: Plan, record: Uint8Array): DecodedEvent {
  if (record.byteLength < 4) {
    return { ok: false, id: -1, error: `ring buffer record of ${record.byteLength} bytes is too short` };
  }
  const dv = view(record);
  const id = dv.getUint32(0, true);
  const event = eventsById(plan).get(id);
  if (!event) return { ok: false, id, error: `ring buffer record with unknown event id ${id}` };
  const layout = eventLayout(event);
  try {
    return { ok: true, event, args: layout ? decodeFields(layout, dv, eventBase(layout)) : [] };
  } catch (e) {
    // Bytes shorter than their layout say: an error value, not a failure.
    if (isKtError(e, 'short-data')) {
      return { ok: false, id, error: `ring buffer record for event ${id} (${event.kind}) is truncated: ${e.message}` };
    }
    throw e;
  }
}

function sumCpus(values: Uint8Array[], offset: number, signed: boolean): bigint {
  let total = 0n;
  for (const v of values) total += readInt(view(v), offset, 64, signed);
  return signed ? BigInt.asIntN(64, total) : BigInt.asUintN(64, total);
}

function mergeMinMax(values: Uint8Array[], isMin: boolean, signed: boolean): bigint {
  let result: bigint | undefined;
  for (const v of values) {
    const dv = view(v);
    if (readInt(dv, 8, 64, false) === 0n) continue;
    const x = readInt(dv, 0, 64, signed);
    if (result === undefined || (isMin ? x < result : x > result)) result = x;
  }
  return result ?? 0n;
}

function mergeBuckets(values: Uint8Array[], count: number): bigint[] {
  const buckets: bigint[] = new Array<bigint>(count).fill(0n);
  for (const v of values) {
    const dv = view(v);
    for (let i = 0; i < count; i++) buckets[i]! += readInt(dv, i * 8, 64, false);
  }
  return buckets.map((b) => BigInt.asUintN(64, b));
}

/** Number of lhist buckets including the below-min and at-or-above-max ones. */
export function lhistBucketCount(v: { min: number; max: number; step: number }): number {
  return Math.ceil((v.max - v.min) / v.step) + 2;
}

export const HIST_BUCKETS = 66;

/** Merges one entry's per-CPU values (or its single value) according to the map's value kind. */
function mergeValue(kind: MapValueKind, values: Uint8Array[]): MapEntryValue {
  if (values.length === 0) throw new KtError('short-data', 'map entry has no value');
  switch (kind.kind) {
    case 'count':
      return sumCpus(values, 0, false);
    case 'sum':
      return sumCpus(values, 0, kind.signed);
    case 'min':
    case 'max':
      return mergeMinMax(values, kind.kind === 'min', kind.signed);
    case 'avg':
    case 'stats': {
      const avg: AvgValue = { count: sumCpus(values, 0, true), total: sumCpus(values, 8, true) };
      return avg;
    }
    case 'hist':
      return mergeBuckets(values, HIST_BUCKETS);
    case 'lhist':
      return mergeBuckets(values, lhistBucketCount(kind));
    case 'scalar':
      return decodeValue(kind.type, view(values[0]!), 0);
  }
}

/**
 * Decodes a kernel map's entries. For per-CPU maps `values` holds one Uint8Array per CPU; otherwise one.
 * Entries that cannot be decoded (short keys or values) are skipped rather than failing the whole map.
 */
export function decodeMap(map: PlanMap, entries: { key: Uint8Array; values: Uint8Array[] }[]): MapSnapshot {
  const out: MapEntry[] = [];
  for (const { key, values } of entries) {
    try {
      const keys = decodeFields(map.keyLayout, view(key));
      out.push({ keys, value: mergeValue(map.value, values) });
    } catch (e) {
      if (!isKtError(e, 'short-data')) throw e;
    }
  }
  return { name: map.name, value: map.value, keyTypes: map.keyTypes, entries: out };
}

/** The frames of a stack map entry: instruction pointers up to the first zero. */
export function stackFrames(bytes: Uint8Array): bigint[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const frames: bigint[] = [];
  for (let off = 0; off + 8 <= bytes.length; off += 8) {
    const ip = dv.getBigUint64(off, true);
    if (ip === 0n) break;
    frames.push(ip);
  }
  return frames;
}
