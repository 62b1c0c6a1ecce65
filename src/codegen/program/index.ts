// C for one BPF program: the statements and expressions of a kernel probe's action.
//
// Scalars (ints, symbol addresses, stack ids) are C expressions. Everything else (strings, buffers,
// tuples, inet, usym, ustack) lives in memory: a slot of the per-CPU scratch area (the BPF stack is
// only 512 bytes), a map value or a ring-buffer record, and is handled through pointers. Expressions
// may first emit statements (map lookups, helper calls) into the current block.
//
// The code is in parts, one file each; they call each other through the Gen context this class is.
import type { Call, Expr, KType, MapRef, Stmt } from '../../frontend/ast.js';
import { InternalError } from '../../errors.js';
import { sizeOf } from '../../plan/layout.js';
import type { HelperName } from '../../plan/events.js';
import type { PlanMap } from '../../plan/types.js';
import { isScalar, scalarCType } from '../ctypes.js';
import { CodegenError } from '../errors.js';
import { cIdent } from '../escape.js';
import { Emitter } from '../emitter.js';
import * as builtins from './builtins.js';
import { bare, type Gen, type KernelMap, type ProgramInput, type ProgramOutput } from './context.js';
import * as maps from './maps.js';
import * as members from './members.js';
import * as memory from './memory.js';
import * as records from './records.js';
import * as scalars from './scalars.js';
import * as statements from './statements.js';

export type { ProgramInput, ProgramOutput } from './context.js';

export class ProgramGen extends Emitter implements Gen {
  readonly stackLimits = new Set<number>();
  readonly vars = new Map<string, { type: KType; slot?: number }>();
  loopDepth = 0;
  inCallback = false;
  readonly functions: string[] = [];
  forCount = 0;

  constructor(readonly p: ProgramInput) {
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
    if (this.p.stopsWithSession) head.push('  KT_LIVE();');
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

  varName(name: string): string {
    return (this.inCallback ? 'F->' : '') + 'v_' + cIdent(bare(name));
  }

  variable(name: string): { type: KType; slot?: number } | undefined {
    return this.vars.get(bare(name));
  }

  map(ref: { name: string; loc: Expr['loc'] }): KernelMap {
    const m = this.p.maps.get(ref.name);
    if (!m || !m.bpfName) throw new InternalError(`map ${ref.name} is not a kernel map`);
    return m as KernelMap;
  }

  unsupported(e: { loc: Expr['loc'] }, what: string): never {
    throw new CodegenError(`${what} is not supported in kernel probes yet`, e.loc);
  }

  stmts(list: Stmt[]): void {
    statements.stmts(this, list);
  }

  leave(): void {
    statements.leave(this);
  }

  keyOf(m: PlanMap, keys: Expr[]): string {
    return maps.keyOf(this, m, keys);
  }

  assignMap(target: MapRef, op: string, value: Expr): void {
    maps.assignMap(this, target, op, value);
  }

  readMap(ref: MapRef): string {
    return maps.readMap(this, ref);
  }

  readMapMem(ref: MapRef): string {
    return maps.readMapMem(this, ref);
  }

  incDecMap(ref: MapRef, delta: 1 | -1, prefix: boolean): string {
    return maps.incDecMap(this, ref, delta, prefix);
  }

  callStmt(c: Call): boolean {
    return records.callStmt(this, c);
  }

  checkHelper(helper: HelperName, level: 1 | 2, ret: string, failed: string, loc: Expr['loc']): void {
    records.checkHelper(this, helper, level, ret, failed, loc);
  }

  store(e: Expr, dest: string, destType: KType): void {
    memory.store(this, e, dest, destType);
  }

  convert(src: string, from: KType, dest: string, to: KType): void {
    memory.convert(this, src, from, dest, to);
  }

  mem(e: Expr): string {
    return memory.mem(this, e);
  }

  stackId(e: Expr, flags: string): string {
    return memory.stackId(this, e, flags);
  }

  cond(e: Expr): string {
    return scalars.cond(this, e);
  }

  arith(op: string, l: string, r: string, lt: KType, rt: KType): string {
    return scalars.arith(this, op, l, r, lt, rt);
  }

  scalar(e: Expr): string {
    return scalars.scalar(this, e);
  }

  builtin(name: string, e: Expr): string {
    return builtins.builtin(this, name, e);
  }

  ip(e: Expr): string {
    return builtins.ip(this, e);
  }

  register(name: string, e: Expr): string {
    return builtins.register(this, name, e);
  }

  fieldScalar(e: Extract<Expr, { kind: 'field' }>): string {
    return members.isMember(e) ? members.memberScalar(this, e) : builtins.fieldScalar(this, e);
  }

  fieldMem(e: Extract<Expr, { kind: 'field' }>, p: string, t: KType): void {
    if (members.isMember(e)) members.memberMem(this, e, p, t);
    else builtins.fieldMem(this, e, p, t);
  }

  memberBytes(e: Extract<Expr, { kind: 'field' }>, p: string, n: number): boolean {
    if (!members.isMember(e)) return false;
    members.memberBytes(this, e, p, n);
    return true;
  }
}
