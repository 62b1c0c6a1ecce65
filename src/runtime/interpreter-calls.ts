// Function calls in user-space probe actions: printf/print/time/cat/system become output, map
// functions act on the UserMaps, and the value functions (str, strncmp, strcontains, ntop, sizeof,
// cgroupid) compute what their kernel counterparts compute.
import { realSystem } from '../frontend/system.js';
import type { Call, Expr, KType, Loc, MapRef } from '../frontend/ast.js';
import { EVENT_HEADER_SIZE, layoutOf, sizeOf } from '../plan/layout.js';
import type { PlanEvent, PlanMap } from '../plan/types.js';
import type { Ev, Frame, IntEv } from './interpreter-frame.js';
import { inetOfInt, strncmp, truncateString } from './interpreter-values.js';
import type { Output } from './output.js';
import { createSymbolizer } from './symbols.js';
import { runSystem, systemCommand } from './system-call.js';
import type { UserMaps } from './user-maps.js';
import type { Value } from './values.js';

const NONE: Value = { kind: 'none' };
const NO_TYPE: KType = { kind: 'none' };

/** What call compilation needs from the probe compiler. */
export interface CallContext {
  readonly maps: UserMaps;
  readonly output: Output;
  /** Whether the plan allows system() (--unsafe). */
  readonly unsafe: boolean;
  expr(e: Expr): Ev;
  int(e: Expr): IntEv;
  /** The user-space map a reference names (a Diagnostic when it is not one). */
  map(ref: MapRef): PlanMap;
  /** The keys of a map access, converted to the map's key types. */
  keys(map: PlanMap, keys: Expr[], loc: Loc): (fr: Frame) => Value[];
  fail(loc: Loc, message: string): never;
}

const typeOf = (e: Expr): KType => e.type ?? NO_TYPE;

/** A record for Output.event; user-space output has no ring-buffer id, so 0 stands in. */
function event(kind: 'printf' | 'cat' | 'printValue', format: string, types: KType[]): PlanEvent {
  const layout = layoutOf(types, EVENT_HEADER_SIZE);
  return kind === 'printValue' ? { id: 0, kind, layout } : { id: 0, kind, format, layout };
}

function literal(c: Call, i: number, fallback: string, ctx: CallContext): string {
  const a = c.args[i];
  if (!a) return fallback;
  if (a.kind !== 'str') ctx.fail(a.loc, `argument ${i + 1} of ${c.name}() must be a string literal`);
  return a.value;
}

function wholeMap(c: Call, ctx: CallContext): PlanMap {
  const a = c.args[0];
  if (!a || a.kind !== 'map') return ctx.fail(c.loc, `${c.name}() takes a map`);
  return ctx.map(a);
}

function argValues(args: Expr[], ctx: CallContext): (fr: Frame) => Value[] {
  const evs = args.map((a) => ctx.expr(a));
  return (fr) => evs.map((ev) => ev(fr));
}

