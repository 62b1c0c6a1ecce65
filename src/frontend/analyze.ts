// Semantic analysis: resolves attach points against the system, types every expression, checks
// builtins, functions, maps and variables, and reports every mistake of a script at once.
import { positionalInteger } from '../../grammar/literals.js';
import { isKtError } from '../errors.js';
import type { AddressSpace, AttachPoint, Call, Expr, FieldAccess, KType, Loc, MapRef, Probe, RecordField, Script, Stmt, VarRef } from './ast.js';
import { attachName, type Analysis, type AnalyzedProbe, type KafkaArg, type MapInfo, type ResolvedAttach, type TracepointFormat } from './analysis.js';
import { type AttachResolution, resolveAttachPoint } from './attach.js';
import { ARG_PROVIDERS, BUILTINS, MAX_ARG_REGISTERS, MISSING_BUILTINS, STACK_ARG_PROVIDERS, builtinNames } from './builtins.js';
import { type Diagnostic, didYouMean, error } from './diagnostics.js';
import { type CallHost, type T, checkAggregation, checkCall } from './calls.js';
import { MAP_FUNCTIONS } from './functions.js';
import { type KafkaCatalogue, type KafkaProbeInfo, kafkaCatalogue } from './kafka-catalogue.js';
import { type MapState, MapTable, at, mapValueType, plural } from './map-table.js';
import type { Provider } from './providers.js';
import type { SystemInfo, SystemResult } from './system.js';
import { type RecordMember, recordMembers } from './btf-members.js';
import type { DebugRecord } from './dwarf.js';
import { type ScriptTypes, identifiers, scriptTypes } from './c-definitions.js';
import { INT64, NONE, UINT64, compatible, isInt, isPtr, isStr, pointeeSize, storageType, typeName, unify } from './types.js';

export interface AnalysisEnv {
  /** Positional parameters given on the command line ($1 is index 0). */
  positional: string[];
  /** Whether --unsafe was given (system(), signal()). */
  unsafe: boolean;
  /** Whether -c gives a command to run (cpid is its pid). */
  child?: boolean;
  /** -p: the process whose mount namespace uprobe and usdt binaries resolve in. */
  pid?: number;
  /** The traced process's program: -c's command (its first word) or /proc/PID/exe for -p. */
  tracee?: string;
  /** -k, -kk: which helper failures the program reports at run time (0: none). */
  helperChecks?: 0 | 1 | 2;
  /** --include: headers included before the script's own C, as clang's -include does (names checked by the CLI). */
  includes?: string[];
  system: SystemInfo;
  /** The kafka probe catalogue; the installed one when absent. */
  kafka?: KafkaCatalogue;
}

interface ProbeContext {
  providers: Provider[];
  where: 'kernel' | 'user';
  formats: TracepointFormat[];
  kafka: KafkaProbeInfo[];
  /** The full names of the attach points, for the `probe` builtin. */
  names: string[];
  /** The binaries of the uprobe, uretprobe and usdt attach points, for uaddr(). */
  binaries: string[];
  /** The functions of the uprobe attach points (their parameters are `args`). */
  functions: { binary: string; symbol: string }[];
  variables: Map<string, { type: KType; loc: Loc }>;
  usesArgs: boolean;
  loops: number;
  /** Inside the first argument of str(): a missing positional parameter is an empty string there. */
  inStrArg: boolean;
}

const INT_CASTS: Record<string, KType> = {
  int8: { kind: 'int', bits: 8, signed: true },
  int16: { kind: 'int', bits: 16, signed: true },
  int32: { kind: 'int', bits: 32, signed: true },
  int64: INT64,
  uint8: { kind: 'int', bits: 8, signed: false },
  uint16: { kind: 'int', bits: 16, signed: false },
  uint32: { kind: 'int', bits: 32, signed: false },
  uint64: UINT64,
  char: { kind: 'int', bits: 8, signed: true },
  short: { kind: 'int', bits: 16, signed: true },
  int: { kind: 'int', bits: 32, signed: true },
  long: INT64,
  'unsigned char': { kind: 'int', bits: 8, signed: false },
  'unsigned short': { kind: 'int', bits: 16, signed: false },
  'unsigned int': { kind: 'int', bits: 32, signed: false },
  unsigned: { kind: 'int', bits: 32, signed: false },
  'unsigned long': UINT64,
  bool: { kind: 'int', bits: 8, signed: false },
};

const ARITHMETIC = new Set(['+', '-', '*', '/', '%', '&', '|', '^', '<<', '>>']);
const ORDERING = new Set(['<', '<=', '>', '>=']);

class Analyzer implements CallHost {
  readonly diagnostics: Diagnostic[] = [];
  readonly maps: MapTable;
  readonly hostValues = new Map<Call, bigint>();

  get positional(): string[] {
    return this.env.positional;
  }
  usesUnsafe = false;
  private ctx!: ProbeContext;

  constructor(
    private readonly file: string,
    private readonly env: AnalysisEnv,
    private readonly types: ScriptTypes,
    seed?: Map<string, MapState>,
  ) {
    // The second pass starts from the maps the first pass found, so a map read in a probe written
    // before the one that assigns it still has its type.
    this.maps = new MapTable((loc, message) => this.err(loc, message), seed);
  }

  /** A record's size: the script's C defines it, the DWARF of a binary the probe attaches to has it, or the kernel's BTF has it. */
  private recordSize(name: string): SystemResult<number> {
    const own = this.types.record(name);
    if (own) return { ok: true, value: own.btf.sizeOf(own.id) };
    const debug = this.debugRecord(name);
    return debug ? { ok: true, value: debug.size } : this.env.system.recordSize(name);
  }

  private recordMembers(name: string): SystemResult<RecordMember[]> {
    const own = this.types.record(name);
    if (own) return { ok: true, value: recordMembers(own.btf, own.id) };
    const debug = this.debugRecord(name);
    return debug ? { ok: true, value: debug.members } : this.env.system.recordMembers(name);
  }

  /** The record as the first of the probe's binaries whose DWARF defines it has it (bpftrace looks there before the kernel). */
  private debugRecord(name: string): DebugRecord | undefined {
    for (const binary of this.ctx?.binaries ?? []) {
      const r = this.env.system.debugRecord(binary, name);
      if (r.ok) return r.value;
    }
    return undefined;
  }

  get where(): 'kernel' | 'user' {
    return this.ctx.where;
  }

