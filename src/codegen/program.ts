// C for one BPF program: the statements and expressions of a kernel probe's action.
//
// Scalars (ints, symbol addresses, stack ids) are C expressions. Everything else (strings, buffers,
// tuples, inet, usym, ustack) lives in memory: a slot of the per-CPU scratch area (the BPF stack is
// only 512 bytes), a map value or a ring-buffer record, and is handled through pointers. Expressions
// may first emit statements (map lookups, helper calls) into the current block.
import { readFileSync, statSync } from 'node:fs';
import type { AnalyzedProbe, TracepointField, TracepointFormat } from '../frontend/analysis.js';
import { readElf, type ElfObject } from '../frontend/elf.js';
import type { Call, Expr, KType, MapRef, Stmt } from '../frontend/ast.js';
import { InternalError, joinElementTypes, JOIN_ARG_SIZE, JOIN_ARGS, printsWholeMap, typeOf } from '../plan/events.js';
import { EVENT_HEADER_SIZE, layoutOf, sizeOf, STACK_DEPTH, stackMapName } from '../plan/layout.js';
import type { ProgramKind } from '../plan/programs.js';
import type { Layout, PlanEvent, PlanMap } from '../plan/types.js';
import { cInt, intCType, isScalar, isSigned, scalarCType } from './ctypes.js';
import { cByte, cIdent } from './escape.js';
import { Emitter } from './emitter.js';
import { SIGNALS } from './signals.js';
import { CodegenError } from './errors.js';
import { fieldMember, isIntField } from './tracepoint-struct.js';

const S64: KType = { kind: 'int', bits: 64, signed: true };


export interface ProgramInput {
  name: string;
  kind: ProgramKind;
  probe: AnalyzedProbe;
  /** The probe text of this program's attach point, for the `probe` builtin. */
  probeText: string;
  /** The record layout of this program's tracepoint, when the action reads `args`. */
  format?: TracepointFormat;
  /** Fields of `format` that are members of the context struct (the others are read by offset). */
  structMembers?: Set<TracepointField>;
  /** The ELF section, which tells libbpf the program type. */
  section: string;
  /** The C type of the context argument. */
  ctxType: string;
  /** Whether pointers in arguments point to user memory (syscall tracepoints, uprobes, usdt). */
  userMemory: boolean;
  /** Whether -p/-c apply: not to BEGIN and END (run by kafkatrace) nor to interval timers. */
  processFilter: boolean;
  maps: Map<string, PlanMap>;
  events: Map<Call, PlanEvent>;
  positional: string[];
}

export interface ProgramOutput {
  code: string;
  scratchSize: number;
  /** Largest memory the program clears or copies from the zero area. */
  zeroSize: number;
  /** The frame limits of the stacks it records (0: whole stacks), each with its own stack map. */
  stackLimits: number[];
}

export class ProgramGen extends Emitter {
  private readonly stackLimits = new Set<number>();
  private readonly vars = new Map<string, { type: KType; slot?: number }>();
  private loopDepth = 0;
  /** Inside a for-loop callback: scalars live in the loop's context struct `F`. */
  private inCallback = false;
  private readonly functions: string[] = [];
  private forCount = 0;

  constructor(private readonly p: ProgramInput) {
    super();
  }

  generate(): ProgramOutput {
    const { probe } = this.p;
    const body: string[] = [];
    this.lines = body;
    for (const [rawName, type] of Object.entries(probe.variables)) {
      const name = bare(rawName);
      if (isScalar(type)) {
        this.vars.set(name, { type });
        this.emit(`${scalarCType(type)} ${this.varName(name)} = 0;`);
      } else {
        const slot = this.alloc(sizeOf(type));
        this.vars.set(name, { type, slot });
        this.emit(`KT_CLEAR(KT_AT(S, ${slot}), ${this.zeroCheck(sizeOf(type))});`);
      }
    }
    if (probe.probe.predicate) {
      const cond = this.cond(probe.probe.predicate);
      this.emit(`if (!(${cond}))`);
      this.emit('  return 0;');
    }
    this.stmts(probe.probe.body);
    this.emit('return 0;');

    const head: string[] = [];
    head.push(`SEC("${this.p.section}")`);
    head.push(`int ${this.p.name}(${this.p.ctxType} *ctx)`);
    head.push('{');
    if (this.p.processFilter) head.push('  KT_FILTER();');
    head.push('  __u32 kt_key0 = 0;');
    if (this.scratch > 0) {
      head.push('  __u8 *S = bpf_map_lookup_elem(&kt_scratch, &kt_key0);');
      head.push('  if (!S)');
      head.push('    return 0;');
    }
    return {
      code: [...this.functions, [...head, ...body, '}'].join('\n')].join('\n\n'),
      scratchSize: this.scratch,
      zeroSize: this.zeroSize,
      stackLimits: [...this.stackLimits],
    };
  }

  private varName(name: string): string {
    return (this.inCallback ? 'F->' : '') + 'v_' + cIdent(bare(name));
  }

  private variable(name: string): { type: KType; slot?: number } | undefined {
    return this.vars.get(bare(name));
  }

  private map(ref: { name: string; loc: Expr['loc'] }): PlanMap & { bpfName: string } {
    const m = this.p.maps.get(ref.name);
    if (!m || !m.bpfName) throw new InternalError(`map ${ref.name} is not a kernel map`);
    return m as PlanMap & { bpfName: string };
  }

  private unsupported(e: { loc: Expr['loc'] }, what: string): never {
    throw new CodegenError(`${what} is not supported in kernel probes yet`, e.loc);
  }

  // ---- statements ----

  private stmts(list: Stmt[]): void {
    for (const s of list) this.stmt(s);
  }

  private stmt(s: Stmt): void {
    switch (s.kind) {
      case 'exprStmt':
        this.exprStmt(s.expr);
        return;
      case 'assign':
        this.assignVar(s.target.name, s.op, s.value);
        return;
      case 'mapAssign':
        this.assignMap(s.target, s.op, s.value);
        return;
      case 'if': {
        const cond = this.cond(s.cond);
        this.emit(`if (${cond}) {`);
        this.block(() => this.stmts(s.then));
        if (s.else) {
          this.emit('} else {');
          this.block(() => this.stmts(s.else!));
        }
        this.emit('}');
        return;
      }
      case 'while': {
        this.emit('while (1) {');
        this.block(() => {
          const cond = this.cond(s.cond);
          this.emit(`if (!(${cond}))`);
          this.emit('  break;');
          this.loopDepth++;
          this.stmts(s.body);
          this.loopDepth--;
        });
        this.emit('}');
        return;
      }
      case 'unroll': {
        if (s.count.kind !== 'int') throw new CodegenError('unroll needs an integer literal count', s.count.loc);
        const n = Number(s.count.value);
        for (let i = 0; i < n; i++) {
          this.emit('{');
          this.block(() => this.stmts(s.body));
          this.emit('}');
        }
        return;
      }
      case 'for':
        this.forLoop(s);
        return;
      case 'return':
        if (s.value) this.exprStmt(s.value);
        this.leave();
        return;
      case 'break':
      case 'continue':
        if (this.loopDepth === 0) {
          if (!this.inCallback) throw new CodegenError(`${s.kind} outside a loop`, s.loc);
          // In a for-loop callback, 1 stops the iteration and 0 goes on to the next element.
          this.emit(s.kind === 'break' ? 'return 1;' : 'return 0;');
          return;
        }
        this.emit(`${s.kind};`);
        return;
      case 'block':
        this.emit('{');
        this.block(() => this.stmts(s.body));
        this.emit('}');
        return;
    }
  }

