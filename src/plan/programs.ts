// How the attach points of a kernel probe become BPF programs: one program per program type, and
// one per tracepoint when the action reads `args` (each tracepoint has its own record layout) or per
// attach point when it uses `probe` (a string constant per program).
import type { ResolvedAttach } from '../frontend/analysis.js';
import type { Probe } from '../frontend/ast.js';
import { someExpr } from './walk.js';

export type ProgramKind =
  | 'begin'
  | 'end'
  | 'tracepoint'
  | 'raw_tp'
  | 'uprobe'
  | 'uretprobe'
  | 'usdt'
  | 'perf_event'
  | 'kprobe'
  | 'kretprobe'
  | 'fentry'
  | 'fexit';

export function programKind(a: ResolvedAttach): ProgramKind {
  switch (a.type) {
    case 'begin':
    case 'end':
    case 'tracepoint':
    case 'uprobe':
    case 'uretprobe':
    case 'usdt':
    case 'kprobe':
    case 'kretprobe':
    case 'fentry':
    case 'fexit':
      return a.type;
    case 'rawtracepoint':
      return 'raw_tp';
    case 'profile':
    case 'interval':
    case 'software':
    case 'hardware':
    case 'watchpoint':
    case 'argwatchpoint':
      return 'perf_event';
    case 'kafka':
      throw new Error('kafka probes run in user space and have no BPF program');
  }
}

function usesBuiltin(probe: Probe, name: string): boolean {
  return someExpr(probe.body, probe.predicate, (e) => e.kind === 'builtin' && e.name === name);
}

/** Groups the attach points of kernel probe number `index` into named programs. */
export function splitPrograms(
  index: number,
  probe: Probe,
  attach: ResolvedAttach[],
  usesArgs: boolean,
): { name: string; attach: ResolvedAttach[] }[] {
  const perAttach = usesBuiltin(probe, 'probe');
  const groups = new Map<string, ResolvedAttach[]>();
  attach.forEach((a, i) => {
    const kind = programKind(a);
    let key: string = kind;
    // A watchpoint on an argument moves from address to address on its own: a program each.
    if (perAttach || a.type === 'argwatchpoint') key += `#${i}`;
    else if (kind === 'tracepoint' && usesArgs && a.type === 'tracepoint') key += `#${a.category}:${a.name}`;
    else if (a.type === 'fentry' || a.type === 'fexit') key += `#${a.func}`;
    const group = groups.get(key);
    if (group) group.push(a);
    else groups.set(key, [a]);
  });
  const list = [...groups.values()];
  return list.map((g, j) => ({ name: list.length === 1 ? `kt_p${index}` : `kt_p${index}_${j}`, attach: g }));
}
