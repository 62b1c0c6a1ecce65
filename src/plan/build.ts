// The kernel/user split: which probes run in BPF, where each map lives and how it is stored, and the
// records the kernel part sends to user space.
import type { Analysis, MapInfo } from '../frontend/analysis.js';
import type { Expr, MapValueKind, Script } from '../frontend/ast.js';
import { eventCalls, eventFor, helperErrorEvent, watchpointEvent } from './events.js';
import { layoutOf } from './layout.js';
import { splitPrograms } from './programs.js';
import { walkExpr, walkStmts } from './walk.js';
import type { Layout, Plan, PlanEvent, PlanMap, PlanProbe } from './types.js';

/** Entries of a map with keys (bpftrace's default map size). */
export const MAP_MAX_ENTRIES = 4096;

/**
 * Whether delete() and clear() set the map's value to zero instead of removing it: bpftrace keeps a
 * count() map without keys in a per-CPU array, whose one element cannot be removed, so it prints
 * `@: 0` after either.
 */
export function deleteZeroes(m: { value: MapValueKind; keyTypes: readonly unknown[] }): boolean {
  return m.value.kind === 'count' && m.keyTypes.length === 0;
}
/** Bytes of the `events` ring buffer (a power of two, a multiple of the page size). */
const RINGBUF_SIZE = 1 << 24;
export const HIST_BUCKETS = 66;

function lhistBuckets(v: { min: number; max: number; step: number }): number {
  return Math.ceil((v.max - v.min) / v.step) + 2;
}

/** Byte size of one (per-CPU) value of a kernel map, as documented above PlanMap. */
function valueSize(v: MapValueKind): number {
  switch (v.kind) {
    case 'count':
    case 'sum':
      return 8;
    case 'min':
    case 'max':
    case 'avg':
    case 'stats':
      return 16;
    case 'hist':
      return HIST_BUCKETS * 8;
    case 'lhist':
      return lhistBuckets(v) * 8;
    case 'scalar':
      return Math.max(8, layoutOf([v.type]).size);
  }
}

function keyLayout(m: { keyTypes: MapInfo['keyTypes'] }): Layout {
  return m.keyTypes.length === 0 ? { size: 4, fields: [] } : layoutOf(m.keyTypes);
}

/** A C identifier for a map: `m_` and the name's identifier characters; `m__anon` for `@`. */
function bpfNameOf(name: string, taken: Set<string>): string {
  const bare = name.replace(/^@/, '');
  const base = bare === '' ? 'm__anon' : 'm_' + bare.replace(/[^A-Za-z0-9_]/g, '_');
  let candidate = base;
  for (let n = 2; taken.has(candidate); n++) candidate = `${base}_${n}`;
  taken.add(candidate);
  return candidate;
}

/** What a key expression is called: `comm`, `args.topic` → `topic`, `$t` → `t`; through casts and str() etc. */
function keyExprName(e: Expr): string {
  switch (e.kind) {
    case 'builtin':
      return e.name;
    case 'field':
      return e.field;
    case 'var':
      return e.name.replace(/^\$/, '');
    case 'cast':
      return keyExprName(e.operand);
    case 'call':
      return e.args[0] ? keyExprName(e.args[0]) : '';
    default:
      return '';
  }
}

/** Key names of every map with keys: a position keeps a name only where every use gives it the same one. */
function keyNamesOf(script: Script): Map<string, string[]> {
  const names = new Map<string, string[]>();
  const visit = (e: Expr): void => {
    if (e.kind !== 'map' || e.keys.length === 0) return;
    const seen = e.keys.map(keyExprName);
    const prev = names.get(e.name);
    names.set(e.name, prev ? prev.map((n, i) => (n === seen[i] ? n : '')) : seen);
  };
  for (const probe of script.probes) {
    if (probe.predicate) walkExpr(probe.predicate, { expr: visit });
    walkStmts(probe.body, { expr: visit });
  }
  return names;
}

function planMap(m: MapInfo, taken: Set<string>, keyNames: Map<string, string[]>): PlanMap {
  const home = m.usedBy.includes('kernel') ? 'kernel' : 'user';
  const perCpu = m.value.kind !== 'scalar';
  const names = keyNames.get(m.name);
  return {
    name: m.name,
    bpfName: home === 'kernel' ? bpfNameOf(m.name, taken) : undefined,
    home,
    keyTypes: m.keyTypes,
    keyLayout: keyLayout(m),
    value: m.value,
    valueSize: valueSize(m.value),
    perCpu,
    bpfType: perCpu ? 'percpu_hash' : 'hash',
    maxEntries: m.keyTypes.length === 0 ? 1 : MAP_MAX_ENTRIES,
    ...(m.keyTypes.length > 0 && names?.length === m.keyTypes.length ? { keyNames: names } : {}),
  };
}

export function buildPlan(script: Script, analysis: Analysis, file: string, helperChecks: 0 | 1 | 2 = 0): Plan {
  const events: PlanEvent[] = [];
  const probes: PlanProbe[] = analysis.probes.map((ap) => {
    const text = ap.probe.attach.map((a) => a.raw).join(', ');
    const skipped = ap.skipped.length > 0 ? { skipped: ap.skipped } : {};
    if (ap.where === 'user') {
      return { index: ap.index, where: 'user', programs: [], attach: ap.attach, ast: ap.probe, text, ...skipped };
    }
    for (const call of eventCalls(ap.probe)) events.push(eventFor(call, events.length));
    return {
      index: ap.index,
      where: 'kernel',
      programs: splitPrograms(ap.index, ap.probe, ap.attach, ap.usesArgs).map((program) =>
        program.attach[0]?.type === 'argwatchpoint' ? { ...program, setup: `${program.name}_setup` } : program,
      ),
      attach: [],
      text,
      ...skipped,
    };
  });
  // After every call's record: code generation pairs those with the calls in order.
  for (const probe of probes) for (const p of probe.programs) if (p.setup) events.push(watchpointEvent(events.length, p.name));
  if (helperChecks > 0) events.push(helperErrorEvent(events.length, helperChecks as 1 | 2));
  const taken = new Set<string>();
  const keyNames = keyNamesOf(script);
  return {
    version: 1,
    file: file || script.file,
    probes,
    maps: analysis.maps.map((m) => planMap(m, taken, keyNames)),
    events,
    ringbufSize: RINGBUF_SIZE,
    unsafe: analysis.unsafe,
  };
}