  /**
   * `for ($kv : @m) { ... }` becomes bpf_for_each_map_elem with a callback. The callback gets the
   * program's context through a stack struct, and sees the probe's variables in the scratch area:
   * scalars in a struct there (copied in and back out around the call), memory variables in their
   * slots. Scalars go through map memory on purpose: the verifier checks a callback until its states
   * repeat, which a precisely tracked counter on the stack never does.
   */
  private forLoop(s: Extract<Stmt, { kind: 'for' }>): void {
    const m = this.map(s.map);
    const kv = this.variable(s.variable.name);
    if (!kv || kv.slot === undefined || kv.type.kind !== 'tuple') throw new InternalError('the for variable is not a (key, value) tuple');
    const n = this.forCount++;
    const structName = `kt_for_${this.p.name}_${n}`;
    const cb = `kt_for_cb_${this.p.name}_${n}`;
    const scalars = [...this.vars.entries()].filter(([, v]) => v.slot === undefined);
    const fields = scalars.map(([name, v]) => `  ${scalarCType(v.type)} v_${cIdent(name)};`);
    this.functions.push(`struct ${structName}_ctx {\n  ${this.p.ctxType} *ctx;\n};`);
    this.functions.push([`struct ${structName} {`, '  __s64 kt_ret;', ...fields, '};'].join('\n'));
    const varsAt = this.alloc(8 * (scalars.length + 1));

    const elems = kv.type.elems;
    const layout = layoutOf(elems);
    const slot = kv.slot;
    const saved = { inCallback: this.inCallback, loopDepth: this.loopDepth };
    this.inCallback = true;
    this.loopDepth = 0;
    const body = this.capture(() => {
      this.indent = 1;
      const size = this.zeroCheck(sizeOf(kv.type));
      this.emit(`KT_CLEAR(KT_AT(S, ${slot}), ${size});`);
      const keyType: KType = m.keyTypes.length === 1 ? m.keyTypes[0]! : { kind: 'tuple', elems: m.keyTypes };
      this.convert('(const __u8 *)key', keyType, `KT_AT(S, ${slot + layout.fields[0]!.offset})`, layout.fields[0]!.type);
      const valueAt = `KT_AT(S, ${slot + layout.fields[1]!.offset})`;
      const vt = layout.fields[1]!.type;
      const v = m.value;
      if (v.kind === 'count' || v.kind === 'sum') {
        this.emit(`*(${scalarCType(vt)} *)${valueAt} = kt_sum_${m.bpfName}(key, 0);`);
      } else if (v.kind === 'avg') {
        this.emit(`{ __s64 c = kt_sum_${m.bpfName}(key, 0); *(${scalarCType(vt)} *)${valueAt} = c ? kt_sdiv(kt_sum_${m.bpfName}(key, 1), c) : 0; }`);
      } else if (v.kind === 'min' || v.kind === 'max') {
        this.emit(`*(${scalarCType(vt)} *)${valueAt} = kt_minmax_${m.bpfName}(key, ${v.kind === 'min' ? 1 : 0}, ${v.signed ? 1 : 0});`);
      } else if (v.kind === 'scalar') {
        this.convert('(const __u8 *)value', v.type, valueAt, vt);
      } else {
        throw new CodegenError(`cannot iterate over ${m.name}: a ${v.kind}() map has no single value per key`, s.map.loc);
      }
      this.stmts(s.body);
      this.emit('return 0;');
    });
    this.inCallback = saved.inCallback;
    this.loopDepth = saved.loopDepth;
    this.functions.push(
      [
        `static long ${cb}(void *map, const void *key, void *value, void *arg)`,
        '{',
        `  ${this.p.ctxType} *ctx = ((struct ${structName}_ctx *)arg)->ctx;`,
        '  __u32 kt_key0 = 0;',
        '  __u8 *S = bpf_map_lookup_elem(&kt_scratch, &kt_key0);',
        '  if (!S)',
        '    return 1;',
        `  struct ${structName} *F = (struct ${structName} *)KT_AT(S, ${varsAt});`,
        ...body.lines,
        '}',
      ].join('\n'),
    );
    const c = this.temp();
    const f = `((struct ${structName} *)KT_AT(S, ${varsAt}))`;
    this.emit(`struct ${structName}_ctx ${c} = {.ctx = ctx};`);
    this.emit(`${f}->kt_ret = 0;`);
    for (const [name] of scalars) this.emit(`${f}->v_${cIdent(name)} = ${this.varName(name)};`);
    this.emit(`bpf_for_each_map_elem(&${m.bpfName}, ${cb}, &${c}, 0);`);
    for (const [name] of scalars) this.emit(`${this.varName(name)} = ${f}->v_${cIdent(name)};`);
    this.emit(`if (${f}->kt_ret)`);
    if (this.inCallback) {
      this.emit('{ F->kt_ret = 1; return 1; }');
    } else {
      this.emit('  return 0;');
    }
  }

  /** Ends the probe's action (from a for-loop callback: stops the iteration and tells the caller). */
  private leave(): void {
    if (this.inCallback) {
      this.emit('F->kt_ret = 1;');
      this.emit('return 1;');
    } else {
      this.emit('return 0;');
    }
  }

  private exprStmt(e: Expr): void {
    if (e.kind === 'call' && this.callStmt(e)) return;
    const t = typeOf(e);
    if (t.kind === 'none' && e.kind === 'call') return;
    if (isScalar(t)) {
      const v = this.scalar(e);
      this.emit(`(void)(${v});`);
    } else if (t.kind !== 'none') {
      this.mem(e);
    }
  }

  private assignVar(name: string, op: string, value: Expr): void {
    const v = this.variable(name);
    if (!v) throw new InternalError(`variable ${name} has no type`);
    const c = this.varName(name);
    if (v.slot === undefined) {
      const rhs = op === '=' ? this.scalar(value) : this.arith(op, c, this.scalar(value), v.type, v.type);
      this.emit(`${c} = (${scalarCType(v.type)})(${rhs});`);
      return;
    }
    if (op !== '=') throw new CodegenError(`'${op}=' needs an integer variable`, value.loc);
    const size = this.zeroCheck(sizeOf(v.type));
    const slot = this.alloc(size);
    const tmp = `KT_AT(S, ${slot})`;
    this.emit(`KT_CLEAR(${tmp}, ${size});`);
    this.store(value, tmp, v.type);
    this.emit(`bpf_probe_read_kernel(KT_AT(S, ${v.slot}), ${size}, ${tmp});`);
  }

  // ---- maps ----

  /** A pointer to the key of `ref` (built in scratch memory, zero-padded). */
  private keyOf(m: PlanMap, keys: Expr[]): string {
    if (m.keyTypes.length === 0) return '&kt_key0';
    const size = this.zeroCheck(m.keyLayout.size);
    const slot = this.alloc(size);
    const p = `KT_AT(S, ${slot})`;
    this.emit(`KT_CLEAR(${p}, ${size});`);
    if (keys.length === 1 && m.keyTypes.length > 1) {
      const t = typeOf(keys[0]!);
      if (t.kind !== 'tuple') throw new InternalError(`map ${m.name} needs ${m.keyTypes.length} keys`);
      this.store(keys[0]!, p, { kind: 'tuple', elems: m.keyTypes });
      return p;
    }
    m.keyLayout.fields.forEach((f, i) => {
      const k = keys[i];
      if (!k) throw new InternalError(`map ${m.name} needs ${m.keyTypes.length} keys`);
      this.store(k, `(${p} + ${f.offset})`, f.type);
    });
    return p;
  }

