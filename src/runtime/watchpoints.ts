// Watchpoints on a function argument (watchpoint:FUNCTION+argN): the breakpoints their setup
// programs ask for, set on the traced process as the records come, and unwatch()'s removals. As in
// bpftrace, a program keeps every breakpoint it has set; it sets none on the address it set last.
import type { ResolvedAttach } from '../frontend/analysis.js';
import type { BpfObject } from '../native/index.js';
import type { Plan } from '../plan/types.js';
import { setBreakpoint } from './attach.js';

type ArgWatch = ResolvedAttach & { type: 'argwatchpoint' };

/** What the runtime does with `watchpoint` and `unwatch` records. */
export interface WatchpointControl {
  /** Sets `program`'s breakpoint on `address`, then resumes the process unless the watch is async. */
  set(program: string, address: bigint): void;
  unwatch(address: bigint): void;
}

export class ArgWatchpoints implements WatchpointControl {
  private readonly watches = new Map<string, ArgWatch>();
  private readonly last = new Map<string, bigint>();
  private readonly links: { address: bigint; id: number }[] = [];

  /** `full` says every debug register is taken; `resume` sends the traced process SIGCONT. */
  constructor(
    plan: Plan,
    private readonly obj: BpfObject,
    private readonly pid: number,
    private readonly full: () => void,
    private readonly resume: () => void,
  ) {
    for (const probe of plan.probes) {
      for (const p of probe.programs) {
        const a = p.attach[0];
        if (p.setup && a?.type === 'argwatchpoint') this.watches.set(p.name, a);
      }
    }
  }

  /** Whether any watch stops the process while its breakpoint is set. */
  get stops(): boolean {
    return [...this.watches.values()].some((a) => !a.async);
  }

  set(program: string, address: bigint): void {
    const a = this.watches.get(program);
    if (!a) throw new Error(`a watchpoint record names ${program}, which watches no argument`);
    try {
      if (this.last.get(program) === address) return;
      this.last.set(program, address);
      const id = setBreakpoint(this.obj, program, a, address, this.pid);
      if (id === undefined) this.full();
      else this.links.push({ address, id });
    } finally {
      if (!a.async) this.resume();
    }
  }

  unwatch(address: bigint): void {
    for (let i = this.links.length - 1; i >= 0; i--) {
      const link = this.links[i]!;
      if (link.address !== address) continue;
      this.obj.detachLink(link.id);
      this.links.splice(i, 1);
    }
  }
}
