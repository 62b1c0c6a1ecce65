// Attaching one program to one resolved attach point, with errors that name the missing kernel
// feature when that is why it failed.
import { existsSync, readFileSync } from 'node:fs';
import { isKtError, KtError } from '../errors.js';
import { attachName, type ResolvedAttach } from '../frontend/analysis.js';
import { isNativeError, type BpfObject } from '../native/index.js';
import { NO_WATCHPOINT_REGISTERS } from './output.js';

export const KPROBES_MISSING = 'kprobes are not available: this kernel was built without CONFIG_KPROBES';
export const FENTRY_MISSING = 'fentry/fexit are not supported by this kernel (no BPF trampoline)';
export const HARDWARE_MISSING = 'no hardware performance counters on this machine';

const PERF_TYPE_HARDWARE = 0;
const PERF_TYPE_SOFTWARE = 1;
const PERF_TYPE_BREAKPOINT = 5;
const HW_BREAKPOINT = { r: 1, w: 2, x: 4 } as const;
const PERF_COUNT_SW_CPU_CLOCK = 0;

/** Software events by bpftrace's names and aliases: perf config and default sample period. */
const SOFTWARE_EVENTS: Record<string, { config: number; period: number }> = {
  'cpu-clock': { config: 0, period: 1_000_000 },
  cpu: { config: 0, period: 1_000_000 },
  'task-clock': { config: 1, period: 1_000_000 },
  'page-faults': { config: 2, period: 100 },
  faults: { config: 2, period: 100 },
  'context-switches': { config: 3, period: 1000 },
  cs: { config: 3, period: 1000 },
  'cpu-migrations': { config: 4, period: 1 },
  'minor-faults': { config: 5, period: 100 },
  'major-faults': { config: 6, period: 1 },
  'alignment-faults': { config: 7, period: 1 },
  'emulation-faults': { config: 8, period: 1 },
  dummy: { config: 9, period: 1 },
  'bpf-output': { config: 10, period: 1 },
};

const HARDWARE_EVENTS: Record<string, { config: number; period: number }> = {
  'cpu-cycles': { config: 0, period: 1_000_000 },
  cycles: { config: 0, period: 1_000_000 },
  instructions: { config: 1, period: 1_000_000 },
  'cache-references': { config: 2, period: 1_000_000 },
  'cache-misses': { config: 3, period: 1_000_000 },
  'branch-instructions': { config: 4, period: 100_000 },
  branches: { config: 4, period: 100_000 },
  'branch-misses': { config: 5, period: 100_000 },
  'bus-cycles': { config: 6, period: 100_000 },
  'frontend-stalls': { config: 7, period: 1_000_000 },
  'backend-stalls': { config: 8, period: 1_000_000 },
  'ref-cycles': { config: 9, period: 1_000_000 },
};

const NS_PER_UNIT = { s: 1_000_000_000, ms: 1_000_000, us: 1_000 } as const;

/** Parses a CPU list like `0-3,5` (the format of /sys/devices/system/cpu/online). */
export function parseCpuList(text: string): number[] {
  const cpus: number[] = [];
  for (const part of text.trim().split(',')) {
    if (part === '') continue;
    const [a, b] = part.split('-').map(Number);
    for (let c = a!; c <= (b ?? a!); c++) cpus.push(c);
  }
  return cpus;
}

export function onlineCpus(): number[] {
  return parseCpuList(readFileSync('/sys/devices/system/cpu/online', 'utf8'));
}

interface AttachContext {
  /** Uprobes and USDT attach to this process only when set. */
  pid?: number;
  cpus: number[];
}

/** Describes an attach point the way a script writes it, for messages. */
export const describeAttach = attachName;

/** Whether uprobes take a reference counter (a USDT semaphore) that the kernel maintains (Linux 4.20). */
export function uprobeRefcountAvailable(): boolean {
  return existsSync('/sys/bus/event_source/devices/uprobe/format/ref_ctr_offset');
}

export function kprobesAvailable(): boolean {
  return (
    existsSync('/sys/bus/event_source/devices/kprobe') ||
    existsSync('/sys/kernel/tracing/kprobe_events') ||
    existsSync('/sys/kernel/debug/tracing/kprobe_events')
  );
}

/** Whether the kernel runs the programs attached to one such event newest first (bpftrace's list). */
export function firesNewestFirst(a: ResolvedAttach): boolean {
  return a.type === 'kprobe' || a.type === 'uprobe' || a.type === 'uretprobe' || a.type === 'usdt' || a.type === 'software' || a.type === 'fentry';
}