  private assignMap(target: MapRef, op: string, value: Expr): void {
    const m = this.map(target);
    const v = m.value;
    if (op === '=' && value.kind === 'call' && isAggregation(value.name)) {
      this.aggregate(m, target, value);
      return;
    }
    if (v.kind === 'count' || v.kind === 'sum') {
      const key = this.keyOf(m, target.keys);
      const amount = this.scalar(value);
      const p = this.temp();
      this.emit(`__s64 *${p} = kt_lookup_or_init(&${m.bpfName}, ${key});`);
      const sign = op === '-' ? '-' : '+';
      this.emit(`if (${p})`);
      this.emit(`  *${p} ${op === '=' ? '=' : sign + '='} (__s64)(${amount});`);
      return;
    }
    if (v.kind !== 'scalar') throw new CodegenError(`cannot assign to ${target.name}, which holds ${v.kind}()`, target.loc);
    const key = this.keyOf(m, target.keys);
    if (isScalar(v.type)) {
      const ct = scalarCType(v.type);
      let rhs = this.scalar(value);
      if (op !== '=') {
        const old = this.temp();
        const p = this.temp();
        this.emit(`${ct} *${p} = bpf_map_lookup_elem(&${m.bpfName}, ${key});`);
        this.emit(`${ct} ${old} = ${p} ? *${p} : 0;`);
        rhs = this.arith(op, old, rhs, v.type, v.type);
      }
      // Scalar map values are at least 8 bytes: the value goes through a 64-bit temporary.
      const val = this.temp();
      this.emit(`__s64 ${val} = (__s64)(${ct})(${rhs});`);
      this.emit(`bpf_map_update_elem(&${m.bpfName}, ${key}, &${val}, BPF_ANY);`);
      return;
    }
    if (op !== '=') throw new CodegenError(`'${op}=' needs an integer map value`, value.loc);
    const size = this.zeroCheck(m.valueSize);
    const slot = this.alloc(size);
    this.emit(`KT_CLEAR(KT_AT(S, ${slot}), ${size});`);
    this.store(value, `KT_AT(S, ${slot})`, v.type);
    this.emit(`bpf_map_update_elem(&${m.bpfName}, ${key}, KT_AT(S, ${slot}), BPF_ANY);`);
  }

  private aggregate(m: PlanMap & { bpfName: string }, target: MapRef, call: Call): void {
    const v = m.value;
    const arg = call.args[0];
    const value = arg ? this.scalar(arg) : '0';
    const x = this.temp();
    this.emit(`__s64 ${x} = (__s64)(${value});`);
    const key = this.keyOf(m, target.keys);
    const p = this.temp();
    this.zeroCheck(m.valueSize);
    this.emit(`__s64 *${p} = kt_lookup_or_init(&${m.bpfName}, ${key});`);
    this.emit(`if (${p}) {`);
    this.block(() => {
      switch (v.kind) {
        case 'count':
          this.emit(`${p}[0] += 1;`);
          break;
        case 'sum':
          this.emit(`${p}[0] += ${x};`);
          break;
        case 'avg':
        case 'stats':
          this.emit(`${p}[0] += 1;`);
          this.emit(`${p}[1] += ${x};`);
          break;
        case 'min':
        case 'max': {
          const cmp = v.kind === 'min' ? '<' : '>';
          const l = v.signed ? x : `(__u64)${x}`;
          const r = v.signed ? `${p}[0]` : `(__u64)${p}[0]`;
          this.emit(`if (!${p}[1] || ${l} ${cmp} ${r}) {`);
          this.emit(`  ${p}[0] = ${x};`);
          this.emit(`  ${p}[1] = 1;`);
          this.emit('}');
          break;
        }
        case 'hist': {
          const b = this.temp();
          this.emit(`__u32 ${b} = kt_hist_bucket(${x});`);
          // The barrier keeps clang from dropping the bound check that the verifier needs.
          this.emit(`barrier_var(${b});`);
          this.emit(`if (${b} < 66)`);
          this.emit(`  ${p}[${b}] += 1;`);
          break;
        }
        case 'lhist': {
          const n = Math.ceil((v.max - v.min) / v.step);
          const b = this.temp();
          this.emit(`__u32 ${b} = ${x} < ${v.min}LL ? 0 : ${x} >= ${v.max}LL ? ${n + 1} : 1 + (__u32)((__u64)(${x} - ${v.min}LL) / ${v.step}ULL);`);
          this.emit(`barrier_var(${b});`);
          this.emit(`if (${b} < ${n + 2})`);
          this.emit(`  ${p}[${b}] += 1;`);
          break;
        }
        case 'scalar':
          throw new CodegenError(`${target.name} holds plain values, not ${call.name}()`, call.loc);
      }
    });
    this.emit('}');
  }

  /** Reads `@m[k]` as a scalar: the sum over CPUs for counts and sums, 0 when absent. */
  private readMap(ref: MapRef): string {
    const m = this.map(ref);
    const key = this.keyOf(m, ref.keys);
    const r = this.temp();
    switch (m.value.kind) {
      case 'count':
      case 'sum':
        this.emit(`__s64 ${r} = kt_sum_${m.bpfName}(${key}, 0);`);
        return r;
      case 'avg':
      case 'stats': {
        const c = this.temp();
        this.emit(`__s64 ${c} = kt_sum_${m.bpfName}(${key}, 0);`);
        this.emit(`__s64 ${r} = ${c} ? kt_sdiv(kt_sum_${m.bpfName}(${key}, 1), ${c}) : 0;`);
        return r;
      }
      case 'min':
      case 'max':
        this.emit(`__s64 ${r} = kt_minmax_${m.bpfName}(${key}, ${m.value.kind === 'min' ? 1 : 0}, ${m.value.signed ? 1 : 0});`);
        return r;
      case 'scalar': {
        const ct = scalarCType(m.value.type);
        const p = this.temp();
        this.emit(`${ct} *${p} = bpf_map_lookup_elem(&${m.bpfName}, ${key});`);
        this.emit(`${ct} ${r} = ${p} ? *${p} : 0;`);
        return r;
      }
      default:
        throw new CodegenError(`the value of ${ref.name} (a ${m.value.kind}) cannot be read in a probe`, ref.loc);
    }
  }

  /** A pointer to the memory value of `@m[k]`, or to zeroes when absent. */
  private readMapMem(ref: MapRef): string {
    const m = this.map(ref);
    const key = this.keyOf(m, ref.keys);
    const p = this.temp();
    this.zeroCheck(m.valueSize);
    this.emit(`const __u8 *${p} = bpf_map_lookup_elem(&${m.bpfName}, ${key});`);
    this.emit(`if (!${p})`);
    this.emit(`  ${p} = (const __u8 *)kt_zero;`);
    return p;
  }

