// The abstract syntax tree of a kafkatrace script. The parser builds it; semantic analysis fills in
// `type` on expressions and `resolved` on probes; later stages only read it.

/** A position in a script. Lines and columns count from 1; offset and length are in UTF-16 units. */
export interface Loc {
  line: number;
  col: number;
  offset: number;
  length: number;
}

/** The type of a value, decided by semantic analysis. */
export type KType =
  /** `space`: the memory the value addresses when read through, where uptr()/kptr() said so. */
  | { kind: 'int'; bits: 8 | 16 | 32 | 64; signed: boolean; space?: AddressSpace }
  | { kind: 'str'; size: number }
  | { kind: 'buf'; size: number }
  | { kind: 'tuple'; elems: KType[] }
  | { kind: 'ksym' }
  | { kind: 'usym' }
  | { kind: 'inet' }
  | { kind: 'username' }
  /** strerror(errno): an error number, printed as the C library's message for it. */
  | { kind: 'strerror' }
  | { kind: 'kstack' }
  | { kind: 'ustack' }
  /** strftime(format, ns): CLOCK_MONOTONIC nanoseconds, printed as that wall-clock time in `format`. */
  | { kind: 'timestamp'; format: string }
  /** cgroup_path(id[, filter]): a cgroup id, printed as its paths in the hierarchies `filter` matches. */
  | { kind: 'cgroup_path'; filter: string }
  /** macaddr(): six bytes, printed `41:42:43:44:45:46`. */
  | { kind: 'macaddr' }
  /**
   * A fixed number of values in a row (pton()'s bytes, a struct's `int x[4]`, `int y[2][2]`, `int *z[4]`,
   * `struct W w[10]`); prints as `[1,2,3,4]`, `[[5,6],[7,8]]`.
   */
  | { kind: 'array'; elem: KType; length: number }
  /** A typed address: arithmetic on it moves by the size of what it points to, as in C. */
  | { kind: 'ptr'; to: KType; space?: AddressSpace }
  /**
   * A struct or union by name (`struct task_struct`), with its size where the kernel's BTF has it.
   * A pointer's target, sizeof()'s argument, or a place whose members are read (`(*p).m`,
   * `p->embedded.m`): no value has this type. `space`: the memory the place is in.
   */
  | { kind: 'struct'; name: string; size?: number; space?: AddressSpace }
  /**
   * A struct or union as a value (`@s = *p`, `$t = (1, curtask->se)`): its bytes, copied whole, with
   * the members that print (`{ .m = 2, .n = 3 }`) at their offsets.
   */
  | { kind: 'record'; name: string; size: number; fields: RecordField[] }
  | { kind: 'none' };

/** A member of a record value. */
export interface RecordField {
  name: string;
  offset: number;
  type: KType;
  /** A bitfield: `width` bits from bit `shift` of the bytes at `offset` (little-endian). */
  bitfield?: { shift: number; width: number };
}

/** User or kernel memory; without one, reads use the probe's (user in uprobes, usdt and syscall tracepoints). */
export type AddressSpace = 'user' | 'kernel';

/** What a map holds: the aggregation it is updated with, or a plain assigned value. */
export type MapValueKind =
  | { kind: 'scalar'; type: KType }
  | { kind: 'count' }
  | { kind: 'sum'; signed: boolean }
  | { kind: 'avg'; signed: boolean }
  | { kind: 'min'; signed: boolean }
  | { kind: 'max'; signed: boolean }
  | { kind: 'stats'; signed: boolean }
  | { kind: 'hist' }
  | { kind: 'lhist'; min: number; max: number; step: number };

export interface Script {
  kind: 'script';
  file: string;
  /** The C before the probes: preprocessor lines and struct, union and enum definitions, in order. */
  preamble: PreambleItem[];
  probes: Probe[];
  loc: Loc;
}

/** A preprocessor line or a C definition, with the line it starts on. */
export interface PreambleItem {
  text: string;
  line: number;
}

/** One attach point as written: `tracepoint:syscalls:sys_enter_*`, `BEGIN`, `kafka:produce`. */
export interface AttachPoint {
  kind: 'attach';
  /** The provider as written (`t`, `tracepoint`, `kafka`, `BEGIN`, `END`). */
  provider: string;
  /** The parts after the provider, split on `:` (an address or a path may itself hold a `:`-free part). */
  parts: string[];
  /** The full text as written, for messages. */
  raw: string;
  loc: Loc;
}

export interface Probe {
  kind: 'probe';
  attach: AttachPoint[];
  predicate?: Expr;
  body: Stmt[];
  loc: Loc;
}

export type Stmt =
  | ExprStmt
  | AssignStmt
  | MapAssignStmt
  | IfStmt
  | WhileStmt
  | UnrollStmt
  | ForStmt
  | ReturnStmt
  | BreakStmt
  | ContinueStmt
  | BlockStmt;

