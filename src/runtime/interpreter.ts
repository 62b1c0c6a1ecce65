// Runs the actions of user-space probes (kafka:*): each probe's typed AST is compiled once into
// closures, which then run per firing against UserMaps and an Output with the kernel's semantics
// (see interpreter-values.ts). exit() comes back to the caller as an exit code.
import { positionalInteger } from '../../grammar/literals.js';
import { InternalError, KtError } from '../errors.js';
import type { Expr, KType, Loc, MapRef, Stmt, VarRef } from '../frontend/ast.js';
import { attachName } from '../frontend/analysis.js';
import { error, type Diagnostic } from '../frontend/diagnostics.js';
import type { Plan, PlanMap, PlanProbe } from '../plan/types.js';
import { type CallContext, compileCall } from './interpreter-calls.js';
import { type Ev, type Exec, Flow, type Frame, type Firing, type IntEv } from './interpreter-frame.js';
import { arithmetic, comparison, converter, isSigned, truncateString, unaryOp, wrapInt } from './interpreter-values.js';
import type { Output } from './output.js';
import { zeroValue, type UserMaps } from './user-maps.js';
import { isAvgValue, type MapEntryValue, type Value } from './values.js';

export type { Firing } from './interpreter-frame.js';

/**
 * Iterations one execution of a while loop may run. The kernel's verifier rejects loops it cannot
 * bound within a million instructions; user space stops a loop here instead of hanging the tracer.
 */
export const MAX_LOOP_ITERATIONS = 1_000_000;

interface InterpreterOptions {
  maps: UserMaps;
  output: Output;
  /** Positional parameters ($1 is index 0), as given to the analysis. */
  positional?: string[];
  /** CLOCK_MONOTONIC ns when the session started (`elapsed` counts from it). */
  startNs: bigint;
  /** `rand`: a random u32 by default. */
  rand?: () => bigint;
}

/** A construct the interpreter cannot run; `diagnostic` names the place in the script. */
export class InterpreterError extends KtError {
  override name = 'InterpreterError';
  constructor(readonly diagnostic: Diagnostic) {
    super('unsupported-construct', diagnostic.message);
  }
}

export interface CompiledProbe {
  /** Position of the probe block in the script. */
  index: number;
  /** The kafka probe names it attaches to (`produce`, `request`, ...). */
  names: string[];
  /** Its interval attach points (blocks that share maps with kafka probes): name and period. */
  intervals: { probe: string; ms: number }[];
  /** It is an END block, run when the kafka probes stop. */
  atEnd: boolean;
  /** Runs the predicate, then the action; returns exit()'s code when the action called it. */
  run(firing: Firing): number | undefined;
}

const NO_TYPE: KType = { kind: 'none' };
const NONE: Value = { kind: 'none' };
const EMPTY_KEYS: Value[] = [];
const typeOf = (e: Expr): KType => e.type ?? NO_TYPE;
const defaultRand = (): bigint => BigInt((Math.random() * 0x100000000) >>> 0);

/** Whether a statement list ran to its end or left it (break, continue, return, exit). */
function sequence(list: Exec[]): Exec {
  if (list.length === 1) return list[0]!;
  return (fr) => {
    for (const s of list) {
      const r = s(fr);
      if (r !== Flow.Next) return r;
    }
    return Flow.Next;
  };
}

/** A map entry's value as an expression reads it (avg: the integer mean). */
function readable(m: PlanMap, v: MapEntryValue | undefined): Value {
  if (v === undefined) return m.value.kind === 'scalar' ? zeroValue(m.value.type) : 0n;
  if (isAvgValue(v)) return v.count === 0n ? 0n : BigInt.asIntN(64, v.total / v.count);
  return v as Value;
}

class ProbeCompiler implements CallContext {
  private readonly slots = new Map<string, number>();
  private readonly slotTypes: KType[] = [];
  readonly maps: UserMaps;
  readonly output: Output;
  readonly unsafe: boolean;
  private readonly rand: () => bigint;