  private incDecMap(ref: MapRef, delta: 1 | -1, prefix: boolean): string {
    const m = this.map(ref);
    const key = this.keyOf(m, ref.keys);
    const r = this.temp();
    if (m.value.kind === 'count' || m.value.kind === 'sum') {
      const p = this.temp();
      this.emit(`__s64 *${p} = kt_lookup_or_init(&${m.bpfName}, ${key});`);
      this.emit(`__s64 ${r} = 0;`);
      this.emit(`if (${p}) {`);
      this.emit(`  ${prefix ? '' : `${r} = *${p}; `}*${p} += ${delta};${prefix ? ` ${r} = *${p};` : ''}`);
      this.emit('}');
      return r;
    }
    if (m.value.kind !== 'scalar' || !isScalar(m.value.type)) {
      throw new CodegenError(`${ref.name} does not hold integers`, ref.loc);
    }
    const ct = scalarCType(m.value.type);
    const p = this.temp();
    const n = this.temp();
    this.emit(`${ct} *${p} = bpf_map_lookup_elem(&${m.bpfName}, ${key});`);
    this.emit(`${ct} ${r} = ${p} ? *${p} : 0;`);
    this.emit(`__s64 ${n} = (__s64)(${ct})(${r} + ${delta});`);
    this.emit(`bpf_map_update_elem(&${m.bpfName}, ${key}, &${n}, BPF_ANY);`);
    return prefix ? n : r;
  }

  // ---- calls that are statements ----

  /** Calls that act rather than yield a value; returns false for value-yielding calls. */
  private callStmt(c: Call): boolean {
    switch (c.name) {
      case 'printf':
      case 'cat':
      case 'system':
        this.record(c, c.args.slice(1));
        return true;
      case 'print':
        if (printsWholeMap(c)) this.record(c, []);
        else this.record(c, c.args.slice(0, 1));
        return true;
      case 'time':
      case 'clear':
      case 'zero':
        this.record(c, []);
        return true;
      case 'exit': {
        const ev = this.event(c);
        const code = c.args[0] ? this.scalar(c.args[0]) : '0';
        this.withRecord(ev.id, layoutOf([S64], EVENT_HEADER_SIZE), (r) => this.emit(`*(__s64 *)(${r} + 8) = (__s64)(${code});`));
        // As in bpftrace, the rest of the action does not run after exit().
        this.leave();
        return true;
      }
      case 'join':
        this.join(c);
        return true;
      case 'delete': {
        const target = c.args[0];
        if (!target || target.kind !== 'map') throw new InternalError('delete() needs a map');
        const m = this.map(target);
        const keys = target.keys.length > 0 ? target.keys : c.args.slice(1);
        const key = this.keyOf(m, keys);
        this.emit(`bpf_map_delete_elem(&${m.bpfName}, ${key});`);
        return true;
      }
      case 'signal': {
        const a = c.args[0];
        if (!a) throw new InternalError('signal() needs a signal');
        let sig: string;
        if (a.kind === 'str') {
          const n = SIGNALS[a.value.toUpperCase()] ?? SIGNALS['SIG' + a.value.toUpperCase()];
          if (n === undefined) throw new CodegenError(`unknown signal '${a.value}'`, a.loc);
          sig = String(n);
        } else {
          sig = this.scalar(a);
        }
        this.emit(`bpf_send_signal((__u32)(${sig}));`);
        return true;
      }
      default:
        return false;
    }
  }

  private event(c: Call): PlanEvent {
    const ev = this.p.events.get(c);
    if (!ev) throw new InternalError(`no plan event for ${c.name}() at ${c.loc.line}:${c.loc.col}`);
    return ev;
  }

  /** Reserves a record, runs `fill` with its pointer, submits it. */
  private withRecord(id: number, layout: Layout, fill: (r: string) => void): void {
    const r = this.temp();
    const size = this.zeroCheck(Math.max(layout.size, EVENT_HEADER_SIZE));
    this.emit(`__u8 *${r} = kt_record(${id}, ${size});`);
    this.emit(`if (${r}) {`);
    this.block(() => {
      fill(r);
      this.emit(`bpf_ringbuf_submit(${r}, 0);`);
    });
    this.emit('}');
  }

  private record(c: Call, args: Expr[]): void {
    const ev = this.event(c);
    const layout = 'layout' in ev ? ev.layout : { size: EVENT_HEADER_SIZE, fields: [] };
    // Arguments are computed before the reservation so that no path leaves a record unsubmitted.
    const values = args.map((a, i) => this.prepare(a, layout.fields[i]!.type));
    this.withRecord(ev.id, layout, (r) => {
      values.forEach((v, i) => this.storePrepared(v, `(${r} + ${layout.fields[i]!.offset})`, layout.fields[i]!.type));
    });
  }

  private join(c: Call): void {
    const ev = this.event(c);
    const arr = c.args[0];
    if (!arr) throw new InternalError('join() needs an array');
    const base = this.temp();
    this.emit(`__u64 ${base} = (__u64)(${this.scalar(arr)});`);
    const layout = layoutOf(joinElementTypes(), EVENT_HEADER_SIZE);
    const read = this.p.userMemory ? 'user' : 'kernel';
    this.withRecord(ev.id, layout, (r) => {
      // The array ends at the first NULL pointer; the elements after it stay empty strings.
      const ptr = this.temp();
      const more = this.temp();
      this.emit(`__u64 ${ptr} = 0;`);
      this.emit(`int ${more} = 1;`);
      for (let i = 0; i < JOIN_ARGS; i++) {
        this.emit(`if (${more}) {`);
        this.emit(`  ${ptr} = 0;`);
        this.emit(`  bpf_probe_read_${read}(&${ptr}, 8, (const void *)(${base} + ${i * 8}));`);
        this.emit(`  if (${ptr})`);
        this.emit(`    bpf_probe_read_${read}_str(${r} + ${EVENT_HEADER_SIZE + i * JOIN_ARG_SIZE}, ${JOIN_ARG_SIZE}, (const void *)${ptr});`);
        this.emit('  else');
        this.emit(`    ${more} = 0;`);
        this.emit('}');
      }
    });
  }

  // ---- values prepared before a record is reserved ----

  /** Scalars become temporaries; memory values stay pointers (scratch or map memory). */
  private prepare(e: Expr, dest: KType): { scalar?: string; mem?: string; type: KType } {
    const t = typeOf(e);
    if (isScalar(dest) && isScalar(t)) {
      const v = this.temp();
      this.emit(`${scalarCType(dest)} ${v} = (${scalarCType(dest)})(${this.scalar(e)});`);
      return { scalar: v, type: t };
    }
    return { mem: this.mem(e), type: t };
  }

  private storePrepared(v: { scalar?: string; mem?: string; type: KType }, dest: string, destType: KType): void {
    if (v.scalar !== undefined) this.emit(`*(${scalarCType(destType)} *)${dest} = ${v.scalar};`);
    else this.convert(v.mem!, v.type, dest, destType);
  }

  // ---- stores into zeroed memory ----

  /** Writes the value of `e` at `dest` (zeroed memory) in the layout of `destType`. */
  private store(e: Expr, dest: string, destType: KType): void {
    const t = typeOf(e);
    if (isScalar(destType)) {
      if (!isScalar(t)) throw new InternalError(`cannot store ${t.kind} as ${destType.kind}`);
      this.emit(`*(${scalarCType(destType)} *)${dest} = (${scalarCType(destType)})(${this.scalar(e)});`);
      return;
    }
    if (destType.kind === 'str' && this.storeStrDirect(e, dest, destType.size)) return;
    if (destType.kind === 'tuple' && e.kind === 'tuple') {
      const layout = layoutOf(destType.elems);
      e.elems.forEach((el, i) => this.store(el, `(${dest} + ${layout.fields[i]!.offset})`, layout.fields[i]!.type));
      return;
    }
    this.convert(this.mem(e), t, dest, destType);
  }