function reason(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Whether a failure on an fentry/fexit program is the kernel lacking BPF trampolines. */
export function isTrampolineFailure(e: unknown): boolean {
  return isNativeError(e) && [1, 22, 95, 524, 38].includes(e.errno ?? 0);
}

/** Turns an addon error into one naming the attach point (and the missing feature). */
function explain(a: ResolvedAttach, e: unknown): KtError {
  const errno = isNativeError(e) ? e.errno : undefined;
  const where = describeAttach(a);
  if ((a.type === 'kprobe' || a.type === 'kretprobe') && !kprobesAvailable()) {
    return new KtError('attach-failed', `${where}: ${KPROBES_MISSING}`);
  }
  if ((a.type === 'fentry' || a.type === 'fexit') && isTrampolineFailure(e)) {
    return new KtError('attach-failed', `${where}: ${FENTRY_MISSING}`);
  }
  if (a.type === 'hardware' && (errno === 2 || errno === 95 || errno === 19)) {
    return new KtError('attach-failed', `${where}: ${HARDWARE_MISSING}`);
  }
  if (a.type === 'watchpoint' && errno === 28) {
    return new KtError('attach-failed', `${where}: ${NO_WATCHPOINT_REGISTERS}`);
  }
  if (a.type === 'tracepoint' && errno === 2) {
    return new KtError('attach-failed', `${where}: no such tracepoint in this kernel (${reason(e)})`);
  }
  return new KtError('attach-failed', `${where}: ${reason(e)}`);
}

function breakpoint(addr: bigint, len: number, mode: string): { addr: bigint; len: number; type: number } {
  let type = 0;
  for (const c of mode) type |= HW_BREAKPOINT[c as keyof typeof HW_BREAKPOINT];
  return { addr, len, type };
}

/**
 * Sets the breakpoint of an argwatchpoint on `address` in process `pid` with `program`; returns the
 * link's id, or undefined when every debug register is taken.
 */
export function setBreakpoint(obj: BpfObject, program: string, a: ResolvedAttach & { type: 'argwatchpoint' }, address: bigint, pid: number): number | undefined {
  try {
    return obj.attachPerfEvent(program, PERF_TYPE_BREAKPOINT, 0, 1, false, -1, pid, breakpoint(address, a.length, a.mode));
  } catch (e) {
    if (isNativeError(e) && e.errno === 28) return undefined;
    throw explain(a, e);
  }
}

function perfEvent(obj: BpfObject, program: string, type: number, config: number, sample: number, freq: boolean, cpus: number[]) {
  for (const cpu of cpus) obj.attachPerfEvent(program, type, config, sample, freq, cpu, -1);
}

/**
 * Attaches `program` to one attach point (BEGIN/END and kafka need no attaching). Throws an
 * KtError (attach-failed) with a message for the user.
 */
export function attachProgram(obj: BpfObject, program: string, a: ResolvedAttach, ctx: AttachContext): void {
  const pid = ctx.pid && ctx.pid > 0 ? ctx.pid : -1;
  try {
    switch (a.type) {
      case 'begin':
      case 'end':
      case 'kafka':
        return;
      case 'tracepoint':
        obj.attachTracepoint(program, a.category, a.name);
        return;
      case 'rawtracepoint':
        obj.attachRawTracepoint(program, a.name);
        return;
      case 'uprobe':
      case 'uretprobe':
        obj.attachUprobe(program, a.type === 'uretprobe', a.binary, a.offset, pid);
        return;
      case 'usdt':
        obj.attachUsdt(program, a.binary, a.provider, a.name, pid);
        return;
      case 'profile':
        if (a.unit === 'hz') perfEvent(obj, program, PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK, a.value, true, ctx.cpus);
        else perfEvent(obj, program, PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK, a.value * NS_PER_UNIT[a.unit], false, ctx.cpus);
        return;
      case 'interval': {
        // One CPU: the action runs once per interval, not once per CPU.
        const period = a.unit === 'hz' ? Math.round(1e9 / a.value) : a.value * NS_PER_UNIT[a.unit];
        perfEvent(obj, program, PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK, period, false, ctx.cpus.slice(0, 1));
        return;
      }
      case 'software':
      case 'hardware': {
        const table = a.type === 'software' ? SOFTWARE_EVENTS : HARDWARE_EVENTS;
        const ev = table[a.event];
        if (!ev) throw new KtError('attach-failed', `${describeAttach(a)}: unknown ${a.type} event '${a.event}'`);
        const type = a.type === 'software' ? PERF_TYPE_SOFTWARE : PERF_TYPE_HARDWARE;
        perfEvent(obj, program, type, ev.config, a.period > 0 ? a.period : ev.period, false, ctx.cpus);
        return;
      }
      case 'kprobe':
      case 'kretprobe':
        obj.attachKprobe(program, a.type === 'kretprobe', a.func, a.offset);
        return;
      case 'fentry':
      case 'fexit':
        obj.attachTrace(program);
        return;
      case 'watchpoint': {
        const bp = breakpoint(BigInt(a.address), a.length, a.mode);
        // In one process a breakpoint follows its threads; otherwise one per CPU, as bpftrace does.
        if (pid > 0) obj.attachPerfEvent(program, PERF_TYPE_BREAKPOINT, 0, 1, false, -1, pid, bp);
        else for (const cpu of ctx.cpus) obj.attachPerfEvent(program, PERF_TYPE_BREAKPOINT, 0, 1, false, cpu, -1, bp);
        return;
      }
      case 'argwatchpoint':
        // `program` is the setup program here: the breakpoint waits for the function (setBreakpoint).
        obj.attachUprobe(program, false, a.binary, a.offset, pid);
        return;
    }
  } catch (e) {
    if (isKtError(e, 'attach-failed')) throw e;
    throw explain(a, e);
  }
}