export interface ExprStmt { kind: 'exprStmt'; expr: Expr; loc: Loc }

/** `$x = e`, `$x += e`: op is `=` or the compound operator without `=` (`+`, `<<`, ...). */
export interface AssignStmt { kind: 'assign'; target: VarRef; op: string; value: Expr; loc: Loc }

/** `@m[k] = e`, `@m[k] += e`, `@m = count()`. */
export interface MapAssignStmt { kind: 'mapAssign'; target: MapRef; op: string; value: Expr; loc: Loc }

export interface IfStmt { kind: 'if'; cond: Expr; then: Stmt[]; else?: Stmt[]; loc: Loc }
export interface WhileStmt { kind: 'while'; cond: Expr; body: Stmt[]; loc: Loc }
export interface UnrollStmt { kind: 'unroll'; count: Expr; body: Stmt[]; loc: Loc }
/** `for ($kv : @map) { ... }` */
export interface ForStmt { kind: 'for'; variable: VarRef; map: MapRef; body: Stmt[]; loc: Loc }
export interface ReturnStmt { kind: 'return'; value?: Expr; loc: Loc }
export interface BreakStmt { kind: 'break'; loc: Loc }
export interface ContinueStmt { kind: 'continue'; loc: Loc }
export interface BlockStmt { kind: 'block'; body: Stmt[]; loc: Loc }

export type Expr =
  | IntLit
  | StrLit
  | VarRef
  | MapRef
  | Builtin
  | PositionalParam
  | ArgCount
  | Call
  | Binary
  | Unary
  | IncDec
  | Ternary
  | FieldAccess
  | TupleIndex
  | TupleLit
  | IndexExpr
  | CastExpr
  | TypeRef;

interface ExprBase { loc: Loc; type?: KType }

export interface IntLit extends ExprBase { kind: 'int'; value: bigint; raw: string }
/** `value` is the decoded string (escapes applied). */
export interface StrLit extends ExprBase { kind: 'str'; value: string }
/** `$name` */
export interface VarRef extends ExprBase { kind: 'var'; name: string }
/** `@name[keys]`; the anonymous map has name `@`. */
export interface MapRef extends ExprBase { kind: 'map'; name: string; keys: Expr[] }
/** pid, comm, nsecs, arg0, retval, args, ... */
export interface Builtin extends ExprBase {
  kind: 'builtin';
  name: string;
  /** Set by analysis where the name is a constant: an enumerator or an integer `#define` of the script's C, or a kernel enumerator. */
  value?: bigint;
}
/** `$1` ... `$N` */
export interface PositionalParam extends ExprBase { kind: 'positional'; index: number }
/** `$#` */
export interface ArgCount extends ExprBase { kind: 'argcount' }
export interface Call extends ExprBase { kind: 'call'; name: string; args: Expr[] }
export interface Binary extends ExprBase { kind: 'binary'; op: string; left: Expr; right: Expr }
/** `!e`, `-e`, `~e`, `*e`, `&e` */
export interface Unary extends ExprBase { kind: 'unary'; op: string; operand: Expr }
/** `$x++`, `--@m[k]`: prefix tells which side the operator stood. */
export interface IncDec extends ExprBase { kind: 'incdec'; op: '++' | '--'; prefix: boolean; target: VarRef | MapRef }
export interface Ternary extends ExprBase { kind: 'ternary'; cond: Expr; then: Expr; else: Expr }
/** `args.field`, `args->field`, `p->member`, `(*p).member`, `p->embedded.member`. */
export interface FieldAccess extends ExprBase {
  kind: 'field';
  object: Expr;
  field: string;
  arrow: boolean;
  /** Set by analysis on a struct or union member (not on args): its byte offset in the record. */
  offset?: number;
  /** Set by analysis on a bitfield member: its bits, from bit `shift` of the bytes at `offset`. */
  bitfield?: { shift: number; width: number };
  /** Set by analysis on a uprobe's `args.NAME`: the parameter's position, read as argN (x86-64 SysV registers). */
  argument?: number;
}
/** `$t.0` */
export interface TupleIndex extends ExprBase { kind: 'tupleIndex'; object: Expr; index: number }
export interface TupleLit extends ExprBase { kind: 'tuple'; elems: Expr[] }
/** `e[i]` on something other than a map. */
export interface IndexExpr extends ExprBase { kind: 'index'; object: Expr; index: Expr }
/** `(uint32)e` */
export interface CastExpr extends ExprBase { kind: 'cast'; typeName: string; operand: Expr }
/** A type where sizeof() takes one: `sizeof(struct task_struct)`, `sizeof(uint8 *)`. */
export interface TypeRef extends ExprBase { kind: 'typeRef'; typeName: string }