  /** Strings written straight into their destination without a scratch copy. */
  private storeStrDirect(e: Expr, dest: string, size: number): boolean {
    if (e.kind === 'str') {
      this.literal(e.value, dest, size);
      return true;
    }
    if (e.kind === 'builtin' && e.name === 'comm') {
      this.emit(`bpf_get_current_comm(${dest}, ${Math.min(16, size)});`);
      return true;
    }
    if (e.kind === 'builtin' && e.name === 'probe') {
      this.literal(this.p.probeText, dest, size);
      return true;
    }
    if (e.kind === 'positional') {
      this.literal(this.p.positional[e.index - 1] ?? '', dest, size);
      return true;
    }
    if (e.kind === 'call' && e.name === 'str' && e.args[0] && isScalar(typeOf(e.args[0]))) {
      const ptr = this.scalar(e.args[0]);
      let len = String(size);
      if (e.args[1]) {
        const l = this.temp();
        this.emit(`__u64 ${l} = (__u64)(${this.scalar(e.args[1])}) + 1;`);
        this.emit(`if (${l} > ${size})`);
        this.emit(`  ${l} = ${size};`);
        // Keeps clang from turning the clamp into something the verifier cannot bound.
        this.emit(`barrier_var(${l});`);
        len = l;
      }
      this.emit(`bpf_probe_read_${this.p.userMemory ? 'user' : 'kernel'}_str(${dest}, ${len}, (const void *)(__u64)(${ptr}));`);
      return true;
    }
    return false;
  }

  /** The bytes of a string constant and its NUL, truncated to `size`. */
  private literal(s: string, dest: string, size: number): void {
    const bytes = [...Buffer.from(s, 'utf8')].slice(0, Math.max(0, size - 1));
    bytes.forEach((b, i) => this.emit(`((__u8 *)${dest})[${i}] = ${cByte(b)};`));
  }

  /** Copies a value in memory of type `from` to zeroed memory of type `to`, converting layouts. */
  private convert(src: string, from: KType, dest: string, to: KType): void {
    if (isScalar(to) && isScalar(from)) {
      this.emit(`*(${scalarCType(to)} *)${dest} = (${scalarCType(to)})*(const ${scalarCType(from)} *)(${src});`);
      return;
    }
    if (from.kind === 'tuple' && to.kind === 'tuple') {
      const fl = layoutOf(from.elems);
      const tl = layoutOf(to.elems);
      fl.fields.forEach((f, i) => {
        const tf = tl.fields[i];
        if (tf) this.convert(`(${src} + ${f.offset})`, f.type, `(${dest} + ${tf.offset})`, tf.type);
      });
      return;
    }
    if (from.kind === 'str' && to.kind === 'str') {
      const n = Math.min(from.size, to.size);
      this.emit(`bpf_probe_read_kernel(${dest}, ${this.zeroCheck(n)}, ${src});`);
      if (from.size > to.size) this.emit(`((__u8 *)${dest})[${to.size - 1}] = 0;`);
      return;
    }
    if (from.kind === 'buf' && to.kind === 'buf') {
      const n = Math.min(from.size, to.size);
      this.emit(`bpf_probe_read_kernel(${dest}, ${this.zeroCheck(4 + n)}, ${src});`);
      if (from.size > to.size) this.emit(`if (*(__u32 *)${dest} > ${to.size}) *(__u32 *)${dest} = ${to.size};`);
      return;
    }
    const n = Math.min(sizeOf(from), sizeOf(to));
    if (n > 0) this.emit(`bpf_probe_read_kernel(${dest}, ${this.zeroCheck(n)}, ${src});`);
  }

  // ---- memory values ----

  /** A pointer to memory holding the value of `e` in the layout of its type. */
  private mem(e: Expr): string {
    const t = typeOf(e);
    if (e.kind === 'var') {
      const v = this.variable(e.name);
      if (v?.slot !== undefined) return `KT_AT(S, ${v.slot})`;
    }
    if (e.kind === 'map' && !isScalar(t)) return this.readMapMem(e);
    if (e.kind === 'tupleIndex' && !isScalar(t)) {
      const ot = typeOf(e.object);
      if (ot.kind !== 'tuple') throw new InternalError('tuple index on a non-tuple');
      return `(${this.mem(e.object)} + ${layoutOf(ot.elems).fields[e.index]!.offset})`;
    }
    const size = this.zeroCheck(Math.max(sizeOf(t), 8));
    const slot = this.alloc(size);
    const p = `KT_AT(S, ${slot})`;
    this.emit(`KT_CLEAR(${p}, ${size});`);
    if (isScalar(t)) {
      this.emit(`*(${scalarCType(t)} *)${p} = ${this.scalar(e)};`);
      return p;
    }
    this.fill(e, p, t);
    return p;
  }

  /** Computes a memory-typed expression into zeroed memory at `p`. */
  private fill(e: Expr, p: string, t: KType): void {
    if (t.kind === 'str' && this.storeStrDirect(e, p, t.size)) return;
    switch (e.kind) {
      case 'tuple': {
        const layout = layoutOf((t as Extract<KType, { kind: 'tuple' }>).elems);
        e.elems.forEach((el, i) => this.store(el, `(${p} + ${layout.fields[i]!.offset})`, layout.fields[i]!.type));
        return;
      }
      case 'ternary': {
        const c = this.cond(e.cond);
        this.emit(`if (${c}) {`);
        this.block(() => this.store(e.then, p, t));
        this.emit('} else {');
        this.block(() => this.store(e.else, p, t));
        this.emit('}');
        return;
      }
      case 'field':
        this.fieldMem(e, p, t);
        return;
      case 'builtin':
        this.builtinMem(e.name, e, p);
        return;
      case 'call':
        this.callMem(e, p, t);
        return;
      case 'cast':
        this.convert(this.mem(e.operand), typeOf(e.operand), p, t);
        return;
      default:
        this.unsupported(e, `a ${t.kind} value from '${e.kind}'`);
    }
  }

  /** The stored id of the stack kstack/ustack (`e`, a call when it has a frame limit) records. */
  private stackId(e: Expr, flags: string): string {
    const arg = e.kind === 'call' ? e.args[0] : undefined;
    let limit = 0;
    if (arg?.kind === 'int') limit = Number(arg.value);
    else if (arg?.kind === 'positional') limit = Number(this.p.positional[arg.index - 1]);
    else if (arg) throw new InternalError('a stack limit that is not a constant');
    // A limit of the whole depth is no limit: one map, one id for the same stack.
    if (limit >= STACK_DEPTH) limit = 0;
    this.stackLimits.add(limit);
    const id = `bpf_get_stackid(ctx, &${stackMapName(limit)}, ${flags})`;
    return limit ? `kt_stack_ref(${id}, ${limit})` : `((__s64)${id})`;
  }

  private builtinMem(name: string, e: Expr, p: string): void {
    switch (name) {
      case 'ustack':
        this.emit(`*(__s64 *)${p} = ${this.stackId(e, 'BPF_F_USER_STACK')};`);
        this.emit(`*(__u64 *)(${p} + 8) = bpf_get_current_pid_tgid() >> 32;`);
        return;
      case 'func':
        this.emit(`*(__u64 *)${p} = ${this.ip(e)};`);
        this.emit(`*(__u64 *)(${p} + 8) = bpf_get_current_pid_tgid() >> 32;`);
        return;
      default:
        this.unsupported(e, `the builtin ${name} here`);
    }
  }