  get providers(): Provider[] {
    return this.ctx.providers;
  }

  get system(): SystemInfo {
    return this.env.system;
  }

  get binaries(): string[] {
    return this.ctx.binaries;
  }

  resolved(c: Call, value: bigint): void {
    this.hostValues.set(c, value);
  }

  err(loc: Loc, message: string, hint?: string): undefined {
    this.diagnostics.push(error(this.file, loc, message, hint));
    return undefined;
  }

  suggest(name: string, candidates: Iterable<string>): string | undefined {
    const c = didYouMean(name, candidates);
    return c === undefined ? undefined : `did you mean '${c}'?`;
  }

  // ---- probes ------------------------------------------------------------------------------

  /** `inUserSpace`: an interval or END block that shares maps with kafka probes runs beside them. */
  analyzeProbe(probe: Probe, resolutions: (AttachResolution | undefined)[], inUserSpace = false): ProbeContext {
    const ok = resolutions.filter((r): r is AttachResolution => r !== undefined);
    const providers = [...new Set(ok.map((r) => r.provider))];
    const resolved = ok.flatMap((r) => r.resolved);
    const names = resolved.map(attachName);
    const binaries = [...new Set(resolved.flatMap((a) => (a.type === 'uprobe' || a.type === 'uretprobe' || a.type === 'usdt' ? [a.binary] : [])))];
    this.maps.takeTouched();
    this.ctx = {
      providers,
      where: providers.includes('kafka') || inUserSpace ? 'user' : 'kernel',
      formats: ok.flatMap((r) => r.formats),
      kafka: ok.flatMap((r) => r.kafka),
      names,
      binaries,
      functions: resolved.flatMap((a) => (a.type === 'uprobe' ? [{ binary: a.binary, symbol: a.symbol }] : [])),
      variables: new Map(),
      usesArgs: false,
      loops: 0,
      inStrArg: false,
    };
    if (providers.includes('kafka') && providers.length > 1) {
      const other = probe.attach.find((_, i) => resolutions[i] && resolutions[i]!.provider !== 'kafka')!;
      this.err(other.loc, 'kafka probes run in user space and cannot share a block with kernel probes: give them their own block');
    }
    if (probe.predicate) {
      // A pointer is a predicate (true when not null), as in bpftrace; it is not an if() condition there.
      const t = this.expr(probe.predicate);
      if (t && !isInt(t) && !isPtr(t)) this.err(probe.predicate.loc, `the predicate must be an integer condition, but it is ${typeName(t)}`);
    }
    this.block(probe.body);
    return this.ctx;
  }

  // ---- statements --------------------------------------------------------------------------

  private block(stmts: Stmt[]): void {
    for (const s of stmts) this.stmt(s);
  }

  private stmt(s: Stmt): void {
    switch (s.kind) {
      case 'exprStmt':
        this.expr(s.expr, true);
        return;
      case 'assign':
        this.assignVar(s.target, s.op, s.value);
        return;
      case 'mapAssign':
        this.assignMap(s.target, s.op, s.value);
        return;
      case 'if':
        this.condition(s.cond, 'if');
        this.block(s.then);
        if (s.else) this.block(s.else);
        return;
      case 'while':
        this.condition(s.cond, 'while');
        this.ctx.loops++;
        this.block(s.body);
        this.ctx.loops--;
        return;
      case 'unroll': {
        this.expr(s.count);
        const n = s.count.kind === 'int' || s.count.kind === 'positional' ? this.constInt(s.count) : undefined;
        // bpftrace's words for the bounds.
        if (n === undefined) this.err(s.count.loc, 'unroll count must be an integer literal or a positional parameter');
        else if (n < 1) this.err(s.count.loc, 'unroll minimum value is 1');
        else if (n > 100) this.err(s.count.loc, 'unroll maximum value is 100');
        // What follows (code generation, the interpreter) sees the count a positional parameter gave.
        else if (s.count.kind === 'positional') s.count = { kind: 'int', value: BigInt(n), raw: String(n), loc: s.count.loc, type: INT64 };
        this.block(s.body);
        return;
      }
      case 'for':
        this.forLoop(s.variable, s.map, s.body);
        return;
      case 'return':
        if (s.value) {
          const t = this.expr(s.value);
          if (t && !isInt(t)) this.err(s.value.loc, `return takes an integer, but the value is ${typeName(t)}`);
        }
        return;
      case 'break':
      case 'continue':
        if (this.ctx.loops === 0) this.err(s.loc, `${s.kind} outside of a loop`);
        return;
      case 'block':
        this.block(s.body);
        return;
    }
  }

  private condition(cond: Expr, what: string): void {
    const t = this.expr(cond);
    if (t && !isInt(t)) this.err(cond.loc, `the ${what} condition must be an integer, but it is ${typeName(t)}`);
  }

  private assignVar(target: VarRef, op: string, value: Expr): void {
    const t = this.expr(value);
    const existing = this.ctx.variables.get(target.name);
    if (op !== '=') {
      if (!existing) {
        target.type = NONE;
        return void this.err(target.loc, `${target.name} used before assignment`, this.suggest(target.name, this.ctx.variables.keys()));
      }
      target.type = existing.type;
      if (isPtr(existing.type)) return void (t && this.compoundOnPointer(op, existing.type, t, value.loc));
      if (!isInt(existing.type)) return void this.err(target.loc, `'${op}=' needs an integer variable, but ${target.name} is ${typeName(existing.type)}`);
      if (t && !isInt(t)) this.err(value.loc, `'${op}=' needs an integer value, but it is ${typeName(t)}`);
      return;
    }
    if (!t) {
      target.type = existing?.type ?? NONE;
      return;
    }
    if (t.kind === 'none') {
      target.type = existing?.type ?? NONE;
      return void this.err(value.loc, `cannot assign a value of no type to ${target.name}`);
    }
    if (existing) {
      if (!compatible(existing.type, t)) {
        target.type = existing.type;
        return void this.err(
          value.loc,
          `${target.name} holds ${typeName(existing.type)} (first assigned at ${at(existing.loc)}); it cannot be assigned ${typeName(t)}`,
        );
      }
      existing.type = unify(existing.type, t);
      target.type = existing.type;
      return;
    }
    const stored = storageType(t);
    this.ctx.variables.set(target.name, { type: stored, loc: target.loc });
    target.type = stored;
  }

