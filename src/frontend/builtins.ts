// The builtin variables: their types and the probes that have them.
import type { KType } from './ast.js';
import type { Provider } from './providers.js';
import { INT64, UINT64 } from './types.js';

interface BuiltinInfo {
  /** The type, or a function of the probe's providers (func is ksym or usym). */
  type: KType | ((providers: Provider[]) => KType);
  /** Providers that have it; absent means every kernel probe. */
  only?: Provider[];
  /** Whether kafka probes (user space, decoded events) have it. */
  kafka: boolean;
}

const UPROBES: Provider[] = ['uprobe', 'uretprobe', 'usdt'];

export const MAX_ARG_REGISTERS = 6;

export const BUILTINS: Record<string, BuiltinInfo> = {
  pid: { type: UINT64, kafka: true },
  tid: { type: UINT64, kafka: true },
  uid: { type: UINT64, kafka: false },
  gid: { type: UINT64, kafka: false },
  comm: { type: { kind: 'str', size: 16 }, kafka: true },
  nsecs: { type: UINT64, kafka: true },
  elapsed: { type: UINT64, kafka: true },
  cpu: { type: UINT64, kafka: false },
  numaid: { type: { kind: 'int', bits: 32, signed: false }, kafka: false },
  /** The pid of the -c command (the analysis refuses it without one, as bpftrace does). */
  cpid: { type: { kind: 'int', bits: 32, signed: false }, kafka: false },
  cgroup: { type: UINT64, kafka: true },
  rand: { type: UINT64, kafka: true },
  /** The current task; its size and members come from the kernel's BTF where they are read. */
  curtask: { type: { kind: 'ptr', to: { kind: 'struct', name: 'struct task_struct' }, space: 'kernel' }, kafka: false },
  /** The probe's context (tracepoint record, pt_regs, ...): kernel memory even where reads default to user memory. */
  ctx: {
    type: { kind: 'int', bits: 64, signed: false, space: 'kernel' },
    only: ['tracepoint', 'rawtracepoint', 'uprobe', 'uretprobe', 'usdt', 'profile', 'interval', 'software', 'hardware', 'kprobe', 'kretprobe'],
    kafka: false,
  },
  username: { type: { kind: 'username' }, kafka: false },
  kstack: { type: { kind: 'kstack' }, kafka: false },
  ustack: { type: { kind: 'ustack' }, kafka: false },
  probe: { type: { kind: 'str', size: 64 }, kafka: true },
  func: {
    type: (providers) => (providers.some((p) => UPROBES.includes(p)) ? { kind: 'usym' } : { kind: 'ksym' }),
    only: ['kprobe', 'kretprobe', 'uprobe', 'uretprobe', 'fentry', 'fexit'],
    kafka: false,
  },
  retval: { type: INT64, only: ['kretprobe', 'uretprobe', 'fexit'], kafka: false },
  // A uprobe's args are the function's parameters, where the binary's DWARF has them.
  args: { type: { kind: 'none' }, only: ['tracepoint', 'uprobe', 'fentry', 'fexit', 'kafka'], kafka: true },
};

/** bpftrace builtins kafkatrace does not have, and why: a script that uses one gets this, not "unknown". */
export const MISSING_BUILTINS: Record<string, string> = {};

/** argN: function arguments of kprobes, uprobes and USDT probes, and raw tracepoint arguments. */
export const ARG_PROVIDERS: Provider[] = ['kprobe', 'uprobe', 'usdt', 'rawtracepoint'];

/** sargN: stack slots, for kprobes and uprobes. */
export const STACK_ARG_PROVIDERS: Provider[] = ['kprobe', 'uprobe'];

/** Names offered by "did you mean" for unknown identifiers. */
export function builtinNames(): string[] {
  return [...Object.keys(BUILTINS), 'arg0', 'arg1', 'arg2', 'sarg0'];
}
