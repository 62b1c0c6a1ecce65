// C for the calls that act (printf, print, exit, join, delete, signal, ...). Most send a record on the
// ring buffer; its values are computed before the record is reserved.
import type { Call, Expr, KType } from '../../frontend/ast.js';
import { signalNumber } from '../../frontend/signals.js';
import { InternalError } from '../../errors.js';
import { HELPER_NAMES, joinElementTypes, JOIN_ARG_SIZE, JOIN_ARGS, printsWholeMap, typeOf, type HelperName } from '../../plan/events.js';
import { deleteZeroes } from '../../plan/build.js';
import { EVENT_HEADER_SIZE, layoutOf } from '../../plan/layout.js';
import type { Layout, PlanEvent } from '../../plan/types.js';
import { isScalar, readSpace, scalarCType } from '../ctypes.js';
import { cStringLiteral } from '../escape.js';
import type { Gen } from './context.js';

const S64: KType = { kind: 'int', bits: 64, signed: true };

/** Calls that act rather than yield a value; returns false for value-yielding calls. */
export function callStmt(g: Gen, c: Call): boolean {
  switch (c.name) {
    case 'printf':
    case 'cat':
    case 'system':
      record(g, c, c.args.slice(1));
      return true;
    case 'print':
      if (printsWholeMap(c)) record(g, c, []);
      else record(g, c, c.args.slice(0, 1));
      return true;
    case 'time':
    case 'clear':
    case 'zero':
      record(g, c, []);
      return true;
    case 'unwatch':
      record(g, c, c.args);
      return true;
    case 'exit': {
      const ev = event(g, c);
      const code = c.args[0] ? g.scalar(c.args[0]) : '0';
      withRecord(g, ev.id, layoutOf([S64], EVENT_HEADER_SIZE), (r) => g.emit(`*(__s64 *)(${r} + 8) = (__s64)(${code});`));
      // As in bpftrace, the rest of the action does not run after exit().
      g.leave();
      return true;
    }
    case 'join':
      join(g, c);
      return true;
    case 'debugf': {
      const fmt = c.args[0];
      if (!fmt || fmt.kind !== 'str') throw new InternalError('debugf() needs a format');
      // Integers as they are, strings as the address of their bytes (what %s reads).
      const values = c.args.slice(1).map((a) => `(__u64)(${isScalar(typeOf(a)) ? g.scalar(a) : g.mem(a)})`);
      const f = g.temp();
      g.emit(`static const char ${f}[] = ${cStringLiteral(fmt.value)};`);
      if (values.length === 0) {
        g.emit(`bpf_trace_vprintk(${f}, sizeof(${f}), 0, 0);`);
        return true;
      }
      const data = g.temp();
      g.emit(`__u64 ${data}[${values.length}] = { ${values.join(', ')} };`);
      g.emit(`bpf_trace_vprintk(${f}, sizeof(${f}), ${data}, sizeof(${data}));`);
      return true;
    }
    case 'delete': {
      const target = c.args[0];
      if (!target || target.kind !== 'map') throw new InternalError('delete() needs a map');
      const m = g.map(target);
      const keys = target.keys.length > 0 ? target.keys : c.args.slice(1);
      const key = g.keyOf(m, keys);
      if (deleteZeroes(m)) {
        // This CPU's count, as bpftrace's update of its per-CPU array element.
        const zero = g.temp();
        g.emit(`__u64 ${zero} = 0;`);
        g.emit(`bpf_map_update_elem(&${m.bpfName}, ${key}, &${zero}, BPF_ANY);`);
      } else {
        const rc = g.temp();
        g.emit(`long ${rc} = bpf_map_delete_elem(&${m.bpfName}, ${key});`);
        g.checkHelper('map_delete_elem', 1, rc, `${rc} < 0`, c.loc);
      }
      return true;
    }
    case 'signal': {
      const a = c.args[0];
      if (!a) throw new InternalError('signal() needs a signal');
      let sig: string;
      if (a.kind === 'str') {
        const n = signalNumber(a.value);
        if (n === undefined) throw new InternalError(`unknown signal '${a.value}'`);
        sig = String(n);
      } else {
        sig = g.scalar(a);
      }
      g.emit(`bpf_send_signal((__u32)(${sig}));`);
      return true;
    }
    default:
      return false;
  }
}

