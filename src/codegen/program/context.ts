// What the parts of a program's code generator share: the program's input, the emitter and its
// state, and the operations one part calls in another. The parts import this file, never each other.
import type { AnalyzedProbe, TracepointField, TracepointFormat } from '../../frontend/analysis.js';
import type { Call, Expr, KType, MapRef, Stmt } from '../../frontend/ast.js';
import type { ProgramKind } from '../../plan/programs.js';
import type { HelperName } from '../../plan/events.js';
import type { PlanEvent, PlanMap } from '../../plan/types.js';
import type { Emitter } from '../emitter.js';

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
  /** Whether the program does nothing once the session has stopped (KT_LIVE): all but BEGIN and END. */
  stopsWithSession: boolean;
  maps: Map<string, PlanMap>;
  events: Map<Call, PlanEvent>;
  /** The plan's helperError record (-k, -kk), if any. */
  helperError?: PlanEvent;
  positional: string[];
  /** What the front end resolved each kaddr(), uaddr() and cgroupid() call to. */
  hostValues: Map<Call, bigint>;
}

export interface ProgramOutput {
  code: string;
  scratchSize: number;
  /** Largest memory the program clears or copies from the zero area. */
  zeroSize: number;
  /** The frame limits of the stacks it records (0: whole stacks), each with its own stack map. */
  stackLimits: number[];
}

/** A kernel map of the plan (one that has a BPF name). */
export type KernelMap = PlanMap & { bpfName: string };

/** The generator of one program, as its parts see it. */
export interface Gen extends Emitter {
  readonly p: ProgramInput;
  /** The action's variables: scalars are C locals, the others have a scratch slot. */
  readonly vars: Map<string, { type: KType; slot?: number }>;
  loopDepth: number;
  /** Inside a for-loop callback: scalars live in the loop's context struct `F`. */
  inCallback: boolean;
  /** C functions emitted before the program (for-loop callbacks and their structs). */
  readonly functions: string[];
  forCount: number;
  readonly stackLimits: Set<number>;

  varName(name: string): string;
  variable(name: string): { type: KType; slot?: number } | undefined;
  map(ref: { name: string; loc: Expr['loc'] }): KernelMap;
  unsupported(e: { loc: Expr['loc'] }, what: string): never;

  // statements
  stmts(list: Stmt[]): void;
  leave(): void;
  // maps
  keyOf(m: PlanMap, keys: Expr[]): string;
  assignMap(target: MapRef, op: string, value: Expr): void;
  readMap(ref: MapRef): string;
  readMapMem(ref: MapRef): string;
  incDecMap(ref: MapRef, delta: 1 | -1, prefix: boolean): string;
  // records
  callStmt(c: Call): boolean;
  /**
   * With -k (level 1) or -kk (level 2 and up), sends a helperError record when `failed` (a C condition)
   * holds: `ret` is the helper's return value, `loc` the expression's place in the script.
   */
  checkHelper(helper: HelperName, level: 1 | 2, ret: string, failed: string, loc: Expr['loc']): void;
  // memory
  store(e: Expr, dest: string, destType: KType): void;
  convert(src: string, from: KType, dest: string, to: KType): void;
  mem(e: Expr): string;
  stackId(e: Expr, flags: string): string;
  // scalars
  cond(e: Expr): string;
  arith(op: string, l: string, r: string, lt: KType, rt: KType): string;
  scalar(e: Expr): string;
  // builtins
  builtin(name: string, e: Expr): string;
  ip(e: Expr): string;
  register(name: string, e: Expr): string;
  fieldScalar(e: Extract<Expr, { kind: 'field' }>): string;
  fieldMem(e: Extract<Expr, { kind: 'field' }>, p: string, t: KType): void;
  /** The first `n` bytes of a struct member as they are in memory; false when `e` is not one. */
  memberBytes(e: Extract<Expr, { kind: 'field' }>, p: string, n: number): boolean;
}

export function bare(name: string): string {
  return name.replace(/^\$/, '');
}

export function isAggregation(name: string): boolean {
  return ['count', 'sum', 'avg', 'min', 'max', 'stats', 'hist', 'lhist'].includes(name);
}