  private callMem(c: Call, p: string, t: KType): void {
    switch (c.name) {
      case 'str': {
        const a = c.args[0]!;
        this.convert(this.mem(a), typeOf(a), p, t);
        return;
      }
      case 'buf': {
        if (t.kind !== 'buf') throw new InternalError('buf() of a non-buffer type');
        const a = c.args[0]!;
        const at = typeOf(a);
        if (at.kind === 'str') {
          // A string's bytes become the buffer's data, after its u32 length.
          const n = Math.min(at.size, t.size);
          this.emit(`bpf_probe_read_kernel(${p} + 4, ${this.zeroCheck(n)}, ${this.mem(a)});`);
          this.emit(`*(__u32 *)${p} = ${n};`);
          return;
        }
        if (!isScalar(at)) {
          this.convert(this.mem(a), at, p, t);
          return;
        }
        const ptr = this.scalar(a);
        const len = this.temp();
        this.emit(`__u64 ${len} = ${c.args[1] ? `(__u64)(${this.scalar(c.args[1])})` : t.size};`);
        this.emit(`if (${len} > ${t.size})`);
        this.emit(`  ${len} = ${t.size};`);
        this.emit(`barrier_var(${len});`);
        this.emit(`*(__u32 *)${p} = ${len};`);
        this.emit(`bpf_probe_read_${this.p.userMemory ? 'user' : 'kernel'}(${p} + 4, ${len}, (const void *)(__u64)(${ptr}));`);
        return;
      }
      case 'usym':
        this.emit(`*(__u64 *)${p} = (__u64)(${this.scalar(c.args[0]!)});`);
        this.emit(`*(__u64 *)(${p} + 8) = bpf_get_current_pid_tgid() >> 32;`);
        return;
      case 'ustack':
        this.builtinMem('ustack', c, p);
        return;
      case 'ntop': {
        const addr = c.args[c.args.length - 1]!;
        const family = c.args.length > 1 ? this.scalar(c.args[0]!) : undefined;
        this.ntop(addr, family, p);
        return;
      }
      default:
        this.unsupported(c, `${c.name}()`);
    }
  }

  /** inet: u32 family, then the address bytes in network order. */
  private ntop(addr: Expr, family: string | undefined, p: string): void {
    const t = typeOf(addr);
    if (isScalar(t)) {
      this.emit(`*(__u32 *)${p} = ${family ?? '2'};`);
      this.emit(`*(__u32 *)(${p} + 4) = (__u32)(${this.scalar(addr)});`);
      return;
    }
    const size = t.kind === 'buf' || t.kind === 'str' ? t.size : sizeOf(t);
    const src = this.mem(addr);
    const from = t.kind === 'buf' ? `${src} + 4` : src;
    const n = size >= 16 ? 16 : 4;
    this.emit(`*(__u32 *)${p} = ${family ?? (n === 16 ? '10' : '2')};`);
    this.emit(`bpf_probe_read_kernel(${p} + 4, ${n}, ${from});`);
  }

  // ---- scalars ----

  /** A condition: a scalar tested against zero. */
  private cond(e: Expr): string {
    return `(${this.scalar(e)}) != 0`;
  }

  private arith(op: string, l: string, r: string, lt: KType, rt: KType): string {
    const ct = isSigned(lt) && isSigned(rt) ? '__s64' : '__u64';
    if (op === '/' || op === '%') {
      const div = ct === '__s64' ? `${op === '/' ? 'kt_sdiv' : 'kt_smod'}((__s64)(${l}), (__s64)(${r}))` : `(__u64)(${l}) ${op} (__u64)(${r})`;
      return `((${ct})(${r}) == 0 ? 0 : ${div})`;
    }
    if (op === '<<' || op === '>>') return `((${ct})(${l}) ${op} ((${r}) & 63))`;
    return `((${ct})(${l}) ${op} (${ct})(${r}))`;
  }

  /** A C expression for the value of a scalar-typed expression. */
  private scalar(e: Expr): string {
    const t = typeOf(e);
    switch (e.kind) {
      case 'int':
        return cInt(e.value);
      case 'var': {
        const v = this.variable(e.name);
        if (!v || v.slot !== undefined) throw new InternalError(`variable ${e.name} is not a scalar`);
        return this.varName(e.name);
      }
      case 'map':
        return this.readMap(e);
      case 'builtin':
        return this.builtin(e.name, e);
      case 'positional': {
        const v = this.p.positional[e.index - 1];
        if (v === undefined || !/^-?(0x[0-9a-f]+|\d+)$/i.test(v.trim())) return '0LL';
        return cInt(BigInt(v.trim()));
      }
      case 'argcount':
        return `${this.p.positional.length}LL`;
      case 'call':
        return this.callScalar(e);
      case 'binary':
        return this.binary(e);
      case 'unary':
        return this.unary(e);
      case 'incdec': {
        const delta = e.op === '++' ? 1 : -1;
        if (e.target.kind === 'var') {
          const name = this.varName(e.target.name);
          return e.prefix ? `(${e.op}${name})` : `(${name}${e.op})`;
        }
        return this.incDecMap(e.target, delta, e.prefix);
      }
      case 'ternary': {
        const c = this.cond(e.cond);
        const then = this.capture(() => this.scalar(e.then));
        const other = this.capture(() => this.scalar(e.else));
        const ct = scalarCType(t);
        if (then.lines.length === 0 && other.lines.length === 0) return `((${c}) ? (${ct})(${then.value}) : (${ct})(${other.value}))`;
        const r = this.temp();
        this.emit(`${ct} ${r} = 0;`);
        this.emit(`if (${c}) {`);
        this.block(() => {
          this.emitCaptured(then.lines);
          this.emit(`${r} = (${ct})(${then.value});`);
        });
        this.emit('} else {');
        this.block(() => {
          this.emitCaptured(other.lines);
          this.emit(`${r} = (${ct})(${other.value});`);
        });
        this.emit('}');
        return r;
      }
      case 'field':
        return this.fieldScalar(e);
      case 'tupleIndex': {
        const ot = typeOf(e.object);
        if (ot.kind !== 'tuple') throw new InternalError('tuple index on a non-tuple');
        const f = layoutOf(ot.elems).fields[e.index]!;
        return `(*(const ${scalarCType(f.type)} *)(${this.mem(e.object)} + ${f.offset}))`;
      }
      case 'cast': {
        const ot = typeOf(e.operand);
        if (!isScalar(ot)) this.unsupported(e, `a cast of a ${ot.kind}`);
        return `((${scalarCType(t)})(${this.scalar(e.operand)}))`;
      }
      case 'index':
        return this.index(e.object, e.index, t);
      case 'str':
      case 'tuple':
        throw new InternalError(`${e.kind} literal used as an integer`);
    }
  }

  private index(object: Expr, index: Expr, t: KType): string {
    const ot = typeOf(object);
    const i = this.temp();
    this.emit(`__u64 ${i} = (__u64)(${this.scalar(index)});`);
    if (ot.kind === 'str' || ot.kind === 'buf') {
      const p = this.mem(object);
      const base = ot.kind === 'buf' ? `${p} + 4` : p;
      return `(${i} < ${ot.size} ? (${scalarCType(t)})((const __u8 *)(${base}))[${i}] : 0)`;
    }
    if (!isScalar(ot)) this.unsupported(object, `indexing a ${ot.kind}`);
    const size = t.kind === 'int' ? t.bits / 8 : 8;
    const r = this.temp();
    this.emit(`${scalarCType(t)} ${r} = 0;`);
    this.emit(`bpf_probe_read_${this.p.userMemory ? 'user' : 'kernel'}(&${r}, ${size}, (const void *)((__u64)(${this.scalar(object)}) + ${i} * ${size}));`);
    return r;
  }