/** Compiles a call; action calls (printf, print, ...) evaluate to the none value. exit() is a statement. */
export function compileCall(c: Call, ctx: CallContext): Ev {
  const { maps, output } = ctx;
  switch (c.name) {
    case 'printf':
    case 'cat': {
      const ev = event(c.name, literal(c, 0, '', ctx), c.args.slice(1).map(typeOf));
      const args = argValues(c.args.slice(1), ctx);
      return (fr) => {
        output.event({ ok: true, event: ev, args: args(fr) });
        return NONE;
      };
    }
    case 'time': {
      const ev: PlanEvent = { id: 0, kind: 'time', format: literal(c, 0, '%H:%M:%S\n', ctx) };
      return () => {
        output.event({ ok: true, event: ev, args: [] });
        return NONE;
      };
    }
    case 'system': {
      const format = literal(c, 0, '', ctx);
      const args = argValues(c.args.slice(1), ctx);
      const render = { symbols: createSymbolizer() };
      const unsafe = ctx.unsafe;
      return (fr) => {
        if (!unsafe) {
          output.error('system() needs --unsafe');
          return NONE;
        }
        const r = runSystem(systemCommand(format, args(fr), render));
        if (r.ok) output.syscall(r.output);
        else output.error(r.error);
        return NONE;
      };
    }
    case 'print': {
      const a = c.args[0];
      if (a && a.kind === 'map' && a.keys.length === 0) {
        const name = ctx.map(a).name;
        const top = c.args[1] ? ctx.int(c.args[1]) : undefined;
        const div = c.args[2] ? ctx.int(c.args[2]) : undefined;
        return (fr) => {
          output.printMap(maps.snapshot(name), top ? Number(top(fr)) || undefined : undefined, div ? Number(div(fr)) || undefined : undefined);
          return NONE;
        };
      }
      if (!a) return ctx.fail(c.loc, 'print() needs an argument');
      const ev = event('printValue', '', [typeOf(a)]);
      const value = ctx.expr(a);
      return (fr) => {
        output.event({ ok: true, event: ev, args: [value(fr)] });
        return NONE;
      };
    }
    case 'clear':
    case 'zero': {
      const name = wholeMap(c, ctx).name;
      const clear = c.name === 'clear';
      return () => {
        if (clear) maps.clear(name);
        else maps.zero(name);
        return NONE;
      };
    }
    case 'delete': {
      const a = c.args[0];
      if (!a || a.kind !== 'map') return ctx.fail(c.loc, 'delete() takes a map entry');
      const m = ctx.map(a);
      const keys = ctx.keys(m, a.keys, a.loc);
      return (fr) => {
        maps.delete(m.name, keys(fr));
        return NONE;
      };
    }
    case 'has_key': {
      const m = wholeMap(c, ctx);
      const k = c.args[1];
      if (!k) return ctx.fail(c.loc, 'has_key() takes a map and a key');
      // A tuple literal spells several keys, as the analysis reads it.
      const keys = ctx.keys(m, k.kind === 'tuple' && typeOf(k).kind === 'tuple' ? k.elems : [k], k.loc);
      return (fr) => (maps.hasKey(m.name, keys(fr)) ? 1n : 0n);
    }
    case 'str': {
      const t = typeOf(c);
      const size = t.kind === 'str' ? t.size : 64;
      const s = ctx.expr(c.args[0]!);
      if (c.args.length < 2) return (fr) => truncateString(s(fr) as string, size);
      const n = ctx.int(c.args[1]!);
      return (fr) => {
        const len = n(fr);
        return truncateString(s(fr) as string, len < 0n ? size : Math.min(size, Number(len) + 1));
      };
    }
    case 'strncmp': {
      const [a, b, n] = c.args as [Expr, Expr, Expr];
      // Never past either string's storage, as the kernel side compares.
      const most = Math.min(sizeOf(typeOf(a)), sizeOf(typeOf(b)));
      const x = ctx.expr(a);
      const y = ctx.expr(b);
      const len = ctx.int(n);
      return (fr) => strncmp(x(fr) as string, y(fr) as string, Math.min(Number(len(fr)), most));
    }
    case 'strcontains': {
      const h = ctx.expr(c.args[0]!);
      const n = ctx.expr(c.args[1]!);
      return (fr) => ((h(fr) as string).includes(n(fr) as string) ? 1n : 0n);
    }
    case 'cgroup_path': {
      const filter = c.args.length > 1 ? literal(c, 1, '*', ctx) : '*';
      const id = ctx.int(c.args[0]!);
      return (fr) => ({ kind: 'cgroup_path', id: BigInt.asUintN(64, id(fr)), filter });
    }
    case 'strftime': {
      const format = literal(c, 0, '', ctx);
      const ns = ctx.int(c.args[1]!);
      return (fr) => ({ kind: 'timestamp', ns: BigInt.asUintN(64, ns(fr)), format });
    }
    case 'bswap': {
      const v = ctx.int(c.args[0]!);
      const t = typeOf(c);
      const bytes = t.kind === 'int' ? t.bits / 8 : 8;
      return (fr) => {
        let x = BigInt.asUintN(bytes * 8, v(fr));
        let r = 0n;
        for (let i = 0; i < bytes; i++, x >>= 8n) r = (r << 8n) | (x & 0xffn);
        return r;
      };
    }
    case 'ntop': {
      const addr = c.args[c.args.length - 1]!;
      const family = c.args.length > 1 ? ctx.int(c.args[0]!) : undefined;
      const v = ctx.expr(addr);
      if (typeOf(addr).kind === 'int') return (fr) => inetOfInt(family ? Number(family(fr)) : 2, v(fr) as bigint);
      const size = sizeOf(typeOf(addr));
      return (fr) => {
        const raw = v(fr);
        const bytes = new Uint8Array(size >= 16 ? 16 : 4);
        bytes.set((typeof raw === 'string' ? Buffer.from(raw, 'utf8') : (raw as Uint8Array)).subarray(0, bytes.length));
        return { kind: 'inet', af: family ? Number(family(fr)) : bytes.length === 16 ? 10 : 2, bytes };
      };
    }
    case 'sizeof': {
      const size = BigInt(sizeOf(typeOf(c.args[0]!)));
      return () => size;
    }
    case 'cgroupid': {
      const path = literal(c, 0, '', ctx);
      const id = realSystem().cgroupId(path);
      if (!id.ok) return ctx.fail(c.args[0]!.loc, `cgroupid(): ${id.error}`);
      return () => id.value;
    }
    case 'exit':
      return ctx.fail(c.loc, 'exit() can only be used as a statement');
    default:
      return ctx.fail(c.loc, `${c.name}() is not available in kafka probes, which run in user space`);
  }
}