  constructor(
    private readonly plan: Plan,
    private readonly opts: InterpreterOptions,
  ) {
    this.maps = opts.maps;
    this.output = opts.output;
    this.unsafe = plan.unsafe;
    this.rand = opts.rand ?? defaultRand;
  }

  fail(loc: Loc, message: string): never {
    throw new InterpreterError(error(this.plan.file, loc, message));
  }

  compile(probe: PlanProbe): CompiledProbe {
    const ast = probe.ast;
    if (!ast) throw new InternalError(`user-space probe ${probe.text} has no AST`);
    const predicate = ast.predicate ? this.int(ast.predicate) : undefined;
    const body = this.block(ast.body);
    const initial = this.slotTypes.map(zeroValue);
    const names = probe.attach.flatMap((a) => (a.type === 'kafka' ? [a.name] : []));
    return {
      index: probe.index,
      names,
      intervals: probe.attach.flatMap((a) => (a.type === 'interval' ? [{ probe: attachName(a), ms: intervalMs(a.unit, a.value) }] : [])),
      atEnd: probe.attach.some((a) => a.type === 'end'),
      run(f) {
        const fr: Frame = { vars: initial.slice(), f, exitCode: 0 };
        if (predicate && predicate(fr) === 0n) return undefined;
        return body(fr) === Flow.Exit ? fr.exitCode : undefined;
      },
    };
  }

  // ---- statements ----

  private block(stmts: Stmt[]): Exec {
    return sequence(stmts.map((s) => this.stmt(s)));
  }

  private stmt(s: Stmt): Exec {
    switch (s.kind) {
      case 'exprStmt': {
        const e = s.expr;
        if (e.kind === 'call' && e.name === 'exit') {
          const code = e.args[0] ? this.int(e.args[0]) : undefined;
          return (fr) => {
            fr.exitCode = code ? Number(BigInt.asIntN(64, code(fr))) : 0;
            return Flow.Exit;
          };
        }
        const ev = this.expr(e);
        return (fr) => {
          ev(fr);
          return Flow.Next;
        };
      }
      case 'assign':
        return this.assignVar(s.target, s.op, s.value);
      case 'mapAssign':
        return this.assignMap(s.target, s.op, s.value);
      case 'if': {
        const cond = this.int(s.cond);
        const then = this.block(s.then);
        const other = s.else ? this.block(s.else) : undefined;
        return (fr) => (cond(fr) !== 0n ? then(fr) : other ? other(fr) : Flow.Next);
      }
      case 'while':
        return this.whileLoop(s.cond, s.body, s.loc);
      case 'unroll': {
        if (s.count.kind !== 'int') return this.fail(s.count.loc, 'unroll needs an integer literal count');
        const body = this.block(s.body);
        return sequence(new Array<Exec>(Number(s.count.value)).fill(body));
      }
      case 'for':
        return this.forLoop(s.variable, s.map, s.body);
      case 'return': {
        const value = s.value ? this.expr(s.value) : undefined;
        return (fr) => {
          value?.(fr);
          return Flow.Return;
        };
      }
      case 'break':
        return () => Flow.Break;
      case 'continue':
        return () => Flow.Continue;
      case 'block':
        return this.block(s.body);
    }
  }

  private whileLoop(condExpr: Expr, stmts: Stmt[], loc: Loc): Exec {
    const cond = this.int(condExpr);
    const body = this.block(stmts);
    const where = `${this.plan.file}:${loc.line}:${loc.col}`;
    let reported = false;
    return (fr) => {
      for (let i = 0; ; i++) {
        if (cond(fr) === 0n) return Flow.Next;
        if (i === MAX_LOOP_ITERATIONS) {
          if (!reported) {
            reported = true;
            this.output.error(`${where}: while loop stopped after ${MAX_LOOP_ITERATIONS} iterations; the rest of the probe's action was skipped`);
          }
          return Flow.Return;
        }
        const r = body(fr);
        if (r === Flow.Break) return Flow.Next;
        if (r === Flow.Return || r === Flow.Exit) return r;
      }
    };
  }

