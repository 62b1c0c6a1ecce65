// C expressions for scalar values: literals, variables, operators, comparisons and the calls that
// yield an integer.
import type { Call, Expr, KType } from '../../frontend/ast.js';
import { positionalInteger } from '../../../grammar/literals.js';
import { InternalError } from '../../errors.js';
import { typeOf } from '../../plan/events.js';
import { layoutOf, sizeOf } from '../../plan/layout.js';
import { cInt, isScalar, isSigned, readSpace, scalarCType, step } from '../ctypes.js';
import { cByte } from '../escape.js';
import { type Gen, isAggregation } from './context.js';

/** A condition: a scalar tested against zero. */
export function cond(g: Gen, e: Expr): string {
  return `(${g.scalar(e)}) != 0`;
}

export function arith(_g: Gen, op: string, l: string, r: string, lt: KType, rt: KType): string {
  // Pointer arithmetic moves by the pointee's size, as in C (the front end allows only ptr ± int, int + ptr).
  if (lt.kind === 'ptr') return `((__u64)(${l}) ${op} (__u64)(${r}) * ${step(lt)})`;
  if (rt.kind === 'ptr') return `((__u64)(${l}) * ${step(rt)} ${op} (__u64)(${r}))`;
  const ct = isSigned(lt) && isSigned(rt) ? '__s64' : '__u64';
  if (op === '/' || op === '%') {
    const div = ct === '__s64' ? `${op === '/' ? 'kt_sdiv' : 'kt_smod'}((__s64)(${l}), (__s64)(${r}))` : `(__u64)(${l}) ${op} (__u64)(${r})`;
    return `((${ct})(${r}) == 0 ? 0 : ${div})`;
  }
  if (op === '<<' || op === '>>') return `((${ct})(${l}) ${op} ((${r}) & 63))`;
  return `((${ct})(${l}) ${op} (${ct})(${r}))`;
}

/** A C expression for the value of a scalar-typed expression. */
export function scalar(g: Gen, e: Expr): string {
  const t = typeOf(e);
  switch (e.kind) {
    case 'int':
      return cInt(e.value);
    case 'var': {
      const v = g.variable(e.name);
      if (!v || v.slot !== undefined) throw new InternalError(`variable ${e.name} is not a scalar`);
      return g.varName(e.name);
    }
    case 'map':
      return g.readMap(e);
    case 'builtin':
      return e.value === undefined ? g.builtin(e.name, e) : cInt(e.value);
    case 'positional':
      return cInt(positionalInteger(g.p.positional[e.index - 1]) ?? 0n);
    case 'argcount':
      return `${g.p.positional.length}LL`;
    case 'call':
      return callScalar(g, e);
    case 'binary':
      return binary(g, e);
    case 'unary':
      return unary(g, e);
    case 'incdec': {
      const delta = e.op === '++' ? 1 : -1;
      if (e.target.kind === 'var') {
        const name = g.varName(e.target.name);
        const vt = typeOf(e.target);
        if (vt.kind === 'ptr') {
          const by = `${e.op[0]}= ${step(vt)}`;
          return e.prefix ? `(${name} ${by})` : `((${name} ${by}) ${e.op === '++' ? '-' : '+'} ${step(vt)})`;
        }
        return e.prefix ? `(${e.op}${name})` : `(${name}${e.op})`;
      }
      return g.incDecMap(e.target, delta, e.prefix);
    }
    case 'ternary': {
      const c = g.cond(e.cond);
      const then = g.capture(() => g.scalar(e.then));
      const other = g.capture(() => g.scalar(e.else));
      const ct = scalarCType(t);
      if (then.lines.length === 0 && other.lines.length === 0) return `((${c}) ? (${ct})(${then.value}) : (${ct})(${other.value}))`;
      const r = g.temp();
      g.emit(`${ct} ${r} = 0;`);
      g.emit(`if (${c}) {`);
      g.block(() => {
        g.emitCaptured(then.lines);
        g.emit(`${r} = (${ct})(${then.value});`);
      });
      g.emit('} else {');
      g.block(() => {
        g.emitCaptured(other.lines);
        g.emit(`${r} = (${ct})(${other.value});`);
      });
      g.emit('}');
      return r;
    }
    case 'field':
      return g.fieldScalar(e);
    case 'tupleIndex': {
      const ot = typeOf(e.object);
      if (ot.kind !== 'tuple') throw new InternalError('tuple index on a non-tuple');
      const f = layoutOf(ot.elems).fields[e.index]!;
      return `(*(const ${scalarCType(f.type)} *)(${g.mem(e.object)} + ${f.offset}))`;
    }
    case 'cast': {
      const ot = typeOf(e.operand);
      if (!isScalar(ot)) g.unsupported(e, `a cast of a ${ot.kind}`);
      return `((${scalarCType(t)})(${g.scalar(e.operand)}))`;
    }
    case 'index':
      return index(g, e.object, e.index, t);
    case 'str':
    case 'tuple':
      throw new InternalError(`${e.kind} literal used as an integer`);
    case 'typeRef':
      throw new InternalError('a type used as a value');
  }
}

