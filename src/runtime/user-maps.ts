// Maps that live in user space, for kafka probes: the same operations and semantics as the kernel
// maps (u64/s64 wrap-around, the same hist and lhist buckets, min/max with a `set` flag that zero()
// clears) and the same MapSnapshot, so they print exactly like kernel maps. Like a full kernel hash
// map, a map at its key limit refuses new keys (and counts what it refused) while its keys still update.
import { InternalError } from '../errors.js';
import type { KType, MapValueKind } from '../frontend/ast.js';
import { MAP_MAX_ENTRIES, deleteZeroes } from '../plan/build.js';
import type { Plan, PlanMap } from '../plan/types.js';
import { HIST_BUCKETS, lhistBucketCount } from './decode.js';
import { histBucketIndex, lhistBucketIndex } from './format/hist.js';
import type { MapEntryValue, MapSnapshot, Value } from './values.js';

export interface UserMapSpec {
  name: string;
  keyTypes: KType[];
  value: MapValueKind;
  /** Keys the map holds at most (the plan's maxEntries); MAP_MAX_ENTRIES when absent. */
  maxKeys?: number;
}

/** A map that refused new keys: how many updates it dropped. */
export interface MapDrops {
  name: string;
  maxKeys: number;
  dropped: number;
}

type Stored =
  | { kind: 'int'; value: bigint }
  | { kind: 'minmax'; value: bigint; set: boolean }
  | { kind: 'avg'; count: bigint; total: bigint }
  | { kind: 'buckets'; buckets: bigint[] }
  | { kind: 'scalar'; value: Value };

interface UserMap {
  spec: UserMapSpec;
  maxKeys: number;
  /**
   * Entries by identity: a map of one string or one integer key is keyed by the key itself (a topic
   * name the decoder hands over again hashes once and compares by reference), any other by
   * keyIdentity.
   */
  entries: Map<string | bigint, { keys: Value[]; stored: Stored }>;
  identity: (keys: Value[]) => string | bigint;
  /** Updates refused because the map was full. */
  dropped: number;
}

/** A canonical identity for a key tuple: equal keys (by value) give equal strings. */
export function keyIdentity(keys: Value[]): string {
  // Keys of integers and strings alone (the usual ones): the same string without the replacer,
  // which costs about a microsecond a call (a quarter of decoding a small Kafka exchange for
  // `@n = count()`).
  let plain = '[';
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    if (i > 0) plain += ',';
    if (typeof k === 'bigint') plain += `"i:${k}"`;
    else if (typeof k === 'string') plain += JSON.stringify(`s:${k}`);
    else return replaced(keys);
  }
  return `${plain}]`;
}

/** How a map of these key types identifies a key tuple. */
function identityOf(keyTypes: KType[]): (keys: Value[]) => string | bigint {
  const only = keyTypes.length === 1 ? keyTypes[0]!.kind : undefined;
  if (only !== 'str' && only !== 'int') return keyIdentity;
  const type = only === 'str' ? 'string' : 'bigint';
  return (keys) => {
    const k = keys[0];
    if (typeof k !== type) throw new InternalError(`a ${only} map key is ${typeof k}`);
    return k as string | bigint;
  };
}

function replaced(keys: Value[]): string {
  return JSON.stringify(keys, (_k, v: unknown) => {
    if (typeof v === 'bigint') return `i:${v}`;
    if (typeof v === 'string') return `s:${v}`;
    if (v instanceof Uint8Array) return `b:${Buffer.from(v).toString('hex')}`;
    return v;
  });
}

const wrap64 = (v: bigint, signed: boolean): bigint => (signed ? BigInt.asIntN(64, v) : BigInt.asUintN(64, v));

function normalize(type: KType, v: Value): Value {
  if (type.kind === 'int' && typeof v === 'bigint') {
    return type.signed ? BigInt.asIntN(type.bits, v) : BigInt.asUintN(type.bits, v);
  }
  return v;
}