  private forLoop(variable: VarRef, ref: MapRef, stmts: Stmt[]): Exec {
    const m = this.map(ref);
    const slot = this.slot(variable);
    const body = this.block(stmts);
    const maps = this.maps;
    return (fr) => {
      // Over a snapshot: the body may change the map, as bpf_for_each_map_elem allows.
      for (const e of maps.snapshot(m.name).entries) {
        const key = e.keys.length === 1 ? e.keys[0]! : e.keys;
        fr.vars[slot] = [key, readable(m, e.value)];
        const r = body(fr);
        if (r === Flow.Break) break;
        if (r === Flow.Return || r === Flow.Exit) return r;
      }
      return Flow.Next;
    };
  }

  private assignVar(target: VarRef, op: string, valueExpr: Expr): Exec {
    const slot = this.slot(target);
    const t = this.slotTypes[slot]!;
    const value = this.expr(valueExpr);
    if (op === '=') {
      const conv = converter(t);
      return (fr) => {
        fr.vars[slot] = conv(value(fr));
        return Flow.Next;
      };
    }
    const f = arithmetic(op, t, typeOf(valueExpr), t);
    return (fr) => {
      fr.vars[slot] = f(fr.vars[slot] as bigint, value(fr) as bigint);
      return Flow.Next;
    };
  }

  private assignMap(target: MapRef, op: string, valueExpr: Expr): Exec {
    const m = this.map(target);
    const keys = this.keys(m, target.keys, target.loc);
    const maps = this.maps;
    const name = m.name;
    if (valueExpr.kind === 'call' && op === '=' && m.value.kind !== 'scalar') {
      const arg = valueExpr.args[0] ? this.int(valueExpr.args[0]) : undefined;
      const kind = m.value.kind;
      if (kind !== valueExpr.name) return this.fail(valueExpr.loc, `${name} holds ${kind}(), not ${valueExpr.name}()`);
      if (kind === 'count') {
        return (fr) => {
          maps.count(name, keys(fr));
          return Flow.Next;
        };
      }
      if (!arg) return this.fail(valueExpr.loc, `${kind}() needs a value`);
      const update = (maps[kind] as (n: string, k: Value[], v: bigint) => void).bind(maps);
      return (fr) => {
        update(name, keys(fr), arg(fr));
        return Flow.Next;
      };
    }
    if (m.value.kind !== 'scalar') return this.fail(target.loc, `${name} holds ${m.value.kind}() values and cannot be assigned`);
    const t = m.value.type;
    const value = this.expr(valueExpr);
    if (op === '=') {
      const conv = converter(t);
      return (fr) => {
        maps.assign(name, keys(fr), conv(value(fr)));
        return Flow.Next;
      };
    }
    const f = arithmetic(op, t, typeOf(valueExpr), t);
    return (fr) => {
      const k = keys(fr);
      const old = readable(m, maps.get(name, k)) as bigint;
      maps.assign(name, k, f(old, value(fr) as bigint));
      return Flow.Next;
    };
  }

  // ---- maps and variables ----

  map(ref: MapRef): PlanMap {
    const m = this.plan.maps.find((x) => x.name === ref.name);
    if (!m) return this.fail(ref.loc, `undefined map ${ref.name}`);
    if (m.home !== 'user' || !this.maps.has(m.name)) {
      return this.fail(ref.loc, `${ref.name} is also used by kernel probes; kafka probes run in user space and cannot share a map with kernel probes`);
    }
    return m;
  }

  keys(m: PlanMap, keys: Expr[], loc: Loc): (fr: Frame) => Value[] {
    if (keys.length !== m.keyTypes.length) return this.fail(loc, `${m.name} takes ${m.keyTypes.length} keys, not ${keys.length}`);
    if (keys.length === 0) return () => EMPTY_KEYS;
    const evs = keys.map((k, i) => {
      const ev = this.expr(k);
      const conv = converter(m.keyTypes[i]!);
      return (fr: Frame) => conv(ev(fr));
    });
    if (evs.length === 1) {
      const only = evs[0]!;
      return (fr) => [only(fr)];
    }
    return (fr) => evs.map((ev) => ev(fr));
  }

