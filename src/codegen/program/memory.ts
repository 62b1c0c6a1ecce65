// Values that live in memory (strings, buffers, tuples, inet, usym, ustack): how they are computed
// into zeroed memory, and copied between layouts.
import { positionalInteger } from '../../../grammar/literals.js';
import type { Call, Expr, KType } from '../../frontend/ast.js';
import { addressBytes } from '../../frontend/inet.js';
import { InternalError } from '../../errors.js';
import { typeOf } from '../../plan/events.js';
import { layoutOf, sizeOf, STACK_DEPTH, stackMapName } from '../../plan/layout.js';
import { isScalar, readSpace, scalarCType } from '../ctypes.js';
import { cByte } from '../escape.js';
import type { Gen } from './context.js';

/** Writes the value of `e` at `dest` (zeroed memory) in the layout of `destType`. */
export function store(g: Gen, e: Expr, dest: string, destType: KType): void {
  const t = typeOf(e);
  if (isScalar(destType)) {
    if (!isScalar(t)) throw new InternalError(`cannot store ${t.kind} as ${destType.kind}`);
    g.emit(`*(${scalarCType(destType)} *)${dest} = (${scalarCType(destType)})(${g.scalar(e)});`);
    return;
  }
  if (destType.kind === 'str' && storeStrDirect(g, e, dest, destType.size)) return;
  if (destType.kind === 'tuple' && e.kind === 'tuple') {
    const layout = layoutOf(destType.elems);
    e.elems.forEach((el, i) => g.store(el, `(${dest} + ${layout.fields[i]!.offset})`, layout.fields[i]!.type));
    return;
  }
  g.convert(g.mem(e), t, dest, destType);
}

/** Strings written straight into their destination without a scratch copy. */
function storeStrDirect(g: Gen, e: Expr, dest: string, size: number): boolean {
  if (e.kind === 'str') {
    literal(g, e.value, dest, size);
    return true;
  }
  if (e.kind === 'builtin' && e.name === 'comm') {
    g.emit(`bpf_get_current_comm(${dest}, ${Math.min(16, size)});`);
    return true;
  }
  if (e.kind === 'builtin' && e.name === 'probe') {
    literal(g, g.p.probeText, dest, size);
    return true;
  }
  if (e.kind === 'positional') {
    literal(g, g.p.positional[e.index - 1] ?? '', dest, size);
    return true;
  }
  if (e.kind === 'call' && e.name === 'str' && e.args[0] && isScalar(typeOf(e.args[0]))) {
    const ptr = g.scalar(e.args[0]);
    let len = String(size);
    if (e.args[1]) {
      const l = g.temp();
      g.emit(`__u64 ${l} = (__u64)(${g.scalar(e.args[1])}) + 1;`);
      g.emit(`if (${l} > ${size})`);
      g.emit(`  ${l} = ${size};`);
      // Keeps clang from turning the clamp into something the verifier cannot bound.
      g.emit(`barrier_var(${l});`);
      len = l;
    }
    g.emit(`bpf_probe_read_${readSpace(typeOf(e.args[0]), g.p.userMemory)}_str(${dest}, ${len}, (const void *)(__u64)(${ptr}));`);
    return true;
  }
  return false;
}

/** The bytes of a string constant and its NUL, truncated to `size`. */
function literal(g: Gen, s: string, dest: string, size: number): void {
  const bytes = [...Buffer.from(s, 'utf8')].slice(0, Math.max(0, size - 1));
  bytes.forEach((b, i) => g.emit(`((__u8 *)${dest})[${i}] = ${cByte(b)};`));
}

/** Copies a value in memory of type `from` to zeroed memory of type `to`, converting layouts. */
export function convert(g: Gen, src: string, from: KType, dest: string, to: KType): void {
  if (isScalar(to) && isScalar(from)) {
    g.emit(`*(${scalarCType(to)} *)${dest} = (${scalarCType(to)})*(const ${scalarCType(from)} *)(${src});`);
    return;
  }
  if (from.kind === 'tuple' && to.kind === 'tuple') {
    const fl = layoutOf(from.elems);
    const tl = layoutOf(to.elems);
    fl.fields.forEach((f, i) => {
      const tf = tl.fields[i];
      if (tf) g.convert(`(${src} + ${f.offset})`, f.type, `(${dest} + ${tf.offset})`, tf.type);
    });
    return;
  }
  if (from.kind === 'str' && to.kind === 'str') {
    const n = Math.min(from.size, to.size);
    g.emit(`bpf_probe_read_kernel(${dest}, ${g.zeroCheck(n)}, ${src});`);
    if (from.size > to.size) g.emit(`((__u8 *)${dest})[${to.size - 1}] = 0;`);
    return;
  }
  if (from.kind === 'buf' && to.kind === 'buf') {
    const n = Math.min(from.size, to.size);
    g.emit(`bpf_probe_read_kernel(${dest}, ${g.zeroCheck(4 + n)}, ${src});`);
    if (from.size > to.size) g.emit(`if (*(__u32 *)${dest} > ${to.size}) *(__u32 *)${dest} = ${to.size};`);
    return;
  }
  const n = Math.min(sizeOf(from), sizeOf(to));
  if (n > 0) g.emit(`bpf_probe_read_kernel(${dest}, ${g.zeroCheck(n)}, ${src});`);
}