/** The value a freshly zeroed entry, an absent map entry or an unassigned variable of this type reads as. */
export function zeroValue(type: KType): Value {
  switch (type.kind) {
    case 'int':
    case 'ptr':
      return 0n;
    case 'str':
      return '';
    case 'buf':
      return new Uint8Array(0);
    case 'tuple':
      return type.elems.map(zeroValue);
    case 'cgroup_path':
      return { kind: 'cgroup_path', id: 0n, filter: type.filter };
    case 'macaddr':
      return { kind: 'macaddr', bytes: new Uint8Array(6) };
    case 'array':
      return { kind: 'array', elems: Array.from({ length: type.length }, () => zeroValue(type.elem)) };
    case 'record':
      return { kind: 'record', fields: type.fields.map((f) => [f.name, zeroValue(f.type)]) };
    case 'ksym':
      return { kind: 'ksym', addr: 0n };
    case 'usym':
      return { kind: 'usym', addr: 0n, pid: 0 };
    case 'inet':
      return { kind: 'inet', af: 0, bytes: new Uint8Array(4) };
    case 'username':
      return { kind: 'username', uid: 0 };
    case 'strerror':
      return { kind: 'strerror', errno: 0 };
    case 'kstack':
      return { kind: 'kstack', stackId: 0 };
    case 'ustack':
      return { kind: 'ustack', stackId: 0, pid: 0 };
    case 'timestamp':
      return { kind: 'timestamp', ns: 0n, format: type.format };
    case 'struct':
    case 'none':
      return { kind: 'none' };
  }
}

function emptyStored(value: MapValueKind): Stored {
  switch (value.kind) {
    case 'count':
    case 'sum':
      return { kind: 'int', value: 0n };
    case 'min':
    case 'max':
      return { kind: 'minmax', value: 0n, set: false };
    case 'avg':
    case 'stats':
      return { kind: 'avg', count: 0n, total: 0n };
    case 'hist':
      return { kind: 'buckets', buckets: new Array<bigint>(HIST_BUCKETS).fill(0n) };
    case 'lhist':
      return { kind: 'buckets', buckets: new Array<bigint>(lhistBucketCount(value)).fill(0n) };
    case 'scalar':
      return { kind: 'scalar', value: zeroValue(value.type) };
  }
}

function publicValue(s: Stored): MapEntryValue {
  switch (s.kind) {
    case 'int':
    case 'minmax':
      return s.value;
    case 'avg':
      return { count: s.count, total: s.total };
    case 'buckets':
      return [...s.buckets];
    case 'scalar':
      return s.value;
  }
}

export class UserMaps {
  private readonly maps = new Map<string, UserMap>();

  /** onFull: called when a map refuses a new key for the first time. */
  constructor(
    specs: UserMapSpec[],
    private readonly onFull?: (name: string, maxKeys: number) => void,
  ) {
    for (const spec of specs) this.add(spec);
  }

  private map(name: string, expect?: MapValueKind['kind']): UserMap {
    const m = this.maps.get(name);
    if (!m) throw new InternalError(`no user-space map ${name}`);
    if (expect !== undefined && m.spec.value.kind !== expect) {
      throw new InternalError(`map ${name} holds ${m.spec.value.kind}, not ${expect}`);
    }
    return m;
  }

  /** The key's stored value, added if absent; undefined when the map is full (the update is dropped). */
  private entry(name: string, keys: Value[], expect: MapValueKind['kind']): Stored | undefined {
    return this.entryOf(this.map(name, expect), keys);
  }

  private entryOf(m: UserMap, keys: Value[]): Stored | undefined {
    const name = m.spec.name;
    const id = m.identity(keys);
    let e = m.entries.get(id);
    if (!e) {
      if (m.entries.size >= m.maxKeys) {
        if (m.dropped++ === 0) this.onFull?.(name, m.maxKeys);
        return undefined;
      }
      e = { keys, stored: emptyStored(m.spec.value) };
      m.entries.set(id, e);
    }
    return e.stored;
  }

  count(name: string, keys: Value[]): void {
    const s = this.entry(name, keys, 'count') as { value: bigint } | undefined;
    if (s) s.value = wrap64(s.value + 1n, false);
  }

  sum(name: string, keys: Value[], v: bigint): void {
    const m = this.map(name, 'sum');
    const s = this.entryOf(m, keys) as { value: bigint } | undefined;
    if (s) s.value = wrap64(s.value + v, m.spec.value.kind === 'sum' && m.spec.value.signed);
  }

  min(name: string, keys: Value[], v: bigint): void {
    const s = this.entry(name, keys, 'min') as { value: bigint; set: boolean } | undefined;
    if (s && (!s.set || v < s.value)) Object.assign(s, { value: v, set: true });
  }

  max(name: string, keys: Value[], v: bigint): void {
    const s = this.entry(name, keys, 'max') as { value: bigint; set: boolean } | undefined;
    if (s && (!s.set || v > s.value)) Object.assign(s, { value: v, set: true });
  }

  avg(name: string, keys: Value[], v: bigint): void {
    this.addAvg(this.entry(name, keys, 'avg'), v);
  }

  stats(name: string, keys: Value[], v: bigint): void {
    this.addAvg(this.entry(name, keys, 'stats'), v);
  }