  private slot(v: VarRef): number {
    let slot = this.slots.get(v.name);
    if (slot === undefined) {
      slot = this.slotTypes.length;
      this.slots.set(v.name, slot);
      this.slotTypes.push(typeOf(v));
    }
    return slot;
  }

  // ---- expressions ----

  int(e: Expr): IntEv {
    if (typeOf(e).kind !== 'int') return this.fail(e.loc, 'an integer is needed here');
    return this.expr(e) as IntEv;
  }

  expr(e: Expr): Ev {
    const t = typeOf(e);
    switch (e.kind) {
      case 'int': {
        const v = t.kind === 'int' ? wrapInt(t)(e.value) : e.value;
        return () => v;
      }
      case 'str': {
        const v = e.value;
        return () => v;
      }
      case 'var': {
        const slot = this.slot(e);
        return (fr) => fr.vars[slot]!;
      }
      case 'map': {
        const m = this.map(e);
        const keys = this.keys(m, e.keys, e.loc);
        const maps = this.maps;
        return (fr) => readable(m, maps.get(m.name, keys(fr)));
      }
      case 'builtin': {
        const value = e.value;
        return value === undefined ? this.builtin(e.name, e.loc) : () => value;
      }
      case 'positional': {
        const raw = this.opts.positional?.[e.index - 1];
        if (t.kind !== 'int') {
          const s = raw ?? '';
          return () => s;
        }
        const v = positionalInteger(raw) ?? 0n;
        return () => v;
      }
      case 'argcount': {
        const n = BigInt(this.opts.positional?.length ?? 0);
        return () => n;
      }
      case 'call':
        return compileCall(e, this);
      case 'binary':
        return this.binary(e.op, e.left, e.right, t);
      case 'unary': {
        const operand = this.int(e.operand);
        if (e.op === '!') return (fr) => (operand(fr) === 0n ? 1n : 0n);
        if (e.op === '-' || e.op === '~') {
          const f = unaryOp(e.op, typeOf(e.operand), t);
          return (fr) => f(operand(fr));
        }
        return this.fail(e.loc, `'${e.op}' reads kernel memory, which kafka probes cannot do`);
      }
      case 'incdec':
        return this.incDec(e.target, e.op === '++' ? 1n : -1n, e.prefix);
      case 'ternary': {
        const cond = this.int(e.cond);
        const then = this.expr(e.then);
        const other = this.expr(e.else);
        if (t.kind === 'int') {
          const w = wrapInt(t);
          return (fr) => w((cond(fr) !== 0n ? then(fr) : other(fr)) as bigint);
        }
        return (fr) => (cond(fr) !== 0n ? then(fr) : other(fr));
      }
      case 'field':
        return this.field(e.object, e.field, t, e.loc);
      case 'tupleIndex': {
        const obj = this.expr(e.object);
        const i = e.index;
        return (fr) => (obj(fr) as Value[])[i]!;
      }
      case 'tuple': {
        const elems = e.elems.map((x) => this.expr(x));
        return (fr) => elems.map((ev) => ev(fr));
      }
      case 'index':
        return this.fail(e.loc, 'indexing with [] is only supported on maps (@name[key])');
      case 'typeRef':
        return this.fail(e.loc, 'a type can only be the argument of sizeof()');
      case 'cast': {
        if (t.kind !== 'int') return this.fail(e.loc, 'only integer casts are supported');
        const operand = this.int(e.operand);
        const w = wrapInt(t);
        return (fr) => w(operand(fr));
      }
    }
  }

  private binary(op: string, left: Expr, right: Expr, t: KType): Ev {
    const lt = typeOf(left);
    const rt = typeOf(right);
    const l = this.expr(left);
    const r = this.expr(right);
    if (op === '&&') return (fr) => ((l(fr) as bigint) !== 0n && (r(fr) as bigint) !== 0n ? 1n : 0n);
    if (op === '||') return (fr) => ((l(fr) as bigint) !== 0n || (r(fr) as bigint) !== 0n ? 1n : 0n);
    if ((op === '==' || op === '!=') && lt.kind === 'str') {
      const want = op === '==';
      return (fr) => ((l(fr) === r(fr)) === want ? 1n : 0n);
    }
    const f = ['<', '<=', '>', '>=', '==', '!='].includes(op) ? comparison(op, lt, rt) : arithmetic(op, lt, rt, t);
    return (fr) => f(l(fr) as bigint, r(fr) as bigint);
  }