  private assignMap(target: MapRef, op: string, value: Expr): void {
    this.mapKeys(target);
    if (value.kind === 'call' && MAP_FUNCTIONS.has(value.name)) {
      if (op !== '=') {
        this.err(value.loc, `${value.name}() cannot be combined with '${op}=': write ${target.name} = ${value.name}(...)`);
        for (const a of value.args) this.expr(a);
        value.type = NONE;
        return;
      }
      const kind = checkAggregation(this, value);
      value.type = NONE;
      if (kind) this.maps.defineValue(target, kind, value.loc, this.ctx.where);
      target.type = this.maps.valueType(target.name) ?? NONE;
      return;
    }
    const t = this.expr(value);
    if (op !== '=') {
      const held = this.maps.valueType(target.name);
      if (isPtr(held)) {
        if (t) this.compoundOnPointer(op, held, t, value.loc);
      } else if (t && !isInt(t)) this.err(value.loc, `'${op}=' needs an integer value, but it is ${typeName(t)}`);
      this.maps.defineValue(target, { kind: 'scalar', type: isPtr(held) ? held : INT64 }, target.loc, this.ctx.where, true);
      target.type = this.maps.valueType(target.name) ?? NONE;
      return;
    }
    if (!t) {
      target.type = NONE;
      return;
    }
    if (t.kind === 'none') {
      target.type = NONE;
      return void this.err(value.loc, `cannot assign a value of no type to ${target.name}`);
    }
    this.maps.defineValue(target, { kind: 'scalar', type: storageType(t) }, value.loc, this.ctx.where);
    target.type = this.maps.valueType(target.name) ?? NONE;
  }

  private forLoop(variable: VarRef, map: MapRef, body: Stmt[]): void {
    const state = this.maps.touch(map, this.ctx.where);
    map.type = NONE;
    if (map.keys.length) this.err(map.loc, `for loops iterate over a whole map: write ${map.name} without keys`);
    let elem: KType = NONE;
    if (!state?.value) {
      this.err(map.loc, `undefined map ${map.name}`, this.suggest(map.name, this.maps.names()));
    } else {
      const keyTypes = state.keys?.types ?? [];
      const key: KType = keyTypes.length === 1 ? keyTypes[0]! : { kind: 'tuple', elems: keyTypes };
      const value = mapValueType(state.value.kind);
      if (!keyTypes.length) this.err(map.loc, `for loops need a map with keys, but ${map.name} has none`);
      else if (!value) this.err(map.loc, `cannot iterate over ${map.name}: a ${state.value.kind.kind}() map has no single value per key`);
      else elem = { kind: 'tuple', elems: [key, value] };
    }
    variable.type = elem;
    const previous = this.ctx.variables.get(variable.name);
    if (previous && !compatible(previous.type, elem)) {
      this.err(variable.loc, `${variable.name} holds ${typeName(previous.type)} (first assigned at ${at(previous.loc)}); the loop would make it ${typeName(elem)}`);
    } else if (!previous) {
      this.ctx.variables.set(variable.name, { type: elem, loc: variable.loc });
    }
    this.ctx.loops++;
    this.block(body);
    this.ctx.loops--;
  }

  // ---- maps --------------------------------------------------------------------------------

  /** Types the keys of a map reference and checks them against the map's key shape. */
  mapKeys(ref: MapRef): void {
    const types: KType[] = [];
    let failed = false;
    for (const k of ref.keys) {
      const t = this.expr(k);
      if (!t) failed = true;
      else if (t.kind === 'none') {
        failed = true;
        this.err(k.loc, `a map key cannot be a value of no type`);
      } else types.push(storageType(t));
    }
    const state = this.maps.touch(ref, this.ctx.where);
    if (failed) return;
    this.maps.checkKeys(state, types, ref);
  }

  private mapRead(ref: MapRef): T {
    this.mapKeys(ref);
    const state = this.maps.get(ref.name)!;
    if (!state.value) return this.err(ref.loc, `undefined map ${ref.name}`, this.suggest(ref.name, this.maps.names()));
    const t = mapValueType(state.value.kind);
    if (!t) {
      return this.err(ref.loc, `the value of ${ref.name}, a ${state.value.kind.kind}() map, cannot be used in an expression; print(${ref.name}) prints it`);
    }
    return t;
  }

  constInt(e: Expr): number | undefined {
    if (e.kind === 'int') return Number(e.value);
    if (e.kind === 'unary' && e.op === '-' && e.operand.kind === 'int') return -Number(e.operand.value);
    if (e.kind === 'positional') {
      const v = positionalInteger(this.env.positional[e.index - 1]);
      return v === undefined ? undefined : Number(v);
    }
    return undefined;
  }

  // ---- expressions -------------------------------------------------------------------------

  /** Types an expression, sets `type` on it, and returns the type (undefined after an error). */
  expr(e: Expr, statement = false): T {
    const t = this.place(e, statement);
    if (t?.kind !== 'struct') return t;
    // A struct place used as a value is the struct's bytes, copied whole (`@s = *p`).
    const place = this.structPlace(t, t.space, e.loc);
    if (!place) return undefined;
    const members = this.recordMembers(t.name);
    if (!members.ok) return this.err(e.loc, `cannot read a whole ${t.name}: ${members.error}`);
    const r = this.recordValue(t.name, (place as { size: number }).size, members.value, e.loc);
    e.type = r ?? NONE;
    return r;
  }

  /** The value type of a whole struct: every member that prints, nested records included. */
  private recordValue(name: string, size: number, members: RecordMember[], loc: Loc, depth = 0): T {
    const fields: RecordField[] = [];
    for (const m of members) {
      let type: KType | undefined = m.type;
      if (!type && m.anonymous && depth < 16) type = this.recordValue('', m.anonymous.size, m.anonymous.members, loc, depth + 1);
      else if (type?.kind === 'struct' && depth < 16) {
        const inner = this.recordMembers(type.name);
        const innerSize = this.recordSize(type.name);
        if (!inner.ok || !innerSize.ok) return this.err(loc, `cannot read a whole ${name || 'struct'}: ${inner.ok ? (innerSize as { error: string }).error : inner.error}`);
        type = this.recordValue(type.name, innerSize.value, inner.value, loc, depth + 1);
      }
      if (!type) return m.problem ? this.err(loc, `cannot read a whole ${name || 'struct'}: member '${m.name}': ${m.problem}`) : undefined;
      fields.push(m.bitfield ? { name: m.name, offset: m.offset, type, bitfield: m.bitfield } : { name: m.name, offset: m.offset, type });
    }
    return { kind: 'record', name, size, fields };
  }