function index(g: Gen, object: Expr, index: Expr, t: KType): string {
  const ot = typeOf(object);
  const i = g.temp();
  g.emit(`__u64 ${i} = (__u64)(${g.scalar(index)});`);
  if (ot.kind === 'str' || ot.kind === 'buf') {
    const p = g.mem(object);
    const base = ot.kind === 'buf' ? `${p} + 4` : p;
    return `(${i} < ${ot.size} ? (${scalarCType(t)})((const __u8 *)(${base}))[${i}] : 0)`;
  }
  if (ot.kind === 'array') {
    return `(${i} < ${ot.length} ? (${scalarCType(t)})((const ${scalarCType(ot.elem)} *)(${g.mem(object)}))[${i}] : 0)`;
  }
  if (!isScalar(ot)) g.unsupported(object, `indexing a ${ot.kind}`);
  const size = t.kind === 'int' ? t.bits / 8 : 8;
  const r = g.temp();
  g.emit(`${scalarCType(t)} ${r} = 0;`);
  g.emit(`bpf_probe_read_${readSpace(ot, g.p.userMemory)}(&${r}, ${size}, (const void *)((__u64)(${g.scalar(object)}) + ${i} * ${size}));`);
  return r;
}

function unary(g: Gen, e: Extract<Expr, { kind: 'unary' }>): string {
  const t = typeOf(e);
  if (e.op === '*') {
    const r = g.temp();
    const size = t.kind === 'int' ? t.bits / 8 : 8;
    g.emit(`${scalarCType(t)} ${r} = 0;`);
    g.emit(`bpf_probe_read_${readSpace(typeOf(e.operand), g.p.userMemory)}(&${r}, ${size}, (const void *)(__u64)(${g.scalar(e.operand)}));`);
    return r;
  }
  if (e.op === '&') g.unsupported(e, "'&'");
  const v = g.scalar(e.operand);
  if (e.op === '!') return `(!(${v}))`;
  return `((${scalarCType(t)})(${e.op}(${scalarCType(typeOf(e.operand))})(${v})))`;
}

function binary(g: Gen, e: Extract<Expr, { kind: 'binary' }>): string {
  const lt = typeOf(e.left);
  const rt = typeOf(e.right);
  if (e.op === '&&' || e.op === '||') {
    const l = g.scalar(e.left);
    const right = g.capture(() => g.scalar(e.right));
    if (right.lines.length === 0) return `((${l}) ${e.op} (${right.value}))`;
    const r = g.temp();
    g.emit(`__s64 ${r} = ${e.op === '&&' ? 0 : 1};`);
    g.emit(`if (${e.op === '&&' ? '' : '!'}(${l})) {`);
    g.block(() => {
      g.emitCaptured(right.lines);
      g.emit(`${r} = (${right.value}) != 0;`);
    });
    g.emit('}');
    return r;
  }
  if ((e.op === '==' || e.op === '!=') && !isScalar(lt)) {
    const eq = equalMem(g, e.left, e.right);
    return e.op === '==' ? eq : `(!${eq})`;
  }
  const l = g.scalar(e.left);
  const r = g.scalar(e.right);
  if (['<', '>', '<=', '>=', '==', '!='].includes(e.op)) {
    const ct = isSigned(lt) && isSigned(rt) ? '__s64' : '__u64';
    return `((${ct})(${l}) ${e.op} (${ct})(${r}))`;
  }
  return `((${scalarCType(typeOf(e))})${g.arith(e.op, l, r, lt, rt)})`;
}