  private incDec(target: VarRef | MapRef, delta: bigint, prefix: boolean): Ev {
    if (target.kind === 'var') {
      const slot = this.slot(target);
      const t = this.slotTypes[slot]!;
      if (t.kind !== 'int') return this.fail(target.loc, `${target.name} does not hold an integer`);
      const w = wrapInt(t);
      return (fr) => {
        const old = fr.vars[slot] as bigint;
        const now = w(old + delta);
        fr.vars[slot] = now;
        return prefix ? now : old;
      };
    }
    const m = this.map(target);
    if (m.value.kind !== 'scalar' || m.value.type.kind !== 'int') return this.fail(target.loc, `${m.name} does not hold integers`);
    const w = wrapInt(m.value.type);
    const signed = isSigned(m.value.type);
    const keys = this.keys(m, target.keys, target.loc);
    const maps = this.maps;
    return (fr) => {
      const k = keys(fr);
      const old = readable(m, maps.get(m.name, k)) as bigint;
      const now = w(old + delta);
      maps.assign(m.name, k, now);
      const v = prefix ? now : old;
      return signed ? v : BigInt.asIntN(64, v);
    };
  }

  private builtin(name: string, loc: Loc): Ev {
    switch (name) {
      case 'pid':
        return (fr) => BigInt(fr.f.pid);
      case 'tid':
        return (fr) => BigInt(fr.f.tid);
      case 'comm':
        return (fr) => truncateString(fr.f.comm, 16);
      case 'nsecs':
        return (fr) => fr.f.nsecs;
      case 'elapsed': {
        const start = this.opts.startNs;
        return (fr) => BigInt.asUintN(64, fr.f.nsecs - start);
      }
      case 'cgroup':
        return (fr) => fr.f.cgroup?.() ?? 0n;
      case 'rand': {
        const rand = this.rand;
        return () => rand();
      }
      case 'probe':
        return (fr) => fr.f.probe;
      default:
        return this.fail(loc, `${name} is not available in kafka probes, which run in user space on decoded Kafka events`);
    }
  }

  private field(object: Expr, field: string, t: KType, loc: Loc): Ev {
    if (object.kind !== 'builtin' || object.name !== 'args') return this.fail(loc, 'field access needs args: args.NAME');
    // A field the decoder could not fill reads as zero, like an unset field of a kernel struct.
    if (t.kind === 'int') {
      const w = wrapInt(t);
      return (fr) => {
        const v = fr.f.args[field];
        return typeof v === 'bigint' ? w(v) : 0n;
      };
    }
    if (t.kind === 'str') {
      const size = t.size;
      return (fr) => {
        const v = fr.f.args[field];
        return typeof v === 'string' ? truncateString(v, size) : v === undefined ? '' : String(v);
      };
    }
    return () => NONE;
  }
}

/** An interval's period in ms; timers fire at most once a millisecond. */
function intervalMs(unit: 'hz' | 's' | 'ms' | 'us', value: number): number {
  const ms = unit === 's' ? value * 1000 : unit === 'ms' ? value : unit === 'us' ? value / 1000 : 1000 / value;
  return Math.max(1, Math.round(ms));
}

/** Compiles one user-space probe; throws InterpreterError for what user space cannot run. */
export function compileUserProbe(plan: Plan, probe: PlanProbe, opts: InterpreterOptions): CompiledProbe {
  return new ProbeCompiler(plan, opts).compile(probe);
}

/** Compiles every user-space probe of a plan, in script order. */
export function compileUserProbes(plan: Plan, opts: InterpreterOptions): CompiledProbe[] {
  return plan.probes.filter((p) => p.where === 'user').map((p) => compileUserProbe(plan, p, opts));
}
