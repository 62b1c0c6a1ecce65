// C for map access: keys built in scratch memory, assignments, aggregations, reads and ++/--.
import type { Call, Expr, MapRef } from '../../frontend/ast.js';
import { InternalError } from '../../errors.js';
import { typeOf } from '../../plan/events.js';
import type { PlanMap } from '../../plan/types.js';
import { isScalar, scalarCType, step } from '../ctypes.js';
import { type Gen, isAggregation, type KernelMap } from './context.js';

/** A pointer to the key of `ref` (built in scratch memory, zero-padded). */
export function keyOf(g: Gen, m: PlanMap, keys: Expr[]): string {
  if (m.keyTypes.length === 0) return '&kt_key0';
  const size = g.zeroCheck(m.keyLayout.size);
  const slot = g.alloc(size);
  const p = `KT_AT(S, ${slot})`;
  g.emit(`KT_CLEAR(${p}, ${size});`);
  if (keys.length === 1 && m.keyTypes.length > 1) {
    const t = typeOf(keys[0]!);
    if (t.kind !== 'tuple') throw new InternalError(`map ${m.name} needs ${m.keyTypes.length} keys`);
    g.store(keys[0]!, p, { kind: 'tuple', elems: m.keyTypes });
    return p;
  }
  m.keyLayout.fields.forEach((f, i) => {
    const k = keys[i];
    if (!k) throw new InternalError(`map ${m.name} needs ${m.keyTypes.length} keys`);
    g.store(k, `(${p} + ${f.offset})`, f.type);
  });
  return p;
}

export function assignMap(g: Gen, target: MapRef, op: string, value: Expr): void {
  const m = g.map(target);
  const v = m.value;
  if (op === '=' && value.kind === 'call' && isAggregation(value.name)) {
    aggregate(g, m, target, value);
    return;
  }
  if (v.kind === 'count' || v.kind === 'sum') {
    const key = g.keyOf(m, target.keys);
    const amount = g.scalar(value);
    const p = g.temp();
    g.emit(`__s64 *${p} = kt_lookup_or_init(&${m.bpfName}, ${key});`);
    const sign = op === '-' ? '-' : '+';
    g.emit(`if (${p})`);
    g.emit(`  *${p} ${op === '=' ? '=' : sign + '='} (__s64)(${amount});`);
    return;
  }
  if (v.kind !== 'scalar') throw new InternalError(`cannot assign to ${target.name}, which holds ${v.kind}()`);
  const key = g.keyOf(m, target.keys);
  if (isScalar(v.type)) {
    const ct = scalarCType(v.type);
    let rhs = g.scalar(value);
    if (op !== '=') {
      const old = g.temp();
      const p = g.temp();
      g.emit(`${ct} *${p} = bpf_map_lookup_elem(&${m.bpfName}, ${key});`);
      g.emit(`${ct} ${old} = ${p} ? *${p} : 0;`);
      rhs = g.arith(op, old, rhs, v.type, typeOf(value));
    }
    // Scalar map values are at least 8 bytes: the value goes through a 64-bit temporary.
    const val = g.temp();
    g.emit(`__s64 ${val} = (__s64)(${ct})(${rhs});`);
    g.emit(`bpf_map_update_elem(&${m.bpfName}, ${key}, &${val}, BPF_ANY);`);
    return;
  }
  if (op !== '=') throw new InternalError(`'${op}=' needs an integer map value`);
  const size = g.zeroCheck(m.valueSize);
  const slot = g.alloc(size);
  g.emit(`KT_CLEAR(KT_AT(S, ${slot}), ${size});`);
  g.store(value, `KT_AT(S, ${slot})`, v.type);
  g.emit(`bpf_map_update_elem(&${m.bpfName}, ${key}, KT_AT(S, ${slot}), BPF_ANY);`);
}

