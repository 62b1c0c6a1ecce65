// Which calls of a kernel probe become ring-buffer records, and the record each one sends. The plan
// numbers them in walk order; the code generator walks the same way to find each call's event.
import { InternalError } from '../errors.js';
import type { Call, Expr, KType, Probe } from '../frontend/ast.js';
import { EVENT_HEADER_SIZE, layoutOf } from './layout.js';
import type { PlanEvent } from './types.js';
import { walkExpr, walkStmts } from './walk.js';

/** join() copies at most this many array elements, each at most JOIN_ARG_SIZE bytes (as bpftrace). */
export const JOIN_ARGS = 16;
export const JOIN_ARG_SIZE = 128;

const EVENT_CALLS = new Set(['printf', 'print', 'time', 'join', 'exit', 'clear', 'zero', 'cat', 'system', 'unwatch']);

export function typeOf(e: Expr): KType {
  if (!e.type) throw new InternalError(`expression '${e.kind}' at ${e.loc.line}:${e.loc.col} has no type`);
  return e.type;
}

/** The helpers a helperError record names, by index; bpftrace's names for them in its messages. */
export const HELPER_NAMES = ['map_lookup_elem', 'map_delete_elem', 'probe_read', 'probe_read_kernel', 'probe_read_user'] as const;
export type HelperName = (typeof HELPER_NAMES)[number];

const S32: KType = { kind: 'int', bits: 32, signed: true };
const U32: KType = { kind: 'int', bits: 32, signed: false };

/** The record -k/-kk sends when a helper fails: helper index, return value, line, column, length. */
export function helperErrorEvent(id: number, level: 1 | 2): PlanEvent {
  return { id, kind: 'helperError', level, layout: layoutOf([S32, S32, U32, U32, U32], EVENT_HEADER_SIZE) };
}

const U64: KType = { kind: 'int', bits: 64, signed: false };

/** The record the setup program of watchpoint program `program` sends: the argument's address. */
export function watchpointEvent(id: number, program: string): PlanEvent {
  return { id, kind: 'watchpoint', program, layout: layoutOf([U64], EVENT_HEADER_SIZE) };
}

/** The calls of a probe that send records, predicate first, then the body in source order. */
export function eventCalls(probe: Probe): Call[] {
  const calls: Call[] = [];
  const visit = { expr: (e: Expr) => { if (e.kind === 'call' && EVENT_CALLS.has(e.name)) calls.push(e); } };
  if (probe.predicate) walkExpr(probe.predicate, visit);
  walkStmts(probe.body, visit);
  return calls;
}

function stringArg(call: Call, i: number, fallback: string): string {
  const a = call.args[i];
  if (a === undefined) return fallback;
  if (a.kind !== 'str') throw new InternalError(`${call.name}() argument ${i + 1} must be a string literal`);
  return a.value;
}

function intArg(call: Call, i: number): number {
  const a = call.args[i];
  return a !== undefined && a.kind === 'int' ? Number(a.value) : 0;
}

function mapArg(call: Call): string {
  const a = call.args[0];
  if (a === undefined || a.kind !== 'map') throw new InternalError(`${call.name}() needs a map`);
  return a.name;
}

function argsLayout(args: Expr[]) {
  return layoutOf(args.map(typeOf), EVENT_HEADER_SIZE);
}

/** Whether print(x) prints a whole map (a map named without keys) rather than one value. */
export function printsWholeMap(call: Call): boolean {
  const a = call.args[0];
  return a !== undefined && a.kind === 'map' && a.keys.length === 0;
}

export function joinElementTypes(): KType[] {
  return Array.from({ length: JOIN_ARGS }, () => ({ kind: 'str', size: JOIN_ARG_SIZE }) as KType);
}

/** The record `call` sends, numbered `id`. */
export function eventFor(call: Call, id: number): PlanEvent {
  switch (call.name) {
    case 'printf':
      return { id, kind: 'printf', format: stringArg(call, 0, ''), layout: argsLayout(call.args.slice(1)) };
    case 'cat':
      return { id, kind: 'cat', format: stringArg(call, 0, ''), layout: argsLayout(call.args.slice(1)) };
    case 'system':
      return { id, kind: 'system', format: stringArg(call, 0, ''), layout: argsLayout(call.args.slice(1)) };
    case 'print':
      if (printsWholeMap(call)) return { id, kind: 'print', map: mapArg(call), top: intArg(call, 1), div: intArg(call, 2) };
      return { id, kind: 'printValue', layout: argsLayout(call.args.slice(0, 1)) };
    case 'time':
      return { id, kind: 'time', format: stringArg(call, 0, '%H:%M:%S\n') };
    case 'join':
      return { id, kind: 'join', separator: stringArg(call, 1, ' '), layout: layoutOf(joinElementTypes(), EVENT_HEADER_SIZE) };
    case 'exit':
      return { id, kind: 'exit', layout: layoutOf([{ kind: 'int', bits: 64, signed: true }], EVENT_HEADER_SIZE) };
    case 'clear':
    case 'zero':
      return { id, kind: call.name, map: mapArg(call) };
    case 'unwatch':
      return { id, kind: 'unwatch', layout: layoutOf([U64], EVENT_HEADER_SIZE) };
    default:
      throw new InternalError(`${call.name}() sends no record`);
  }
}