  private unary(e: Extract<Expr, { kind: 'unary' }>): string {
    const t = typeOf(e);
    if (e.op === '*') {
      const r = this.temp();
      const size = t.kind === 'int' ? t.bits / 8 : 8;
      this.emit(`${scalarCType(t)} ${r} = 0;`);
      this.emit(`bpf_probe_read_${this.p.userMemory ? 'user' : 'kernel'}(&${r}, ${size}, (const void *)(__u64)(${this.scalar(e.operand)}));`);
      return r;
    }
    if (e.op === '&') this.unsupported(e, "'&'");
    const v = this.scalar(e.operand);
    if (e.op === '!') return `(!(${v}))`;
    return `((${scalarCType(t)})(${e.op}(${scalarCType(typeOf(e.operand))})(${v})))`;
  }

  private binary(e: Extract<Expr, { kind: 'binary' }>): string {
    const lt = typeOf(e.left);
    const rt = typeOf(e.right);
    if (e.op === '&&' || e.op === '||') {
      const l = this.scalar(e.left);
      const right = this.capture(() => this.scalar(e.right));
      if (right.lines.length === 0) return `((${l}) ${e.op} (${right.value}))`;
      const r = this.temp();
      this.emit(`__s64 ${r} = ${e.op === '&&' ? 0 : 1};`);
      this.emit(`if (${e.op === '&&' ? '' : '!'}(${l})) {`);
      this.block(() => {
        this.emitCaptured(right.lines);
        this.emit(`${r} = (${right.value}) != 0;`);
      });
      this.emit('}');
      return r;
    }
    if ((e.op === '==' || e.op === '!=') && !isScalar(lt)) {
      const eq = this.equalMem(e.left, e.right);
      return e.op === '==' ? eq : `(!${eq})`;
    }
    const l = this.scalar(e.left);
    const r = this.scalar(e.right);
    if (['<', '>', '<=', '>=', '==', '!='].includes(e.op)) {
      const ct = isSigned(lt) && isSigned(rt) ? '__s64' : '__u64';
      return `((${ct})(${l}) ${e.op} (${ct})(${r}))`;
    }
    return `((${scalarCType(typeOf(e))})${this.arith(e.op, l, r, lt, rt)})`;
  }

  /** Equality of two memory values (strings compare up to their NUL). */
  private equalMem(a: Expr, b: Expr): string {
    const at = typeOf(a);
    const bt = typeOf(b);
    if (at.kind === 'str' && bt.kind === 'str') {
      if (b.kind === 'str') return this.equalLiteral(this.mem(a), at.size, b.value);
      if (a.kind === 'str') return this.equalLiteral(this.mem(b), bt.size, a.value);
      const pa = this.mem(a);
      const pb = this.mem(b);
      const n = Math.min(at.size, bt.size);
      const longer = at.size > bt.size ? pa : pb;
      const tail = at.size === bt.size ? '' : ` && ((const __u8 *)${longer})[${n}] == 0`;
      return `(kt_strncmp(${pa}, ${pb}, ${n}) == 0${tail})`;
    }
    const pa = this.mem(a);
    const pb = this.mem(b);
    const n = Math.min(sizeOf(at), sizeOf(bt));
    const r = this.temp();
    this.emit(`int ${r} = 1;`);
    this.emit(`for (__u32 i = 0; i < ${n}; i++) {`);
    this.emit(`  if (((const __u8 *)${pa})[i] != ((const __u8 *)${pb})[i]) { ${r} = 0; break; }`);
    this.emit('}');
    return r;
  }

  private equalLiteral(p: string, size: number, s: string): string {
    const bytes = [...Buffer.from(s, 'utf8')];
    if (bytes.length >= size) return '0';
    const parts = bytes.map((b, i) => `((const __u8 *)${p})[${i}] == ${cByte(b)}`);
    parts.push(`((const __u8 *)${p})[${bytes.length}] == 0`);
    return `(${parts.join(' && ')})`;
  }

  private callScalar(c: Call): string {
    switch (c.name) {
      case 'ksym':
        return `((__u64)(${this.scalar(c.args[0]!)}))`;
      case 'kaddr': {
        const a = c.args[0];
        if (!a || a.kind !== 'str') throw new CodegenError('kaddr() needs a symbol name as a string literal', c.loc);
        return `${kernelSymbolAddress(a.value, a.loc)}ULL`;
      }
      case 'uaddr': {
        const a = c.args[0];
        if (!a || a.kind !== 'str') throw new CodegenError('uaddr() needs a symbol name as a string literal', c.loc);
        return `${userSymbolAddress(this.p.probe, a.value, a.loc)}ULL`;
      }
      case 'sizeof': {
        const a = c.args[0];
        if (!a) throw new InternalError('sizeof() needs an argument');
        return `${sizeOf(typeOf(a))}LL`;
      }
      case 'cgroupid': {
        const a = c.args[0];
        if (!a || a.kind !== 'str') throw new CodegenError('cgroupid() needs a path as a string literal', c.loc);
        return cInt(cgroupId(a.value, a.loc));
      }
      case 'kstack':
        return this.builtin('kstack', c);
      case 'has_key': {
        const target = c.args[0];
        if (!target || target.kind !== 'map') throw new InternalError('has_key() needs a map');
        const m = this.map(target);
        const keys = target.keys.length > 0 ? target.keys : c.args.slice(1);
        const key = this.keyOf(m, keys);
        return `(bpf_map_lookup_elem(&${m.bpfName}, ${key}) != 0)`;
      }
      case 'strncmp': {
        const [a, b, n] = c.args;
        const at = typeOf(a!);
        const bt = typeOf(b!);
        const limit = n && n.kind === 'int' ? Number(n.value) : Math.min(sizeOf(at), sizeOf(bt));
        const count = Math.min(limit, sizeOf(at), sizeOf(bt));
        return `kt_strncmp(${this.mem(a!)}, ${this.mem(b!)}, ${count})`;
      }
      case 'strcontains': {
        const [h, n] = c.args;
        return `kt_strcontains(${this.mem(h!)}, ${sizeOf(typeOf(h!))}, ${this.mem(n!)}, ${sizeOf(typeOf(n!))})`;
      }
      default: {
        if (isAggregation(c.name)) throw new CodegenError(`${c.name}() can only be assigned to a map`, c.loc);
        return this.unsupported(c, `${c.name}() as a value`);
      }
    }
  }

  // ---- builtins ----

  private builtin(name: string, e: Expr): string {
    switch (name) {
      case 'pid':
        return '(bpf_get_current_pid_tgid() >> 32)';
      case 'tid':
        return '((__u32)bpf_get_current_pid_tgid())';
      case 'uid':
      case 'username':
        return '((__u32)bpf_get_current_uid_gid())';
      case 'gid':
        return '(bpf_get_current_uid_gid() >> 32)';
      case 'nsecs':
        return 'bpf_ktime_get_ns()';
      case 'elapsed':
        return '(bpf_ktime_get_ns() - kt_start_ns)';
      case 'cpu':
        return 'bpf_get_smp_processor_id()';
      case 'cgroup':
        return 'bpf_get_current_cgroup_id()';
      case 'rand':
        return 'bpf_get_prandom_u32()';
      case 'curtask':
        return 'bpf_get_current_task()';
      case 'kstack':
        return this.stackId(e, '0');
      case 'func':
        return this.ip(e);
      case 'retval':
        if (this.p.kind === 'uretprobe' || this.p.kind === 'kretprobe') return '((__s64)PT_REGS_RC(ctx))';
        return this.unsupported(e, 'retval in this probe');
      default: {
        const arg = /^(s?)arg(\d+)$/.exec(name);
        if (arg) return this.arg(Number(arg[2]), arg[1] === 's', e);
        return this.unsupported(e, `the builtin ${name}`);
      }
    }
  }