  /** Types an expression that may also be a struct, whose members are then read (`(*p).m`), or its size taken. */
  place(e: Expr, statement = false): T {
    const t = this.exprInner(e, statement);
    e.type = t ?? NONE;
    return t;
  }

  private exprInner(e: Expr, statement: boolean): T {
    switch (e.kind) {
      case 'int':
        return e.value > 0x7fffffffffffffffn ? UINT64 : INT64;
      case 'str':
        return { kind: 'str', size: Buffer.byteLength(e.value) + 1 };
      case 'var': {
        const v = this.ctx.variables.get(e.name);
        if (!v) return this.err(e.loc, `${e.name} used before assignment`, this.suggest(e.name, this.ctx.variables.keys()));
        return v.type;
      }
      case 'map':
        return this.mapRead(e);
      case 'builtin':
        return this.builtin(e.name, e.loc, e);
      case 'positional': {
        // As in bpftrace: a parameter not given is 0, or "" inside str(), where even a number is text.
        const v = this.env.positional[e.index - 1];
        if (this.ctx.inStrArg) return { kind: 'str', size: Buffer.byteLength(v ?? '') + 1 };
        if (v === undefined || positionalInteger(v) !== undefined) return INT64;
        return { kind: 'str', size: Buffer.byteLength(v) + 1 };
      }
      case 'argcount':
        return INT64;
      case 'call':
        return checkCall(this, e, statement);
      case 'binary':
        return this.binary(e.op, e.left, e.right, e.loc);
      case 'unary': {
        const t = this.expr(e.operand);
        if (e.op === '&') return this.err(e.loc, `the address-of operator '&' is not supported`);
        if (!t) return undefined;
        if (isPtr(t) && e.op === '*') return t.to.kind === 'struct' ? this.structPlace(t.to, t.space, e.loc) : t.to;
        if (!isInt(t)) return this.err(e.loc, `'${e.op}' needs an integer operand, but it is ${typeName(t)}`);
        if (e.op === '*') return UINT64;
        if (e.op === '!') return INT64;
        return { kind: 'int', bits: 64, signed: e.op === '-' ? true : t.signed };
      }
      case 'incdec': {
        if (e.target.kind === 'var') {
          const v = this.ctx.variables.get(e.target.name);
          if (!v) {
            e.target.type = NONE;
            return this.err(e.target.loc, `${e.target.name} used before assignment`, this.suggest(e.target.name, this.ctx.variables.keys()));
          }
          e.target.type = v.type;
          if (isPtr(v.type)) return this.pointerStep(v.type, e.loc) ? v.type : undefined;
          if (!isInt(v.type)) return this.err(e.loc, `'${e.op}' needs an integer, but ${e.target.name} is ${typeName(v.type)}`);
          return v.type;
        }
        this.mapKeys(e.target);
        const held = this.maps.valueType(e.target.name);
        const type = isPtr(held) ? held : INT64;
        this.maps.defineValue(e.target, { kind: 'scalar', type }, e.target.loc, this.ctx.where, true);
        e.target.type = this.maps.valueType(e.target.name) ?? NONE;
        return !isPtr(type) || this.pointerStep(type, e.loc) ? type : undefined;
      }
      case 'ternary': {
        this.condition(e.cond, 'ternary');
        const a = this.expr(e.then);
        const b = this.expr(e.else);
        if (!a || !b) return undefined;
        if (!compatible(a, b)) return this.err(e.loc, `the branches of ?: have different types: ${typeName(a)} and ${typeName(b)}`);
        return unify(a, b);
      }
      case 'field':
        return e.object.kind === 'builtin' && e.object.name === 'args' ? this.field(e) : this.member(e);
      case 'tupleIndex': {
        const t = this.expr(e.object);
        if (!t) return undefined;
        if (t.kind !== 'tuple') return this.err(e.loc, `.${e.index} needs a tuple, but the value is ${typeName(t)}`);
        const elem = t.elems[e.index];
        if (!elem) return this.err(e.loc, `tuple index ${e.index} is out of range for a tuple of ${plural(t.elems.length, 'element')}`);
        return elem;
      }
      case 'tuple': {
        const elems: KType[] = [];
        for (const x of e.elems) {
          const t = this.expr(x);
          if (!t) return undefined;
          if (t.kind === 'none') return this.err(x.loc, 'a tuple element cannot be a value of no type');
          elems.push(t);
        }
        return { kind: 'tuple', elems };
      }
      case 'index': {
        const o = this.expr(e.object);
        const i = this.expr(e.index);
        if (!o || !i) return undefined;
        if (o.kind === 'array') {
          if (!isInt(i)) return this.err(e.index.loc, `an index must be an integer, but it is ${typeName(i)}`);
          // bpftrace refuses a constant index past the end; others read 0 there.
          if (e.index.kind === 'int' && (e.index.value < 0n || e.index.value >= BigInt(o.length))) {
            return this.err(e.index.loc, `the index ${e.index.value} is out of bounds for array of size ${o.length}`);
          }
          // An element that is a struct is a copy, like the array it is in (`$c->w[1].a`).
          if (o.elem.kind !== 'struct') return o.elem;
          const members = this.recordMembers(o.elem.name);
          if (!members.ok) return this.err(e.loc, `cannot read a whole ${o.elem.name}: ${members.error}`);
          return this.recordValue(o.elem.name, o.elem.size!, members.value, e.loc);
        }
        if (!isPtr(o)) return this.err(e.loc, `indexing with [] is only supported on maps (@name[key]), arrays and pointers, but the value is ${typeName(o)}`);
        if (!isInt(i)) return this.err(e.index.loc, `an index must be an integer, but it is ${typeName(i)}`);
        // p[i] reads the i-th T after p, as *(p + i) does.
        if (o.to.kind === 'struct') return this.err(e.loc, `cannot read a whole ${o.to.name}: reading struct members is not supported yet`);
        return o.to;
      }
      case 'cast': {
        const t = this.expr(e.operand);
        const target = this.namedType(e.typeName, e.loc, 'cast');
        if (!target) return undefined;
        if (target.kind === 'struct') return this.err(e.loc, `cannot cast to ${target.name}: casts take integer and pointer types`);
        if (isPtr(target) && this.ctx.where === 'user') return this.err(e.loc, 'pointers are not available in kafka probes, which run in user space on decoded Kafka events');
        if (t && !isInt(t) && !isPtr(t)) return this.err(e.loc, `cannot cast ${typeName(t)} to ${typeName(target)}`);
        // An address keeps the memory it points into (uptr(), kptr(), ctx) through a cast.
        return t && (isInt(t) || isPtr(t)) && t.space && (isInt(target) || isPtr(target)) ? { ...target, space: t.space } : target;
      }
      case 'typeRef':
        return this.err(e.loc, `a type (${e.typeName}) can only be the argument of sizeof()`);
    }
  }

