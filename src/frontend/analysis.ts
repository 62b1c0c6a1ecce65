// What semantic analysis hands to the plan stage, besides the typed AST.
import type { Call, KType, Loc, MapValueKind, Probe } from './ast.js';

/** An attach point after provider aliases are expanded and wildcards matched against the system. */
export type ResolvedAttach =
  | { type: 'begin' }
  | { type: 'end' }
  | { type: 'tracepoint'; category: string; name: string }
  | { type: 'rawtracepoint'; name: string }
  | { type: 'uprobe' | 'uretprobe'; binary: string; symbol: string; offset: number }
  | { type: 'usdt'; binary: string; provider: string; name: string }
  | { type: 'profile' | 'interval'; unit: 'hz' | 's' | 'ms' | 'us'; value: number }
  | { type: 'software' | 'hardware'; event: string; period: number }
  | { type: 'kprobe' | 'kretprobe'; func: string; offset: number }
  | { type: 'fentry' | 'fexit'; func: string }
  /** A hardware breakpoint; the address in decimal (kernel addresses exceed 2^53), mode of r, w, x. */
  | { type: 'watchpoint'; address: string; length: number; mode: string }
  /**
   * A hardware breakpoint on the address a function of the traced process (-p, -c) gets in argument
   * `arg`, set when the function is entered (watchpoint:FUNCTION+argN:LENGTH:MODE). `offset` is the
   * function's file offset in `binary`, where the setup uprobe attaches; `async` (asyncwatchpoint)
   * lets the process run on while the breakpoint is set, instead of stopping it meanwhile.
   */
  | { type: 'argwatchpoint'; async: boolean; binary: string; symbol: string; offset: number; arg: number; length: number; mode: string }
  | { type: 'kafka'; name: string };

/** One field of a tracepoint's `args`, from its tracefs format file (or BTF). */
export interface TracepointField {
  name: string;
  /** The C type as the format file spells it, e.g. `const char *`, `unsigned long`, `char[16]`. */
  cType: string;
  offset: number;
  size: number;
  signed: boolean;
  /** Element count for fixed arrays, e.g. 16 for `char comm[16]`. */
  arrayLength?: number;
  /** `__data_loc` fields hold (length << 16 | offset) of a string stored in the record. */
  dataLoc: boolean;
  /** The type `args.name` has in a script. */
  type: KType;
}

export interface TracepointFormat {
  category: string;
  name: string;
  fields: TracepointField[];
}

/** One field of a kafka probe's `args`. */
export interface KafkaArg {
  name: string;
  type: KType;
  description: string;
}

export interface AnalyzedProbe {
  probe: Probe;
  /** Position of the probe in the script, from 0. */
  index: number;
  /** Kernel probes run their action in BPF; kafka probes (and nothing else) run it in user space. */
  where: 'kernel' | 'user';
  attach: ResolvedAttach[];
  /** Attach points left out because they resolved to nothing (AttachResolution.skipped), as warnings. */
  skipped: string[];
  /** For tracepoint probes: the format of each matched tracepoint, keyed `category:name`. */
  tracepointFormats: Record<string, TracepointFormat>;
  /** Whether the action reads `args` (codegen then needs one program per tracepoint layout). */
  usesArgs: boolean;
  /** Scratch variables and their types. */
  variables: Record<string, KType>;
}

export interface MapInfo {
  /** `@name`, or `@` for the anonymous map. */
  name: string;
  keyTypes: KType[];
  value: MapValueKind;
  /** The first place the map is defined, for messages. */
  loc: Loc;
  /** Which sides touch the map. */
  usedBy: ('kernel' | 'user')[];
}

export interface Analysis {
  probes: AnalyzedProbe[];
  maps: MapInfo[];
  /** Positional parameters as given on the command line (`$1` is index 0). */
  positional: string[];
  /** Whether the script calls functions that need `--unsafe` (system, signal). */
  unsafe: boolean;
  /** What each kaddr(), uaddr() and cgroupid() call of a kernel probe is on this machine (C constants). */
  hostValues: Map<Call, bigint>;
}

/** The probe's full name as bpftrace's `probe` builtin gives it. */
export function attachName(a: ResolvedAttach): string {
  switch (a.type) {
    case 'begin':
      return 'BEGIN';
    case 'end':
      return 'END';
    case 'tracepoint':
      return `tracepoint:${a.category}:${a.name}`;
    case 'rawtracepoint':
      return `rawtracepoint:${a.name}`;
    case 'uprobe':
    case 'uretprobe':
      return `${a.type}:${a.binary}:${a.symbol}`;
    case 'usdt':
      return `usdt:${a.binary}:${a.provider}:${a.name}`;
    case 'profile':
    case 'interval':
      return `${a.type}:${a.unit}:${a.value}`;
    case 'software':
    case 'hardware':
      return `${a.type}:${a.event}:${a.period}`;
    case 'kprobe':
    case 'kretprobe':
      return `${a.type}:${a.func}${a.offset ? `+${a.offset}` : ''}`;
    case 'fentry':
    case 'fexit':
      return `${a.type}:${a.func}`;
    case 'watchpoint':
      return `watchpoint:${a.address}:${a.length}:${a.mode}`;
    case 'argwatchpoint':
      // bpftrace's name leaves out the argument number when it is 0.
      return `${a.async ? 'asyncwatchpoint' : 'watchpoint'}:${a.binary}:${a.symbol}${a.arg ? `:${a.arg}` : ''}:${a.length}:${a.mode}`;
    case 'kafka':
      return `kafka:${a.name}`;
  }
}