/** Equality of two memory values (strings compare up to their NUL). */
function equalMem(g: Gen, a: Expr, b: Expr): string {
  const at = typeOf(a);
  const bt = typeOf(b);
  if (at.kind === 'str' && bt.kind === 'str') {
    if (b.kind === 'str') return equalLiteral(g, g.mem(a), at.size, b.value);
    if (a.kind === 'str') return equalLiteral(g, g.mem(b), bt.size, a.value);
    const pa = g.mem(a);
    const pb = g.mem(b);
    const n = Math.min(at.size, bt.size);
    const longer = at.size > bt.size ? pa : pb;
    const tail = at.size === bt.size ? '' : ` && ((const __u8 *)${longer})[${n}] == 0`;
    return `(kt_strncmp(${pa}, ${pb}, ${n}) == 0${tail})`;
  }
  const pa = g.mem(a);
  const pb = g.mem(b);
  const n = Math.min(sizeOf(at), sizeOf(bt));
  const r = g.temp();
  g.emit(`int ${r} = 1;`);
  g.emit(`for (__u32 i = 0; i < ${n}; i++) {`);
  g.emit(`  if (((const __u8 *)${pa})[i] != ((const __u8 *)${pb})[i]) { ${r} = 0; break; }`);
  g.emit('}');
  return r;
}

function equalLiteral(_g: Gen, p: string, size: number, s: string): string {
  const bytes = [...Buffer.from(s, 'utf8')];
  if (bytes.length >= size) return '0';
  const parts = bytes.map((b, i) => `((const __u8 *)${p})[${i}] == ${cByte(b)}`);
  parts.push(`((const __u8 *)${p})[${bytes.length}] == 0`);
  return `(${parts.join(' && ')})`;
}

function callScalar(g: Gen, c: Call): string {
  switch (c.name) {
    case 'ksym':
    case 'strerror':
      return `((__u64)(${g.scalar(c.args[0]!)}))`;
    case 'kaddr':
      return `${hostValue(g, c)}ULL`;
    case 'cgroup_path':
      return `((__u64)(${g.scalar(c.args[0]!)}))`;
    case 'uptr':
    case 'kptr':
      return g.scalar(c.args[0]!);
    case 'strftime':
      return `((__u64)(${g.scalar(c.args[1]!)}))`;
    case 'bswap': {
      const t = typeOf(c);
      const v = `(${scalarCType(t)})(${g.scalar(c.args[0]!)})`;
      return t.kind === 'int' && t.bits > 8 ? `__builtin_bswap${t.bits}(${v})` : v;
    }
    case 'reg': {
      const a = c.args[0];
      if (!a || a.kind !== 'str') throw new InternalError('reg() needs a register name');
      return g.register(a.value, c);
    }
    case 'uaddr':
      return `0x${hostValue(g, c).toString(16)}ULL`;
    case 'sizeof': {
      const a = c.args[0];
      if (!a) throw new InternalError('sizeof() needs an argument');
      return `${sizeOf(typeOf(a))}LL`;
    }
    case 'cgroupid':
      return cInt(hostValue(g, c));
    case 'kstack':
      return g.builtin('kstack', c);
    case 'has_key': {
      const target = c.args[0];
      if (!target || target.kind !== 'map') throw new InternalError('has_key() needs a map');
      const m = g.map(target);
      const keys = target.keys.length > 0 ? target.keys : c.args.slice(1);
      const key = g.keyOf(m, keys);
      return `(bpf_map_lookup_elem(&${m.bpfName}, ${key}) != 0)`;
    }
    case 'strncmp': {
      const [a, b, n] = c.args;
      const at = typeOf(a!);
      const bt = typeOf(b!);
      const given = n?.kind === 'int' ? n.value : n?.kind === 'positional' ? positionalInteger(g.p.positional[n.index - 1]) : undefined;
      const limit = given !== undefined ? Number(given) : Math.min(sizeOf(at), sizeOf(bt));
      const count = Math.min(limit, sizeOf(at), sizeOf(bt));
      return `kt_strncmp(${g.mem(a!)}, ${g.mem(b!)}, ${count})`;
    }
    case 'strcontains': {
      const [h, n] = c.args;
      return `kt_strcontains(${g.mem(h!)}, ${sizeOf(typeOf(h!))}, ${g.mem(n!)}, ${sizeOf(typeOf(n!))})`;
    }
    default: {
      if (isAggregation(c.name)) throw new InternalError(`${c.name}() can only be assigned to a map`);
      return g.unsupported(c, `${c.name}() as a value`);
    }
  }
}

/** What the front end resolved a kaddr(), uaddr() or cgroupid() call to. */
function hostValue(g: Gen, c: Call): bigint {
  const value = g.p.hostValues.get(c);
  if (value === undefined) throw new InternalError(`${c.name}() at ${c.loc.line}:${c.loc.col} has no resolved value`);
  return value;
}