  private binary(op: string, left: Expr, right: Expr, loc: Loc): T {
    const a = this.expr(left);
    const b = this.expr(right);
    if (!a || !b) return undefined;
    const intLike = (t: KType): boolean => isInt(t) || isPtr(t);
    if (op === '==' || op === '!=') {
      if (intLike(a) && intLike(b)) return INT64;
      if (isStr(a) && isStr(b)) return INT64;
      if (a.kind === 'array' && compatible(a, b)) return INT64;
      // Buffers are equal when their lengths and bytes are (codegen compares the length with the bytes).
      if (a.kind === 'buf' && b.kind === 'buf') return INT64;
      return this.err(loc, `cannot compare ${typeName(a)} with ${typeName(b)} using '${op}'`);
    }
    if (ORDERING.has(op)) {
      if (intLike(a) && intLike(b)) return INT64;
      if (isStr(a) || isStr(b)) return this.err(loc, `strings can only be compared with == and !=, not '${op}'`);
      return this.err(loc, `'${op}' needs integers, but the operands are ${typeName(a)} and ${typeName(b)}`);
    }
    if (op === '&&' || op === '||') {
      const bad = !isInt(a) ? left : !isInt(b) ? right : undefined;
      if (bad) return this.err(bad.loc, `'${op}' needs integer operands, but this one is ${typeName(bad.type!)}`);
      return INT64;
    }
    if (isPtr(a) || isPtr(b)) return this.pointerArithmetic(op, a, b, loc);
    if (ARITHMETIC.has(op)) {
      if (!isInt(a) || !isInt(b)) {
        const hint = isStr(a) && isStr(b) && op === '+' ? 'strings cannot be concatenated; printf("%s%s", a, b) prints both' : undefined;
        return this.err(loc, `'${op}' needs integers, but the operands are ${typeName(a)} and ${typeName(b)}`, hint);
      }
      if ((op === '/' || op === '%') && right.kind === 'int' && right.value === 0n) return this.err(right.loc, 'division by zero');
      return { kind: 'int', bits: 64, signed: a.signed || b.signed };
    }
    return this.err(loc, `unknown operator '${op}'`);
  }

  /** Pointer + integer, integer + pointer and pointer - integer move by the pointee's size, as in C. */
  private pointerArithmetic(op: string, a: KType, b: KType, loc: Loc): T {
    const ptr = isPtr(a) ? a : (b as Extract<KType, { kind: 'ptr' }>);
    const other = isPtr(a) ? b : a;
    if (isPtr(a) && isPtr(b)) return this.err(loc, `'${op}' cannot be used on two pointers (${typeName(a)}, ${typeName(b)}); cast them to integers to subtract addresses`);
    if (!isInt(other)) return this.err(loc, `'${op}' needs integers, but the operands are ${typeName(a)} and ${typeName(b)}`);
    if (op !== '+' && !(op === '-' && isPtr(a))) {
      return this.err(loc, `'${op}' cannot be used on a pointer (${typeName(ptr)}): only pointer + integer and pointer - integer are defined`, `cast it to an integer first: (uint64)`);
    }
    return this.pointerStep(ptr, loc) ? ptr : undefined;
  }

  private compoundOnPointer(op: string, ptr: Extract<KType, { kind: 'ptr' }>, value: KType, loc: Loc): void {
    if (op !== '+' && op !== '-') return void this.err(loc, `'${op}=' cannot be used on a pointer (${typeName(ptr)}): only += and -= are defined`);
    if (!isInt(value)) return void this.err(loc, `'${op}=' on a pointer needs an integer value, but it is ${typeName(value)}`);
    this.pointerStep(ptr, loc);
  }

  /** Whether arithmetic on the pointer has a step: a struct that BTF does not have has no known size. */
  private pointerStep(ptr: Extract<KType, { kind: 'ptr' }>, loc: Loc): boolean {
    if (pointeeSize(ptr) !== undefined) return true;
    const why = ptr.to.kind === 'struct' ? this.recordSize(ptr.to.name) : undefined;
    this.err(loc, `arithmetic on ${typeName(ptr)} needs the size of ${typeName(ptr.to)}, which is unknown${why && !why.ok ? `: ${why.error}` : ''}`);
    return false;
  }

  /**
   * The type a cast or sizeof() names: an integer type, `struct X` or `union X` (its size from the
   * kernel's BTF), or a pointer to one of those.
   */
  namedType(written: string, loc: Loc, where: 'cast' | 'sizeof'): T {
    const name = written.replace(/\s+/g, ' ').trim();
    const stars = /\**$/.exec(name.replace(/ /g, ''))![0].length;
    const base = name.replace(/[\s*]+$/, '');
    let type: KType | undefined = INT_CASTS[base];
    const record = /^(struct|union) ([A-Za-z_][A-Za-z0-9_]*)$/.exec(base);
    if (record) {
      const size = this.recordSize(base);
      // A pointer to a struct BTF lacks can still be cast and passed on; its size is asked for only where it is needed.
      if (!size.ok && (stars === 0 || where === 'sizeof')) return this.err(loc, `${where === 'sizeof' ? 'sizeof' : 'cast'}: ${size.error}`);
      type = size.ok ? { kind: 'struct', name: base, size: size.value } : { kind: 'struct', name: base };
    }
    if (!type) {
      if (base.startsWith('enum ')) return this.err(loc, `enum types are not supported in ${where === 'cast' ? 'casts' : 'sizeof()'} yet`);
      return this.err(loc, `unknown type '${base}' in ${where === 'cast' ? 'cast' : 'sizeof()'}`, this.suggest(base, Object.keys(INT_CASTS)));
    }
    for (let i = 0; i < stars; i++) type = { kind: 'ptr', to: type };
    return type;
  }