/** A pointer to memory holding the value of `e` in the layout of its type. */
export function mem(g: Gen, e: Expr): string {
  const t = typeOf(e);
  if (e.kind === 'var') {
    const v = g.variable(e.name);
    if (v?.slot !== undefined) return `KT_AT(S, ${v.slot})`;
  }
  if (e.kind === 'map' && !isScalar(t)) return g.readMapMem(e);
  if (e.kind === 'tupleIndex' && !isScalar(t)) {
    const ot = typeOf(e.object);
    if (ot.kind !== 'tuple') throw new InternalError('tuple index on a non-tuple');
    return `(${g.mem(e.object)} + ${layoutOf(ot.elems).fields[e.index]!.offset})`;
  }
  const size = g.zeroCheck(Math.max(sizeOf(t), 8));
  const slot = g.alloc(size);
  const p = `KT_AT(S, ${slot})`;
  g.emit(`KT_CLEAR(${p}, ${size});`);
  if (isScalar(t)) {
    g.emit(`*(${scalarCType(t)} *)${p} = ${g.scalar(e)};`);
    return p;
  }
  fill(g, e, p, t);
  return p;
}

/** Computes a memory-typed expression into zeroed memory at `p`. */
function fill(g: Gen, e: Expr, p: string, t: KType): void {
  if (t.kind === 'str' && storeStrDirect(g, e, p, t.size)) return;
  switch (e.kind) {
    case 'tuple': {
      const layout = layoutOf((t as Extract<KType, { kind: 'tuple' }>).elems);
      e.elems.forEach((el, i) => g.store(el, `(${p} + ${layout.fields[i]!.offset})`, layout.fields[i]!.type));
      return;
    }
    case 'ternary': {
      const c = g.cond(e.cond);
      g.emit(`if (${c}) {`);
      g.block(() => g.store(e.then, p, t));
      g.emit('} else {');
      g.block(() => g.store(e.else, p, t));
      g.emit('}');
      return;
    }
    case 'field':
      g.fieldMem(e, p, t);
      return;
    case 'index': {
      // An element of an array in memory that is itself in memory (a row of `int y[2][2]`, a struct of `struct W w[10]`).
      const ot = typeOf(e.object);
      if (ot.kind !== 'array') g.unsupported(e, `indexing a ${ot.kind} for a ${t.kind}`);
      const base = g.mem(e.object);
      const i = g.temp();
      const size = sizeOf(t);
      g.emit(`__u64 ${i} = (__u64)(${g.scalar(e.index)});`);
      g.emit(`if (${i} < ${(ot as Extract<KType, { kind: 'array' }>).length})`);
      g.emit(`  bpf_probe_read_kernel(${p}, ${g.zeroCheck(size)}, ${base} + ${i} * ${size});`);
      return;
    }
    case 'unary':
      if (e.op !== '*' || t.kind !== 'record') g.unsupported(e, `a ${t.kind} value from '${e.op}'`);
      // A whole struct: its bytes, from the memory the pointer points into.
      g.emit(`bpf_probe_read_${readSpace(typeOf(e.operand), g.p.userMemory)}(${p}, ${g.zeroCheck(sizeOf(t))}, (const void *)(__u64)(${g.scalar(e.operand)}));`);
      return;
    case 'builtin':
      builtinMem(g, e.name, e, p);
      return;
    case 'call':
      callMem(g, e, p, t);
      return;
    case 'cast':
      g.convert(g.mem(e.operand), typeOf(e.operand), p, t);
      return;
    default:
      g.unsupported(e, `a ${t.kind} value from '${e.kind}'`);
  }
}

/** The stored id of the stack kstack/ustack (`e`, a call when it has a frame limit) records. */
export function stackId(g: Gen, e: Expr, flags: string): string {
  const arg = e.kind === 'call' ? e.args[0] : undefined;
  let limit = 0;
  if (arg?.kind === 'int') limit = Number(arg.value);
  else if (arg?.kind === 'positional') limit = Number(positionalInteger(g.p.positional[arg.index - 1]) ?? 0n);
  else if (arg) throw new InternalError('a stack limit that is not a constant');
  // A limit of the whole depth is no limit: one map, one id for the same stack.
  if (limit >= STACK_DEPTH) limit = 0;
  g.stackLimits.add(limit);
  const id = `bpf_get_stackid(ctx, &${stackMapName(limit)}, ${flags})`;
  return limit ? `kt_stack_ref(${id}, ${limit})` : `((__s64)${id})`;
}

