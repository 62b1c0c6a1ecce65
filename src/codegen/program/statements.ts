// C for statements: assignments to variables, control flow, and for-loops over maps (each a
// bpf_for_each_map_elem callback).
import type { Expr, KType, Stmt } from '../../frontend/ast.js';
import { InternalError } from '../../errors.js';
import { typeOf } from '../../plan/events.js';
import { layoutOf, sizeOf } from '../../plan/layout.js';
import { isScalar, scalarCType } from '../ctypes.js';
import { cIdent } from '../escape.js';
import type { Gen } from './context.js';

export function stmts(g: Gen, list: Stmt[]): void {
  for (const s of list) stmt(g, s);
}

function stmt(g: Gen, s: Stmt): void {
  switch (s.kind) {
    case 'exprStmt':
      exprStmt(g, s.expr);
      return;
    case 'assign':
      assignVar(g, s.target.name, s.op, s.value);
      return;
    case 'mapAssign':
      g.assignMap(s.target, s.op, s.value);
      return;
    case 'if': {
      const cond = g.cond(s.cond);
      g.emit(`if (${cond}) {`);
      g.block(() => g.stmts(s.then));
      if (s.else) {
        g.emit('} else {');
        g.block(() => g.stmts(s.else!));
      }
      g.emit('}');
      return;
    }
    case 'while': {
      g.emit('while (1) {');
      g.block(() => {
        const cond = g.cond(s.cond);
        g.emit(`if (!(${cond}))`);
        g.emit('  break;');
        g.loopDepth++;
        g.stmts(s.body);
        g.loopDepth--;
      });
      g.emit('}');
      return;
    }
    case 'unroll': {
      if (s.count.kind !== 'int') throw new InternalError('unroll needs an integer literal count');
      const n = Number(s.count.value);
      for (let i = 0; i < n; i++) {
        g.emit('{');
        g.block(() => g.stmts(s.body));
        g.emit('}');
      }
      return;
    }
    case 'for':
      forLoop(g, s);
      return;
    case 'return':
      if (s.value) exprStmt(g, s.value);
      g.leave();
      return;
    case 'break':
    case 'continue':
      if (g.loopDepth === 0) {
        if (!g.inCallback) throw new InternalError(`${s.kind} outside a loop`);
        // In a for-loop callback, 1 stops the iteration and 0 goes on to the next element.
        g.emit(s.kind === 'break' ? 'return 1;' : 'return 0;');
        return;
      }
      g.emit(`${s.kind};`);
      return;
    case 'block':
      g.emit('{');
      g.block(() => g.stmts(s.body));
      g.emit('}');
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
function forLoop(g: Gen, s: Extract<Stmt, { kind: 'for' }>): void {
  const m = g.map(s.map);
  const kv = g.variable(s.variable.name);
  if (!kv || kv.slot === undefined || kv.type.kind !== 'tuple') throw new InternalError('the for variable is not a (key, value) tuple');
  const n = g.forCount++;
  const structName = `kt_for_${g.p.name}_${n}`;
  const cb = `kt_for_cb_${g.p.name}_${n}`;
  const scalars = [...g.vars.entries()].filter(([, v]) => v.slot === undefined);
  const fields = scalars.map(([name, v]) => `  ${scalarCType(v.type)} v_${cIdent(name)};`);
  g.functions.push(`struct ${structName}_ctx {\n  ${g.p.ctxType} *ctx;\n};`);
  g.functions.push([`struct ${structName} {`, '  __s64 kt_ret;', ...fields, '};'].join('\n'));
  const varsAt = g.alloc(8 * (scalars.length + 1));

  const elems = kv.type.elems;
  const layout = layoutOf(elems);
  const slot = kv.slot;
  const saved = { inCallback: g.inCallback, loopDepth: g.loopDepth };
  g.inCallback = true;
  g.loopDepth = 0;
  const body = g.capture(() => {
    g.indent = 1;
    const size = g.zeroCheck(sizeOf(kv.type));
    g.emit(`KT_CLEAR(KT_AT(S, ${slot}), ${size});`);
    const keyType: KType = m.keyTypes.length === 1 ? m.keyTypes[0]! : { kind: 'tuple', elems: m.keyTypes };
    g.convert('(const __u8 *)key', keyType, `KT_AT(S, ${slot + layout.fields[0]!.offset})`, layout.fields[0]!.type);
    const valueAt = `KT_AT(S, ${slot + layout.fields[1]!.offset})`;
    const vt = layout.fields[1]!.type;
    const v = m.value;
    if (v.kind === 'count' || v.kind === 'sum') {
      g.emit(`*(${scalarCType(vt)} *)${valueAt} = kt_sum_${m.bpfName}(key, 0);`);
    } else if (v.kind === 'avg') {
      g.emit(`{ __s64 c = kt_sum_${m.bpfName}(key, 0); *(${scalarCType(vt)} *)${valueAt} = c ? kt_sdiv(kt_sum_${m.bpfName}(key, 1), c) : 0; }`);
    } else if (v.kind === 'min' || v.kind === 'max') {
      g.emit(`*(${scalarCType(vt)} *)${valueAt} = kt_minmax_${m.bpfName}(key, ${v.kind === 'min' ? 1 : 0}, ${v.signed ? 1 : 0});`);
    } else if (v.kind === 'scalar') {
      g.convert('(const __u8 *)value', v.type, valueAt, vt);
    } else {
      throw new InternalError(`cannot iterate over ${m.name}: a ${v.kind}() map has no single value per key`);
    }
    g.stmts(s.body);
    g.emit('return 0;');
  });
  g.inCallback = saved.inCallback;
  g.loopDepth = saved.loopDepth;
  g.functions.push(
    [
      `static long ${cb}(void *map, const void *key, void *value, void *arg)`,
      '{',
      `  ${g.p.ctxType} *ctx = ((struct ${structName}_ctx *)arg)->ctx;`,
      '  __u32 kt_key0 = 0;',
      '  __u8 *S = bpf_map_lookup_elem(&kt_scratch, &kt_key0);',
      '  if (!S)',
      '    return 1;',
      `  struct ${structName} *F = (struct ${structName} *)KT_AT(S, ${varsAt});`,
      ...body.lines,
      '}',
    ].join('\n'),
  );
  const c = g.temp();
  const f = `((struct ${structName} *)KT_AT(S, ${varsAt}))`;
  g.emit(`struct ${structName}_ctx ${c} = {.ctx = ctx};`);
  g.emit(`${f}->kt_ret = 0;`);
  for (const [name] of scalars) g.emit(`${f}->v_${cIdent(name)} = ${g.varName(name)};`);
  g.emit(`bpf_for_each_map_elem(&${m.bpfName}, ${cb}, &${c}, 0);`);
  for (const [name] of scalars) g.emit(`${g.varName(name)} = ${f}->v_${cIdent(name)};`);
  g.emit(`if (${f}->kt_ret)`);
  if (g.inCallback) {
    g.emit('{ F->kt_ret = 1; return 1; }');
  } else {
    g.emit('  return 0;');
  }
}

/** Ends the probe's action (from a for-loop callback: stops the iteration and tells the caller). */
export function leave(g: Gen): void {
  if (g.inCallback) {
    g.emit('F->kt_ret = 1;');
    g.emit('return 1;');
  } else {
    g.emit('return 0;');
  }
}

function exprStmt(g: Gen, e: Expr): void {
  if (e.kind === 'call' && g.callStmt(e)) return;
  const t = typeOf(e);
  if (t.kind === 'none' && e.kind === 'call') return;
  if (isScalar(t)) {
    const v = g.scalar(e);
    g.emit(`(void)(${v});`);
  } else if (t.kind !== 'none') {
    g.mem(e);
  }
}

function assignVar(g: Gen, name: string, op: string, value: Expr): void {
  const v = g.variable(name);
  if (!v) throw new InternalError(`variable ${name} has no type`);
  const c = g.varName(name);
  if (v.slot === undefined) {
    const rhs = op === '=' ? g.scalar(value) : g.arith(op, c, g.scalar(value), v.type, typeOf(value));
    g.emit(`${c} = (${scalarCType(v.type)})(${rhs});`);
    return;
  }
  if (op !== '=') throw new InternalError(`'${op}=' needs an integer variable`);
  const size = g.zeroCheck(sizeOf(v.type));
  const slot = g.alloc(size);
  const tmp = `KT_AT(S, ${slot})`;
  g.emit(`KT_CLEAR(${tmp}, ${size});`);
  g.store(value, tmp, v.type);
  g.emit(`bpf_probe_read_kernel(KT_AT(S, ${v.slot}), ${size}, ${tmp});`);
}