  private ip(e: Expr): string {
    switch (this.p.kind) {
      case 'uprobe':
      case 'uretprobe':
      case 'kprobe':
      case 'kretprobe':
      case 'usdt':
        return '((__u64)PT_REGS_IP(ctx))';
      case 'perf_event':
        return '((__u64)PT_REGS_IP(&ctx->regs))';
      default:
        return this.unsupported(e, `func in a ${this.p.kind} probe`);
    }
  }

  private arg(n: number, stack: boolean, e: Expr): string {
    const kind = this.p.kind;
    if (kind === 'raw_tp') return `((__s64)ctx->args[${n}])`;
    if (kind === 'fentry' || kind === 'fexit') return `((__s64)ctx[${n}])`;
    if (kind === 'usdt') {
      const r = this.temp();
      this.emit(`long ${r} = 0;`);
      this.emit(`bpf_usdt_arg(ctx, ${n}, &${r});`);
      return `((__s64)${r})`;
    }
    if (kind !== 'uprobe' && kind !== 'uretprobe' && kind !== 'kprobe' && kind !== 'kretprobe') {
      return this.unsupported(e, `arg${n} in this probe`);
    }
    const regs = ['PT_REGS_PARM1', 'PT_REGS_PARM2', 'PT_REGS_PARM3', 'PT_REGS_PARM4', 'PT_REGS_PARM5'];
    if (!stack && n < regs.length) return `((__s64)${regs[n]}(ctx))`;
    if (!stack && n === 5) return '((__s64)ctx->r9)';
    // Stack arguments: sargN is the N-th word above the return address; argN past the sixth register
    // is sarg(N - 6).
    const slot = stack ? n + 1 : n - 5;
    const r = this.temp();
    const read = kind.startsWith('u') ? 'user' : 'kernel';
    this.emit(`__s64 ${r} = 0;`);
    this.emit(`bpf_probe_read_${read}(&${r}, 8, (const void *)(PT_REGS_SP(ctx) + ${slot * 8}));`);
    return r;
  }

  // ---- tracepoint args ----

  private tpField(e: Extract<Expr, { kind: 'field' }>): TracepointField {
    if (e.object.kind !== 'builtin' || e.object.name !== 'args') this.unsupported(e, 'field access on anything but args');
    const format = this.p.format;
    const f = format?.fields.find((x) => x.name === e.field);
    if (!f) {
      if (this.p.kind !== 'tracepoint' || !format) this.unsupported(e, `args in a ${this.p.kind} probe`);
      throw new CodegenError(`args.${e.field} is not a field of tracepoint ${format.category}:${format.name}`, e.loc);
    }
    return f;
  }

  private fieldScalar(e: Extract<Expr, { kind: 'field' }>): string {
    const f = this.tpField(e);
    if (!isIntField(f) || f.dataLoc) this.unsupported(e, `args.${f.name} as an integer`);
    const ct = intCType(f.size * 8, f.signed);
    if (this.p.format && this.memberOf(f)) return `((${ct})ctx->${fieldMember(f)})`;
    const r = this.temp();
    this.emit(`${ct} ${r} = 0;`);
    this.emit(`bpf_probe_read_kernel(&${r}, ${f.size}, (const __u8 *)ctx + ${f.offset});`);
    return r;
  }

  private memberOf(f: TracepointField): boolean {
    return this.p.structMembers?.has(f) ?? false;
  }

  private fieldMem(e: Extract<Expr, { kind: 'field' }>, p: string, t: KType): void {
    const f = this.tpField(e);
    if (f.dataLoc) {
      if (t.kind !== 'str') this.unsupported(e, `args.${f.name} as a ${t.kind}`);
      const loc = this.temp();
      this.emit(`__u32 ${loc} = 0;`);
      this.emit(`bpf_probe_read_kernel(&${loc}, 4, (const __u8 *)ctx + ${f.offset});`);
      this.emit(`bpf_probe_read_kernel_str(${p}, ${t.size}, (const __u8 *)ctx + (${loc} & 0xffff));`);
      return;
    }
    const size = t.kind === 'buf' ? Math.min(f.size, t.size) : Math.min(f.size, sizeOf(t));
    if (t.kind === 'buf') {
      this.emit(`*(__u32 *)${p} = ${size};`);
      this.emit(`bpf_probe_read_kernel(${p} + 4, ${size}, (const __u8 *)ctx + ${f.offset});`);
      return;
    }
    this.emit(`bpf_probe_read_kernel(${p}, ${size}, (const __u8 *)ctx + ${f.offset});`);
    if (t.kind === 'str' && f.size >= t.size) this.emit(`((__u8 *)${p})[${t.size - 1}] = 0;`);
  }
}

/**
 * The link-time address of a data symbol of the one binary the probe attaches to, as bpftrace 0.17's
 * uaddr() gives it: not moved by where the binary is loaded (a PIE's or a library's base is not added).
 */
function userSymbolAddress(probe: AnalyzedProbe, name: string, loc: Expr['loc']): string {
  const binaries = [...new Set(probe.attach.flatMap((a) => (a.type === 'uprobe' || a.type === 'uretprobe' || a.type === 'usdt' ? [a.binary] : [])))];
  if (binaries.length !== 1) {
    throw new CodegenError(`uaddr() needs its probe to attach to one binary; this one attaches to ${binaries.length}`, loc);
  }
  const binary = binaries[0]!;
  let objects: ElfObject[];
  try {
    objects = readElf(binary).objects;
  } catch (e) {
    throw new CodegenError(`uaddr(): cannot read ${binary}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, loc);
  }
  const symbol = objects.find((o) => o.name === name);
  if (!symbol) throw new CodegenError(`uaddr(): no data symbol '${name}' in ${binary}`, loc);
  return `0x${symbol.address.toString(16)}`;
}

/** The address of a kernel symbol, from /proc/kallsyms (which shows zeroes to non-root users). */
function kernelSymbolAddress(name: string, loc: Expr['loc']): bigint {
  let text: string;
  try {
    text = readFileSync('/proc/kallsyms', 'utf8');
  } catch (e) {
    throw new CodegenError(`kaddr(): cannot read /proc/kallsyms: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, loc);
  }
  for (const line of text.split('\n')) {
    const [addr, , sym] = line.split(/\s+/);
    if (sym !== name || addr === undefined) continue;
    const value = BigInt('0x' + addr);
    if (value === 0n) throw new CodegenError(`kaddr(): the address of ${name} is hidden: run as root`, loc);
    return value;
  }
  throw new CodegenError(`kaddr(): no kernel symbol '${name}'`, loc);
}

/** A cgroup's id is the inode number of its cgroupfs directory (cgroup v2). */
function cgroupId(path: string, loc: Expr['loc']): bigint {
  try {
    return statSync(path, { bigint: true }).ino;
  } catch (e) {
    throw new CodegenError(`cgroupid(): cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, loc);
  }
}

function bare(name: string): string {
  return name.replace(/^\$/, '');
}

function isAggregation(name: string): boolean {
  return ['count', 'sum', 'avg', 'min', 'max', 'stats', 'hist', 'lhist'].includes(name);
}