function builtinMem(g: Gen, name: string, e: Expr, p: string): void {
  switch (name) {
    case 'ustack':
      g.emit(`*(__s64 *)${p} = ${g.stackId(e, 'BPF_F_USER_STACK')};`);
      g.emit(`*(__u64 *)(${p} + 8) = bpf_get_current_pid_tgid() >> 32;`);
      return;
    case 'func':
      g.emit(`*(__u64 *)${p} = ${g.ip(e)};`);
      g.emit(`*(__u64 *)(${p} + 8) = bpf_get_current_pid_tgid() >> 32;`);
      return;
    default:
      g.unsupported(e, `the builtin ${name} here`);
  }
}

function callMem(g: Gen, c: Call, p: string, t: KType): void {
  switch (c.name) {
    case 'str': {
      const a = c.args[0]!;
      g.convert(g.mem(a), typeOf(a), p, t);
      return;
    }
    case 'buf': {
      if (t.kind !== 'buf') throw new InternalError('buf() of a non-buffer type');
      const a = c.args[0]!;
      const at = typeOf(a);
      if (at.kind === 'str' || at.kind === 'array') {
        // A string's or an array's bytes become the buffer's data, after its u32 length; as in
        // bpftrace, a length past the string's end is the string's zero bytes (the memory here is zeroed).
        const n = Math.min(at.kind === 'str' ? at.size : sizeOf(at), t.size);
        g.emit(`bpf_probe_read_kernel(${p} + 4, ${g.zeroCheck(n)}, ${g.mem(a)});`);
        g.emit(`*(__u32 *)${p} = ${t.size};`);
        return;
      }
      if (!isScalar(at)) {
        g.convert(g.mem(a), at, p, t);
        return;
      }
      const ptr = g.scalar(a);
      const len = g.temp();
      g.emit(`__u64 ${len} = ${c.args[1] ? `(__u64)(${g.scalar(c.args[1])})` : t.size};`);
      g.emit(`if (${len} > ${t.size})`);
      g.emit(`  ${len} = ${t.size};`);
      g.emit(`barrier_var(${len});`);
      g.emit(`*(__u32 *)${p} = ${len};`);
      g.emit(`bpf_probe_read_${readSpace(at, g.p.userMemory)}(${p} + 4, ${len}, (const void *)(__u64)(${ptr}));`);
      return;
    }
    case 'usym':
      g.emit(`*(__u64 *)${p} = (__u64)(${g.scalar(c.args[0]!)});`);
      g.emit(`*(__u64 *)(${p} + 8) = bpf_get_current_pid_tgid() >> 32;`);
      return;
    case 'ustack':
      builtinMem(g, 'ustack', c, p);
      return;
    case 'macaddr': {
      const a = c.args[0]!;
      const at = typeOf(a);
      if (isScalar(at)) g.emit(`bpf_probe_read_${readSpace(at, g.p.userMemory)}(${p}, 6, (const void *)(__u64)(${g.scalar(a)}));`);
      else if (!(a.kind === 'field' && g.memberBytes(a, p, 6))) g.emit(`bpf_probe_read_kernel(${p}, 6, ${g.mem(a)});`);
      return;
    }
    case 'pton': {
      const a = c.args[0];
      const bytes = a?.kind === 'str' ? addressBytes(a.value) : undefined;
      if (!bytes) throw new InternalError('pton() of no address');
      bytes.forEach((b, i) => g.emit(`((__u8 *)${p})[${i}] = ${cByte(b)};`));
      return;
    }
    case 'ntop': {
      const addr = c.args[c.args.length - 1]!;
      const family = c.args.length > 1 ? g.scalar(c.args[0]!) : undefined;
      ntop(g, addr, family, p);
      return;
    }
    default:
      g.unsupported(c, `${c.name}()`);
  }
}

/** inet: u32 family, then the address bytes in network order. */
function ntop(g: Gen, addr: Expr, family: string | undefined, p: string): void {
  const t = typeOf(addr);
  if (isScalar(t)) {
    g.emit(`*(__u32 *)${p} = ${family ?? '2'};`);
    g.emit(`*(__u32 *)(${p} + 4) = (__u32)(${g.scalar(addr)});`);
    return;
  }
  const size = t.kind === 'buf' || t.kind === 'str' ? t.size : sizeOf(t);
  const src = g.mem(addr);
  const from = t.kind === 'buf' ? `${src} + 4` : src;
  const n = size >= 16 ? 16 : 4;
  g.emit(`*(__u32 *)${p} = ${family ?? (n === 16 ? '10' : '2')};`);
  g.emit(`bpf_probe_read_kernel(${p} + 4, ${n}, ${from});`);
}