  private builtin(name: string, loc: Loc, e?: Extract<Expr, { kind: 'builtin' }>): T {
    const providers = this.ctx.providers;
    const argMatch = /^(s?)arg(\d+)$/.exec(name);
    if (argMatch) {
      const stack = argMatch[1] === 's';
      const n = Number(argMatch[2]);
      if (this.ctx.where === 'user') return this.err(loc, `${name} is not available in kafka probes: use args.NAME`);
      const allowed = stack ? STACK_ARG_PROVIDERS : ARG_PROVIDERS;
      const bad = providers.find((p) => !allowed.includes(p));
      if (bad) {
        const alt = bad === 'tracepoint' ? ' (tracepoints have args.NAME)' : '';
        return this.err(loc, `${name} is only available in ${allowed.join(', ')} probes, not in ${bad}${alt}`);
      }
      if (!stack && n >= MAX_ARG_REGISTERS) return this.err(loc, `${name}: only arg0 to arg${MAX_ARG_REGISTERS - 1} are passed in registers on x86-64 (sarg0.. reads the stack)`);
      return stack ? INT64 : UINT64;
    }
    const info = BUILTINS[name];
    const missing = MISSING_BUILTINS[name];
    if (!info && missing) return this.err(loc, missing);
    const constant = info || !e ? undefined : (this.types.constant(name) ?? this.env.system.enumerator(name));
    if (constant !== undefined) {
      e!.value = constant;
      return INT64;
    }
    if (!info) {
      const isArg = this.ctx.kafka.some((p) => p.args.some((a) => a.name === name)) || this.ctx.formats.some((f) => f.fields.some((x) => x.name === name));
      return this.err(loc, `unknown identifier '${name}'`, isArg ? `did you mean 'args.${name}'?` : this.suggest(name, builtinNames()));
    }
    if (this.ctx.where === 'user' && !info.kafka) {
      return this.err(loc, `${name} is not available in kafka probes, which run in user space on decoded Kafka events`);
    }
    if (name === 'cpid' && !this.env.child) return this.err(loc, 'cpid cannot be used without child command');
    if (info.only) {
      const bad = providers.find((p) => !info.only!.includes(p) && !(p === 'kafka' && info.kafka));
      if (bad) return this.err(loc, `${name} is only available in ${info.only.join(', ')} probes, not in ${bad}`);
    }
    if (name === 'func' || name === 'retval') {
      const trampoline = providers.find((p) => p === 'fentry' || p === 'fexit');
      if (trampoline) return this.err(loc, `${name} is not supported in ${trampoline} probes yet`);
    }
    if (name === 'args') {
      this.ctx.usesArgs = true;
      return this.err(loc, `args must be followed by a field: args.NAME`);
    }
    if (name === 'probe') {
      const longest = Math.max(0, ...this.ctx.names.map((n) => Buffer.byteLength(n)));
      return { kind: 'str', size: longest + 1 };
    }
    return typeof info.type === 'function' ? info.type(providers) : info.type;
  }

  /** A struct whose members can be read: BTF must know it, and it keeps the memory it is in. */
  private structPlace(t: Extract<KType, { kind: 'struct' }>, space: AddressSpace | undefined, loc: Loc): T {
    let size = t.size;
    if (size === undefined) {
      const known = this.recordSize(t.name);
      if (!known.ok) return this.err(loc, `cannot read members of ${t.name}: ${known.error}`);
      size = known.value;
    }
    return space ? { ...t, size, space } : { ...t, size };
  }

  /**
   * `p->m` on a pointer to a struct or union, `s.m` on one (`(*p).m`, `p->embedded.m`): the member's
   * type and offset from the kernel's BTF. A pointer read from a record points into the same memory.
   */
  private member(e: FieldAccess): T {
    const t = this.place(e.object);
    if (!t) return undefined;
    const op = e.arrow ? '->' : '.';
    let record: Extract<KType, { kind: 'struct' }> | undefined;
    if (e.arrow && isPtr(t) && t.to.kind === 'struct') {
      const place = this.structPlace(t.to, t.space, e.object.loc);
      if (!place) return undefined;
      record = place as Extract<KType, { kind: 'struct' }>;
    } else if (!e.arrow && t.kind === 'struct') record = t;
    else if (!e.arrow && t.kind === 'record') {
      // A member of a struct value (`$s.m` after `$s = *p`): read from the copy.
      const f = t.fields.find((x) => x.name === e.field);
      if (!f) return this.err(e.loc, `${t.name || 'the struct'} has no member '${e.field}'`, this.suggest(e.field, t.fields.map((x) => x.name)));
      e.offset = f.offset;
      return f.type;
    }
    else if (t.kind === 'struct') return this.err(e.loc, `cannot access member '${e.field}' of ${t.name} with '->': it is not a pointer; use '.'`);
    else if (isPtr(t) && t.to.kind === 'struct') return this.err(e.loc, `cannot access member '${e.field}' of ${typeName(t)} with '.': it is a pointer; use '->'`);
    else {
      const hint = isInt(t) ? `cast it to a pointer to the struct it addresses: ((struct NAME *)value)${op}${e.field}` : undefined;
      return this.err(e.loc, `'${op}' needs args, a struct or union${e.arrow ? ' pointer' : ''}, but the value is ${typeName(t)}`, hint);
    }
    const members = this.recordMembers(record.name);
    if (!members.ok) return this.err(e.loc, `cannot read members of ${record.name}: ${members.error}`);
    const m = members.value.find((x) => x.name === e.field);
    if (!m) return this.err(e.loc, `${record.name} has no member '${e.field}'`, this.suggest(e.field, members.value.map((x) => x.name)));
    if (!m.type && m.anonymous) {
      // A member of an anonymous struct or union type has no name to be a place of: it is read as a copy.
      e.offset = m.offset;
      return this.recordValue('', m.anonymous.size, m.anonymous.members, e.loc);
    }
    if (!m.type) return this.err(e.loc, `cannot read ${record.name}'s member '${e.field}': ${m.problem}`);
    e.offset = m.offset;
    if (m.bitfield) e.bitfield = m.bitfield;
    const space = record.space;
    if (!space) return m.type;
    return m.type.kind === 'ptr' || m.type.kind === 'struct' ? { ...m.type, space } : m.type;
  }