function aggregate(g: Gen, m: KernelMap, target: MapRef, call: Call): void {
  const v = m.value;
  const arg = call.args[0];
  const value = arg ? g.scalar(arg) : '0';
  const x = g.temp();
  g.emit(`__s64 ${x} = (__s64)(${value});`);
  const key = g.keyOf(m, target.keys);
  const p = g.temp();
  g.zeroCheck(m.valueSize);
  g.emit(`__s64 *${p} = kt_lookup_or_init(&${m.bpfName}, ${key});`);
  g.emit(`if (${p}) {`);
  g.block(() => {
    switch (v.kind) {
      case 'count':
        g.emit(`${p}[0] += 1;`);
        break;
      case 'sum':
        g.emit(`${p}[0] += ${x};`);
        break;
      case 'avg':
      case 'stats':
        g.emit(`${p}[0] += 1;`);
        g.emit(`${p}[1] += ${x};`);
        break;
      case 'min':
      case 'max': {
        const cmp = v.kind === 'min' ? '<' : '>';
        const l = v.signed ? x : `(__u64)${x}`;
        const r = v.signed ? `${p}[0]` : `(__u64)${p}[0]`;
        g.emit(`if (!${p}[1] || ${l} ${cmp} ${r}) {`);
        g.emit(`  ${p}[0] = ${x};`);
        g.emit(`  ${p}[1] = 1;`);
        g.emit('}');
        break;
      }
      case 'hist': {
        const b = g.temp();
        g.emit(`__u32 ${b} = kt_hist_bucket(${x});`);
        // The barrier keeps clang from dropping the bound check that the verifier needs.
        g.emit(`barrier_var(${b});`);
        g.emit(`if (${b} < 66)`);
        g.emit(`  ${p}[${b}] += 1;`);
        break;
      }
      case 'lhist': {
        const n = Math.ceil((v.max - v.min) / v.step);
        const b = g.temp();
        g.emit(`__u32 ${b} = ${x} < ${v.min}LL ? 0 : ${x} >= ${v.max}LL ? ${n + 1} : 1 + (__u32)((__u64)(${x} - ${v.min}LL) / ${v.step}ULL);`);
        g.emit(`barrier_var(${b});`);
        g.emit(`if (${b} < ${n + 2})`);
        g.emit(`  ${p}[${b}] += 1;`);
        break;
      }
      case 'scalar':
        throw new InternalError(`${target.name} holds plain values, not ${call.name}()`);
    }
  });
  g.emit('}');
}

/** Reads `@m[k]` as a scalar: the sum over CPUs for counts and sums, 0 when absent. */
export function readMap(g: Gen, ref: MapRef): string {
  const m = g.map(ref);
  const key = g.keyOf(m, ref.keys);
  const r = g.temp();
  switch (m.value.kind) {
    case 'count':
    case 'sum':
      g.emit(`__s64 ${r} = kt_sum_${m.bpfName}(${key}, 0);`);
      return r;
    case 'avg':
    case 'stats': {
      const c = g.temp();
      g.emit(`__s64 ${c} = kt_sum_${m.bpfName}(${key}, 0);`);
      g.emit(`__s64 ${r} = ${c} ? kt_sdiv(kt_sum_${m.bpfName}(${key}, 1), ${c}) : 0;`);
      return r;
    }
    case 'min':
    case 'max':
      g.emit(`__s64 ${r} = kt_minmax_${m.bpfName}(${key}, ${m.value.kind === 'min' ? 1 : 0}, ${m.value.signed ? 1 : 0});`);
      return r;
    case 'scalar': {
      const ct = scalarCType(m.value.type);
      const p = g.temp();
      g.emit(`${ct} *${p} = bpf_map_lookup_elem(&${m.bpfName}, ${key});`);
      g.checkHelper('map_lookup_elem', 2, '0', `!${p}`, ref.loc);
      g.emit(`${ct} ${r} = ${p} ? *${p} : 0;`);
      return r;
    }
    default:
      throw new InternalError(`the value of ${ref.name} (a ${m.value.kind}) cannot be read in a probe`);
  }
}

/** A pointer to the memory value of `@m[k]`, or to zeroes when absent. */
export function readMapMem(g: Gen, ref: MapRef): string {
  const m = g.map(ref);
  const key = g.keyOf(m, ref.keys);
  const p = g.temp();
  g.zeroCheck(m.valueSize);
  g.emit(`const __u8 *${p} = bpf_map_lookup_elem(&${m.bpfName}, ${key});`);
  g.checkHelper('map_lookup_elem', 2, '0', `!${p}`, ref.loc);
  g.emit(`if (!${p})`);
  g.emit(`  ${p} = (const __u8 *)kt_zero;`);
  return p;
}

export function incDecMap(g: Gen, ref: MapRef, delta: 1 | -1, prefix: boolean): string {
  const m = g.map(ref);
  const key = g.keyOf(m, ref.keys);
  const r = g.temp();
  if (m.value.kind === 'count' || m.value.kind === 'sum') {
    const p = g.temp();
    g.emit(`__s64 *${p} = kt_lookup_or_init(&${m.bpfName}, ${key});`);
    g.emit(`__s64 ${r} = 0;`);
    g.emit(`if (${p}) {`);
    g.emit(`  ${prefix ? '' : `${r} = *${p}; `}*${p} += ${delta};${prefix ? ` ${r} = *${p};` : ''}`);
    g.emit('}');
    return r;
  }
  if (m.value.kind !== 'scalar' || !isScalar(m.value.type)) {
    throw new InternalError(`${ref.name} does not hold integers`);
  }
  const ct = scalarCType(m.value.type);
  const p = g.temp();
  const n = g.temp();
  const by = m.value.type.kind === 'ptr' ? delta * step(m.value.type) : delta;
  g.emit(`${ct} *${p} = bpf_map_lookup_elem(&${m.bpfName}, ${key});`);
  g.emit(`${ct} ${r} = ${p} ? *${p} : 0;`);
  g.emit(`__s64 ${n} = (__s64)(${ct})(${r} + ${by});`);
  g.emit(`bpf_map_update_elem(&${m.bpfName}, ${key}, &${n}, BPF_ANY);`);
  return prefix ? n : r;
}
