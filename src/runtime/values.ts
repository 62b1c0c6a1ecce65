// Decoded values: what kernel records, kernel maps and user-space maps turn into before printing.
// Integers are bigints (u64 and s64 both fit, the sign already applied); symbols, stacks, addresses
// and user names stay tagged raw values until output resolves them, so decoding needs no system access.
import type { KType, MapValueKind } from '../frontend/ast.js';
import type { PlanEvent } from '../plan/types.js';

interface KsymValue { kind: 'ksym'; addr: bigint }
interface UsymValue { kind: 'usym'; addr: bigint; pid: number }
/** af is AF_INET (2) or AF_INET6 (10); bytes holds 4 or 16 address bytes in network order. */
export interface InetValue { kind: 'inet'; af: number; bytes: Uint8Array }
interface UsernameValue { kind: 'username'; uid: number }
/** strerror(): an error number (errno). */
interface StrerrorValue { kind: 'strerror'; errno: number }
/** A negative stackId means the kernel could not record the stack. */
/** Frames of a stack map entry, or undefined when the id is not (or no longer) there. */
export type StackLookup = (stackId: number, limit?: number) => bigint[] | undefined;
/** `limit`: the frames kstack(n)/ustack(n) kept, which names the stack's map (stackMapName). */
interface KstackValue { kind: 'kstack'; stackId: number; limit?: number }
interface UstackValue { kind: 'ustack'; stackId: number; pid: number; limit?: number }
/** strftime(): CLOCK_MONOTONIC nanoseconds and the format to print their wall-clock time in. */
interface TimestampValue { kind: 'timestamp'; ns: bigint; format: string }
/** cgroup_path(): a cgroup id, and the glob of the hierarchies to print its paths in. */
interface CgroupPathValue { kind: 'cgroup_path'; id: bigint; filter: string }
/** macaddr(): the six bytes of a hardware address. */
interface MacaddrValue { kind: 'macaddr'; bytes: Uint8Array }
/** Values in a row (pton()'s bytes, a struct's arrays). */
interface ArrayValue { kind: 'array'; elems: Value[] }
/** A struct's members by name, in declaration order. */
interface RecordValue { kind: 'record'; fields: [string, Value][] }
/** The value of an expression of type none (a statement used as a value); prints as nothing. */
interface NoneValue { kind: 'none' }

export type TaggedValue =
  | KsymValue
  | UsymValue
  | InetValue
  | UsernameValue
  | StrerrorValue
  | KstackValue
  | UstackValue
  | TimestampValue
  | ArrayValue
  | RecordValue
  | MacaddrValue
  | CgroupPathValue
  | NoneValue;

/** int → bigint, str → string, buf → Uint8Array, tuple → Value[], the rest tagged. */
export type Value = bigint | string | Uint8Array | Value[] | TaggedValue;

/** avg and stats: merged count and total. */
export interface AvgValue { count: bigint; total: bigint }

/**
 * One map entry's value, by the map's value kind: count/sum/min/max → bigint, avg/stats → AvgValue,
 * hist/lhist → bucket counts (hist: 66 buckets, lhist: n + 2, as documented above PlanMap), scalar → Value.
 */
export type MapEntryValue = bigint | AvgValue | bigint[] | Value;

export interface MapEntry {
  keys: Value[];
  value: MapEntryValue;
}

export interface MapSnapshot {
  /** `@name` as written (`@` for the anonymous map). */
  name: string;
  value: MapValueKind;
  keyTypes: KType[];
  entries: MapEntry[];
}

/** A ring-buffer record decoded against the plan; an unknown id or a short record is an error value. */
export type DecodedEvent =
  | { ok: true; event: PlanEvent; args: Value[] }
  | { ok: false; id: number; error: string };

export function isAvgValue(v: MapEntryValue): v is AvgValue {
  return typeof v === 'object' && v !== null && 'count' in v && 'total' in v;
}