  private field(e: FieldAccess): T {
    const { object, field, loc } = e;
    // Check availability of `args` itself (providers), without the "needs a field" error.
    const providers = this.ctx.providers;
    object.type = NONE;
    const info = BUILTINS.args!;
    const bad = providers.find((p) => !info.only!.includes(p));
    if (bad) {
      const alt = bad === 'uretprobe' ? ' (a uprobe on the function has them)' : ['kprobe', 'usdt'].includes(bad) ? ' (use arg0, arg1, ...)' : '';
      return this.err(object.loc, `args is only available in tracepoint, uprobe, fentry, fexit and kafka probes, not in ${bad}${alt}`);
    }
    this.ctx.usesArgs = true;
    if (providers.includes('fentry') || providers.includes('fexit')) {
      return this.err(loc, `args of fentry/fexit probes are not supported yet`);
    }
    // A uprobe's args are registers, a tracepoint's are its record: one block cannot read both.
    const other = providers.find((p) => p !== 'uprobe');
    if (providers.includes('uprobe') && other) return this.err(object.loc, `args in a block of uprobe and ${other} probes: give each its own block`);
    if (providers.includes('kafka')) return this.kafkaArg(field, loc);
    if (providers.includes('tracepoint')) return this.tracepointArg(field, loc);
    if (providers.includes('uprobe')) return this.uprobeArg(e);
    return undefined;
  }

  /**
   * A parameter of the uprobe's function, from the binary's DWARF: an integer or a pointer in the
   * traced process's memory, read from the register the x86-64 SysV ABI passes it in.
   */
  private uprobeArg(e: FieldAccess): T {
    let type: KType | undefined;
    let position: number | undefined;
    for (const f of this.ctx.functions) {
      const params = this.env.system.functionParameters(f.binary, f.symbol);
      if (!params.ok) return this.err(e.loc, `args.${e.field} needs the parameters of ${f.symbol}: ${params.error}`);
      const i = params.value.findIndex((p) => p.name === e.field);
      const which = this.ctx.functions.length > 1 ? ` (this block attaches to ${plural(this.ctx.functions.length, 'function')}; all must have it)` : '';
      if (i < 0) return this.err(e.loc, `${f.symbol} has no parameter '${e.field}'${which}`, this.suggest(e.field, params.value.map((p) => p.name)));
      if (position !== undefined && position !== i) return this.err(e.loc, `args.${e.field} is parameter ${position + 1} of one function and ${i + 1} of another`);
      const p = params.value[i]!;
      if (!p.type) return this.err(e.loc, `cannot read args.${e.field} (${p.cType}): ${p.problem}`);
      if (p.type.kind !== 'int' && p.type.kind !== 'ptr') return this.err(e.loc, `cannot read args.${e.field}: ${p.cType} is passed by value, which only integers and pointers are here`);
      if (i >= MAX_ARG_REGISTERS) return this.err(e.loc, `cannot read args.${e.field}: it is parameter ${i + 1}, and only the first ${MAX_ARG_REGISTERS} are passed in registers on x86-64`);
      const t: KType = p.type.kind === 'ptr' ? { ...p.type, space: 'user' } : p.type;
      // The same type everywhere: a register holds the value at its declared width only.
      if (type && typeName(type) !== typeName(t)) return this.err(e.loc, `args.${e.field} has different types in the matched functions: ${typeName(type)} and ${typeName(t)}`);
      type = t;
      position = i;
    }
    if (position === undefined) return this.err(e.loc, `args needs a uprobe on a function (not an address)`);
    e.argument = position;
    return type;
  }

  private kafkaArg(field: string, loc: Loc): T {
    let type: KType | undefined;
    for (const p of this.ctx.kafka) {
      const arg: KafkaArg | undefined = p.args.find((a) => a.name === field);
      if (!arg) {
        const which = this.ctx.kafka.length > 1 ? ` (this block attaches to ${this.ctx.kafka.length} kafka probes; all must have it)` : '';
        return this.err(loc, `kafka:${p.name} has no arg '${field}'${which}`, this.suggest(field, p.args.map((a) => a.name)));
      }
      type = type ? unify(type, arg.type) : arg.type;
    }
    return type;
  }

  /**
   * A tracepoint field that points to a struct or union the kernel's BTF has (`struct rusage * ru`)
   * is a pointer to it, in the probe's memory; other pointers stay integers.
   */
  private recordPointer(cType: string): KType | undefined {
    const m = /^(?:const )?(struct|union) ([A-Za-z_][A-Za-z0-9_]*) \*$/.exec(cType.replace(/\s+/g, ' ').trim());
    if (!m) return undefined;
    const name = `${m[1]} ${m[2]}`;
    const size = this.recordSize(name);
    return size.ok ? { kind: 'ptr', to: { kind: 'struct', name, size: size.value } } : undefined;
  }

  private tracepointArg(field: string, loc: Loc): T {
    let type: KType | undefined;
    for (const f of this.ctx.formats) {
      const fieldInfo = f.fields.find((x) => x.name === field);
      if (!fieldInfo) {
        const which = this.ctx.formats.length > 1 ? ` (this block matches ${plural(this.ctx.formats.length, 'tracepoint')}; all must have it)` : '';
        return this.err(
          loc,
          `tracepoint ${f.category}:${f.name} has no field '${field}'${which}`,
          this.suggest(field, f.fields.map((x) => x.name)),
        );
      }
      const fieldType = this.recordPointer(fieldInfo.cType) ?? fieldInfo.type;
      if (type && !compatible(type, fieldType)) {
        return this.err(loc, `args.${field} has different types in the matched tracepoints: ${typeName(type)} and ${typeName(fieldType)}`);
      }
      type = type ? unify(type, fieldType) : fieldType;
    }
    return type;
  }


  strArgument(e: Expr): T {
    const saved = this.ctx.inStrArg;
    this.ctx.inStrArg = true;
    const t = this.expr(e);
    this.ctx.inStrArg = saved;
    return t;
  }

  requireUnsafe(c: Call): void {
    this.usesUnsafe = true;
    if (!this.env.unsafe) this.err(c.loc, `${c.name}() is unsafe: pass --unsafe to allow it`);
  }
}

/** Analyzes a parsed script. Never throws; every problem becomes a diagnostic. */
export function analyze(script: Script, env: AnalysisEnv): { analysis?: Analysis; diagnostics: Diagnostic[] } {
  try {
    return analyzeScript(script, env);
  } catch (e) {
    // A bug here must still come out as one clear message rather than a stack trace.
    return {
      diagnostics: [error(script.file, script.loc, `internal error in semantic analysis: ${(e as Error).message}`)],
    };
  }
}

