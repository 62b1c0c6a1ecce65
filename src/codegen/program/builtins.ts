// Builtin variables (pid, func, retval, argN, ...), tracepoint args and uprobe args, read from the probe's context.
import type { TracepointField } from '../../frontend/analysis.js';
import type { Expr, KType } from '../../frontend/ast.js';
import { InternalError } from '../../errors.js';
import { sizeOf } from '../../plan/layout.js';
import { intCType, scalarCType } from '../ctypes.js';
import { typeOf } from '../../plan/events.js';
import { fieldMember, isIntField } from '../tracepoint-struct.js';
import type { Gen } from './context.js';

export function builtin(g: Gen, name: string, e: Expr): string {
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
    case 'cpid':
      return 'kt_child_pid';
    case 'numaid':
      return 'bpf_get_numa_node_id()';
    case 'cgroup':
      return 'bpf_get_current_cgroup_id()';
    case 'rand':
      return 'bpf_get_prandom_u32()';
    case 'curtask':
      return 'bpf_get_current_task()';
    case 'ctx':
      return '((__u64)ctx)';
    case 'kstack':
      return g.stackId(e, '0');
    case 'func':
      return g.ip(e);
    case 'retval':
      if (g.p.kind === 'uretprobe' || g.p.kind === 'kretprobe') return '((__s64)PT_REGS_RC(ctx))';
      return g.unsupported(e, 'retval in this probe');
    default: {
      const m = /^(s?)arg(\d+)$/.exec(name);
      if (m) return arg(g, Number(m[2]), m[1] === 's', e);
      return g.unsupported(e, `the builtin ${name}`);
    }
  }
}

/** The pt_regs member of each register name reg() takes (kt_system.h spells pt_regs the user-space way). */
const REGISTER_MEMBERS: Record<string, string> = { bp: 'rbp', bx: 'rbx', ax: 'rax', cx: 'rcx', dx: 'rdx', si: 'rsi', di: 'rdi', orig_ax: 'orig_rax', ip: 'rip', flags: 'eflags', sp: 'rsp' };

/** The probe's saved registers (a pt_regs pointer), where its kind has them. */
function savedRegs(g: Gen): string | undefined {
  switch (g.p.kind) {
    case 'uprobe':
    case 'uretprobe':
    case 'kprobe':
    case 'kretprobe':
    case 'usdt':
      return 'ctx';
    case 'perf_event':
      return '(&ctx->regs)';
    default:
      return undefined;
  }
}

/** reg("name"): a register of the probe's saved context. */
export function register(g: Gen, name: string, e: Expr): string {
  const regs = savedRegs(g);
  return regs ? `((__u64)${regs}->${REGISTER_MEMBERS[name] ?? name})` : g.unsupported(e, `reg() in a ${g.p.kind} probe`);
}

export function ip(g: Gen, e: Expr): string {
  const regs = savedRegs(g);
  return regs ? `((__u64)PT_REGS_IP(${regs}))` : g.unsupported(e, `func in a ${g.p.kind} probe`);
}

function arg(g: Gen, n: number, stack: boolean, e: Expr): string {
  const kind = g.p.kind;
  if (kind === 'raw_tp') return `((__s64)ctx->args[${n}])`;
  if (kind === 'fentry' || kind === 'fexit') return `((__s64)ctx[${n}])`;
  if (kind === 'usdt') {
    const r = g.temp();
    g.emit(`long ${r} = 0;`);
    g.emit(`bpf_usdt_arg(ctx, ${n}, &${r});`);
    return `((__s64)${r})`;
  }
  if (kind !== 'uprobe' && kind !== 'uretprobe' && kind !== 'kprobe' && kind !== 'kretprobe') {
    return g.unsupported(e, `arg${n} in this probe`);
  }
  const regs = ['PT_REGS_PARM1', 'PT_REGS_PARM2', 'PT_REGS_PARM3', 'PT_REGS_PARM4', 'PT_REGS_PARM5'];
  if (!stack && n < regs.length) return `((__s64)${regs[n]}(ctx))`;
  if (!stack && n === 5) return '((__s64)ctx->r9)';
  // Stack arguments: sargN is the N-th word above the return address; argN past the sixth register
  // is sarg(N - 6).
  const slot = stack ? n + 1 : n - 5;
  const r = g.temp();
  const read = kind.startsWith('u') ? 'user' : 'kernel';
  g.emit(`__s64 ${r} = 0;`);
  g.emit(`bpf_probe_read_${read}(&${r}, 8, (const void *)(PT_REGS_SP(ctx) + ${slot * 8}));`);
  return r;
}

function tpField(g: Gen, e: Extract<Expr, { kind: 'field' }>): TracepointField {
  if (e.object.kind !== 'builtin' || e.object.name !== 'args') g.unsupported(e, 'field access on anything but args');
  const format = g.p.format;
  const f = format?.fields.find((x) => x.name === e.field);
  if (!f) {
    if (g.p.kind !== 'tracepoint' || !format) g.unsupported(e, `args in a ${g.p.kind} probe`);
    throw new InternalError(`args.${e.field} is not a field of tracepoint ${format.category}:${format.name}`);
  }
  return f;
}

export function fieldScalar(g: Gen, e: Extract<Expr, { kind: 'field' }>): string {
  // A uprobe's parameter: its register, at the width its DWARF type declares (the upper bits of a narrower one are not its value).
  if (e.argument !== undefined) return `((${scalarCType(typeOf(e))})${arg(g, e.argument, false, e)})`;
  const f = tpField(g, e);
  if (!isIntField(f) || f.dataLoc) g.unsupported(e, `args.${f.name} as an integer`);
  const ct = intCType(f.size * 8, f.signed);
  if (g.p.format && memberOf(g, f)) return `((${ct})ctx->${fieldMember(f)})`;
  const r = g.temp();
  g.emit(`${ct} ${r} = 0;`);
  g.emit(`bpf_probe_read_kernel(&${r}, ${f.size}, (const __u8 *)ctx + ${f.offset});`);
  return r;
}

function memberOf(g: Gen, f: TracepointField): boolean {
  return g.p.structMembers?.has(f) ?? false;
}

export function fieldMem(g: Gen, e: Extract<Expr, { kind: 'field' }>, p: string, t: KType): void {
  const f = tpField(g, e);
  if (f.dataLoc) {
    if (t.kind !== 'str') g.unsupported(e, `args.${f.name} as a ${t.kind}`);
    const loc = g.temp();
    g.emit(`__u32 ${loc} = 0;`);
    g.emit(`bpf_probe_read_kernel(&${loc}, 4, (const __u8 *)ctx + ${f.offset});`);
    g.emit(`bpf_probe_read_kernel_str(${p}, ${t.size}, (const __u8 *)ctx + (${loc} & 0xffff));`);
    return;
  }
  const size = t.kind === 'buf' ? Math.min(f.size, t.size) : Math.min(f.size, sizeOf(t));
  if (t.kind === 'buf') {
    g.emit(`*(__u32 *)${p} = ${size};`);
    g.emit(`bpf_probe_read_kernel(${p} + 4, ${size}, (const __u8 *)ctx + ${f.offset});`);
    return;
  }
  g.emit(`bpf_probe_read_kernel(${p}, ${size}, (const __u8 *)ctx + ${f.offset});`);
  if (t.kind === 'str' && f.size >= t.size) g.emit(`((__u8 *)${p})[${t.size - 1}] = 0;`);
}