export function checkHelper(g: Gen, helper: HelperName, level: 1 | 2, ret: string, failed: string, loc: Expr['loc']): void {
  const ev = g.p.helperError;
  if (!ev || ev.kind !== 'helperError' || ev.level < level) return;
  g.emit(`if (${failed}) {`);
  g.block(() => {
    withRecord(g, ev.id, ev.layout, (r) => {
      const [h, rc, line, col, length] = ev.layout.fields.map((f) => `(${r} + ${f.offset})`);
      g.emit(`*(__s32 *)${h} = ${HELPER_NAMES.indexOf(helper)};`);
      g.emit(`*(__s32 *)${rc} = (__s32)(${ret});`);
      g.emit(`*(__u32 *)${line} = ${loc.line};`);
      g.emit(`*(__u32 *)${col} = ${loc.col};`);
      g.emit(`*(__u32 *)${length} = ${loc.length};`);
    });
  });
  g.emit('}');
}

function event(g: Gen, c: Call): PlanEvent {
  const ev = g.p.events.get(c);
  if (!ev) throw new InternalError(`no plan event for ${c.name}() at ${c.loc.line}:${c.loc.col}`);
  return ev;
}

/** Reserves a record, runs `fill` with its pointer, submits it. */
function withRecord(g: Gen, id: number, layout: Layout, fill: (r: string) => void): void {
  const r = g.temp();
  const size = g.zeroCheck(Math.max(layout.size, EVENT_HEADER_SIZE));
  g.emit(`__u8 *${r} = kt_record(${id}, ${size});`);
  g.emit(`if (${r}) {`);
  g.block(() => {
    fill(r);
    g.emit(`bpf_ringbuf_submit(${r}, 0);`);
  });
  g.emit('}');
}

function record(g: Gen, c: Call, args: Expr[]): void {
  const ev = event(g, c);
  const layout = 'layout' in ev ? ev.layout : { size: EVENT_HEADER_SIZE, fields: [] };
  // Arguments are computed before the reservation so that no path leaves a record unsubmitted.
  const values = args.map((a, i) => prepare(g, a, layout.fields[i]!.type));
  withRecord(g, ev.id, layout, (r) => {
    values.forEach((v, i) => storePrepared(g, v, `(${r} + ${layout.fields[i]!.offset})`, layout.fields[i]!.type));
  });
}

function join(g: Gen, c: Call): void {
  const ev = event(g, c);
  const arr = c.args[0];
  if (!arr) throw new InternalError('join() needs an array');
  const base = g.temp();
  g.emit(`__u64 ${base} = (__u64)(${g.scalar(arr)});`);
  const layout = layoutOf(joinElementTypes(), EVENT_HEADER_SIZE);
  const read = readSpace(typeOf(arr), g.p.userMemory);
  withRecord(g, ev.id, layout, (r) => {
    // The array ends at the first NULL pointer; the elements after it stay empty strings.
    const ptr = g.temp();
    const more = g.temp();
    g.emit(`__u64 ${ptr} = 0;`);
    g.emit(`int ${more} = 1;`);
    for (let i = 0; i < JOIN_ARGS; i++) {
      g.emit(`if (${more}) {`);
      g.emit(`  ${ptr} = 0;`);
      g.emit(`  bpf_probe_read_${read}(&${ptr}, 8, (const void *)(${base} + ${i * 8}));`);
      g.emit(`  if (${ptr})`);
      g.emit(`    bpf_probe_read_${read}_str(${r} + ${EVENT_HEADER_SIZE + i * JOIN_ARG_SIZE}, ${JOIN_ARG_SIZE}, (const void *)${ptr});`);
      g.emit('  else');
      g.emit(`    ${more} = 0;`);
      g.emit('}');
    }
  });
}

/** Scalars become temporaries; memory values stay pointers (scratch or map memory). */
function prepare(g: Gen, e: Expr, dest: KType): { scalar?: string; mem?: string; type: KType } {
  const t = typeOf(e);
  if (isScalar(dest) && isScalar(t)) {
    const v = g.temp();
    g.emit(`${scalarCType(dest)} ${v} = (${scalarCType(dest)})(${g.scalar(e)});`);
    return { scalar: v, type: t };
  }
  return { mem: g.mem(e), type: t };
}

function storePrepared(g: Gen, v: { scalar?: string; mem?: string; type: KType }, dest: string, destType: KType): void {
  if (v.scalar !== undefined) g.emit(`*(${scalarCType(destType)} *)${dest} = ${v.scalar};`);
  else g.convert(v.mem!, v.type, dest, destType);
}