function analyzeScript(script: Script, env: AnalysisEnv): { analysis?: Analysis; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  let catalogue: KafkaCatalogue | string | undefined = env.kafka;
  const kafka = (): KafkaCatalogue | string => {
    if (catalogue === undefined) {
      try {
        catalogue = kafkaCatalogue();
      } catch (e) {
        catalogue = isKtError(e, 'catalogue-invalid') ? e.message : `cannot load the kafka probe catalogue: ${(e as Error).message}`;
      }
    }
    return catalogue;
  };
  const ctx = { file: script.file, system: env.system, kafka, diagnostics, positional: env.positional, pid: env.pid, tracee: env.tracee };
  const resolutions = script.probes.map((p) => {
    const expands = identifiers(p).has('probe');
    return p.attach.map((ap: AttachPoint) => resolveAttachPoint(ap, { ...ctx, expands }));
  });
  // An attach point bpftrace goes on without is an error when nothing else is left to attach.
  const skipped = resolutions.flat().flatMap((r) => (r?.skipped ? [r.skipped] : []));
  if (skipped.length > 0 && !resolutions.flat().some((r) => r && r.resolved.length > 0)) diagnostics.push(...skipped);

  // Pass 1 learns every map's key and value types in any order; pass 2 checks and types everything.
  const included = (env.includes ?? []).map((h) => ({ text: `#include "${h}"`, line: 1 }));
  const defs = scriptTypes([...included, ...script.preamble], script.file, env.system, [...identifiers(script.probes)].filter((n) => !BUILTINS[n] && /^[A-Za-z_][A-Za-z0-9_]*$/.test(n)));
  if ('error' in defs) {
    const { line, col, message, clang } = defs.error;
    const d = error(script.file, { line, col, offset: 0, length: 0 }, message);
    return { diagnostics: [clang ? { ...d, word: 'error' } : d] };
  }
  const first = new Analyzer(script.file, env, defs.types);
  const touched = script.probes.map((p, i) => {
    const c = first.analyzeProbe(p, resolutions[i]!);
    return { providers: c.providers, maps: first.maps.takeTouched() };
  });
  const inUserSpace = userSpaceBlocks(touched);
  const second = new Analyzer(script.file, env, defs.types, first.maps.maps);
  const contexts = script.probes.map((p, i) => second.analyzeProbe(p, resolutions[i]!, inUserSpace[i]));
  diagnostics.push(...second.diagnostics, ...sharedMapErrors(script.file, second.maps));
  diagnostics.sort((a, b) => a.loc.offset - b.loc.offset);

  if (!script.probes.length) diagnostics.push(error(script.file, script.loc, 'the script has no probes'));
  if (diagnostics.some((d) => d.severity === 'error')) return { diagnostics };

  const probes: AnalyzedProbe[] = script.probes.map((probe, index) => {
    const ctxP = contexts[index]!;
    const attach: ResolvedAttach[] = resolutions[index]!.flatMap((r) => r!.resolved);
    const tracepointFormats: Record<string, TracepointFormat> = {};
    for (const f of ctxP.formats) tracepointFormats[`${f.category}:${f.name}`] = f;
    return {
      probe,
      index,
      where: ctxP.where,
      attach,
      skipped: resolutions[index]!.flatMap((r, i) => (r?.skipped ? [`${probe.attach[i]!.raw}: ${r.skipped.message}, skipping`] : [])),
      tracepointFormats,
      usesArgs: ctxP.usesArgs,
      variables: Object.fromEntries([...ctxP.variables].map(([k, v]) => [k, v.type])),
    };
  });
  const maps: MapInfo[] = [...second.maps.maps.values()]
    .filter((m) => m.value)
    .map((m) => ({
      name: m.name,
      keyTypes: m.keys?.types ?? [],
      value: m.value!.kind,
      loc: m.value!.refLoc,
      usedBy: (['kernel', 'user'] as const).filter((w) => m.usedBy.has(w)),
    }));
  fixVariableTypes(script, probes);
  return {
    analysis: { probes, maps, positional: env.positional, unsafe: second.usesUnsafe, hostValues: second.hostValues },
    diagnostics,
  };
}

/** Providers whose blocks can run in user space, beside the kafka probes whose maps they use. */
const USER_CAPABLE = new Set<Provider>(['interval', 'END']);

/**
 * Which blocks run in user space: kafka blocks, and interval and END blocks that use a map a
 * user-space block uses (`interval:s:1 { print(@bytes); clear(@bytes); }` beside `kafka:produce`).
 */
function userSpaceBlocks(blocks: { providers: Provider[]; maps: Set<string> }[]): boolean[] {
  const user = blocks.map((b) => b.providers.includes('kafka'));
  const userMaps = new Set(blocks.flatMap((b, i) => (user[i] ? [...b.maps] : [])));
  for (let changed = true; changed; ) {
    changed = false;
    blocks.forEach((b, i) => {
      if (user[i] || b.providers.length === 0 || !b.providers.every((p) => USER_CAPABLE.has(p))) return;
      if (![...b.maps].some((m) => userMaps.has(m))) return;
      user[i] = changed = true;
      for (const m of b.maps) userMaps.add(m);
    });
  }
  return user;
}

/** A map lives in the kernel or in user space, never both. */
function sharedMapErrors(file: string, maps: MapTable): Diagnostic[] {
  return [...maps.maps.values()]
    .filter((m) => m.usedBy.size > 1)
    .map((m) =>
      error(
        file,
        m.loc,
        `${m.name} is used by kafka probes, which run in user space, and by kernel probes: a map lives in one place`,
        'only interval and END blocks can share maps with kafka probes; give the kernel probes a map of their own',
      ),
    );
}

/**
 * A variable's final type can be wider than at its first use (a longer string assigned later):
 * give every reference the final type so code generation sizes storage once.
 */
function fixVariableTypes(script: Script, probes: AnalyzedProbe[]): void {
  const visit = (node: unknown, vars: Record<string, KType>): void => {
    if (!node || typeof node !== 'object') return;
    if (Array.isArray(node)) {
      for (const n of node) visit(n, vars);
      return;
    }
    const n = node as { kind?: string; name?: string; type?: KType };
    if (n.kind === 'var' && n.name && vars[n.name]) n.type = vars[n.name];
    for (const [k, v] of Object.entries(node)) if (k !== 'loc' && k !== 'type') visit(v, vars);
  };
  script.probes.forEach((p, i) => visit(p, probes[i]!.variables));
}