  private addAvg(s: Stored | undefined, v: bigint): void {
    if (!s) return;
    const a = s as { count: bigint; total: bigint };
    a.count = wrap64(a.count + 1n, true);
    a.total = wrap64(a.total + v, true);
  }

  hist(name: string, keys: Value[], v: bigint): void {
    const s = this.entry(name, keys, 'hist') as { buckets: bigint[] } | undefined;
    if (!s) return;
    const i = histBucketIndex(v);
    s.buckets[i] = wrap64(s.buckets[i]! + 1n, false);
  }

  lhist(name: string, keys: Value[], v: bigint): void {
    const m = this.map(name, 'lhist');
    const spec = m.spec.value as { min: number; max: number; step: number };
    const s = this.entryOf(m, keys) as { buckets: bigint[] } | undefined;
    if (!s) return;
    const i = lhistBucketIndex(v, spec);
    s.buckets[i] = wrap64(s.buckets[i]! + 1n, false);
  }

  /** `@m[k] = v` on a map of plain values. */
  assign(name: string, keys: Value[], v: Value): void {
    const m = this.map(name, 'scalar');
    const type = (m.spec.value as { type: KType }).type;
    const s = this.entryOf(m, keys) as { value: Value } | undefined;
    if (s) s.value = normalize(type, v);
  }

  /** Maps that refused updates because they were full, by name. */
  drops(): MapDrops[] {
    return [...this.maps.values()].filter((m) => m.dropped > 0).map((m) => ({ name: m.spec.name, maxKeys: m.maxKeys, dropped: m.dropped }));
  }

  /** The entry's value as a snapshot holds it, or undefined when the key is absent. */
  get(name: string, keys: Value[]): MapEntryValue | undefined {
    const m = this.map(name);
    const e = m.entries.get(m.identity(keys));
    return e ? publicValue(e.stored) : undefined;
  }

  hasKey(name: string, keys: Value[]): boolean {
    const m = this.map(name);
    return m.entries.has(m.identity(keys));
  }

  delete(name: string, keys: Value[]): boolean {
    const m = this.map(name);
    if (deleteZeroes(m.spec)) {
      this.zero(name);
      return true;
    }
    return m.entries.delete(m.identity(keys));
  }

  clear(name: string): void {
    const m = this.map(name);
    if (deleteZeroes(m.spec)) this.zero(name);
    else m.entries.clear();
  }

  /** Keeps the keys and resets every value, as zero() does on a kernel map. */
  zero(name: string): void {
    const m = this.map(name);
    for (const e of m.entries.values()) e.stored = emptyStored(m.spec.value);
  }

  has(name: string): boolean {
    return this.maps.has(name);
  }

  /** Adds a map (the REPL's set grows as blocks attach); one of that name already here stays as it is. */
  add(spec: UserMapSpec): void {
    if (!this.maps.has(spec.name)) {
      this.maps.set(spec.name, { spec, maxKeys: spec.maxKeys ?? MAP_MAX_ENTRIES, entries: new Map(), identity: identityOf(spec.keyTypes), dropped: 0 });
    }
  }

  remove(name: string): void {
    this.maps.delete(name);
  }

  names(): string[] {
    return [...this.maps.keys()];
  }

  snapshot(name: string): MapSnapshot {
    const m = this.map(name);
    return {
      name,
      value: m.spec.value,
      keyTypes: m.spec.keyTypes,
      entries: [...m.entries.values()].map((e) => ({ keys: e.keys, value: publicValue(e.stored) })),
    };
  }

  snapshots(): MapSnapshot[] {
    return [...this.maps.keys()].map((n) => this.snapshot(n));
  }
}

/**
 * The UserMaps for a plan's user-space maps, each holding its plan maxEntries keys, or maxKeys (the
 * session's --map-keys-max) for a map with keys.
 */
export function userMapsOf(plan: Plan, opts: { maxKeys?: number; onFull?: (name: string, maxKeys: number) => void } = {}): UserMaps {
  const specs = plan.maps
    .filter((m) => m.home === 'user')
    .map((m) => ({ name: m.name, keyTypes: m.keyTypes, value: m.value, maxKeys: mapKeys(m, opts.maxKeys) }));
  return new UserMaps(specs, opts.onFull);
}

/** The keys a map holds: its plan's maxEntries, or the session's limit for a map with keys. */
function mapKeys(m: PlanMap, maxKeys: number | undefined): number {
  return m.keyTypes.length > 0 && maxKeys !== undefined ? maxKeys : m.maxEntries;
}
