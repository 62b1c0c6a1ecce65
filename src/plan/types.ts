// The plan: a script split into what runs in the kernel (a BPF object) and what runs in user space
// (event decoding, printing, user-space maps). Serialisable as JSON: `kafkatrace compile` writes it,
// and the runtime needs nothing else besides the object.
import type { KType, MapValueKind, Probe } from '../frontend/ast.js';
import type { ResolvedAttach } from '../frontend/analysis.js';

export interface Plan {
  version: 1;
  /** The script's file name, for messages. */
  file: string;
  probes: PlanProbe[];
  maps: PlanMap[];
  /** Records the kernel part sends to user space on the ring buffer, by id. */
  events: PlanEvent[];
  /** Byte size of the ring buffer map `events`. */
  ringbufSize: number;
  /** Whether the script may run system()/signal() (given `--unsafe`). */
  unsafe: boolean;
}

export interface PlanProbe {
  /** Position of the probe block in the script. */
  index: number;
  where: 'kernel' | 'user';
  /**
   * Programs of the BPF object and where each attaches (kernel probes). A program on an
   * argwatchpoint (its only attach point) is not attached at the start: its `setup` program, a
   * uprobe on the function for the traced process, sends a `watchpoint` record on each entry, and the
   * runtime then sets the breakpoint with this program on the address the record holds.
   */
  programs: { name: string; attach: ResolvedAttach[]; setup?: string }[];
  /** Attach points of user-space probes (kafka). */
  attach: ResolvedAttach[];
  /** The probe's AST, for user-space probes whose actions run in the runtime. */
  ast?: Probe;
  /** The probe as written, for `-l`, `.probes` and messages. */
  text: string;
  /**
   * Attach points of the block that resolved to nothing and are left out, as bpftrace leaves them out
   * (a function the binary does not export): one warning each, printed when the probes attach.
   * Absent in plans written before it existed.
   */
  skipped?: string[];
}

/**
 * How a kernel map stores its values (user space decodes exactly this):
 * - keys: `keyLayout` of the key types; a map with no keys uses a single u32 0 key (keyLayout.size 4,
 *   no fields). Maps are hashes, so an unset map has no entry and prints nothing.
 * - count, sum: per-CPU u64 (s64 for signed sums); the total is the sum over CPUs.
 * - min, max: per-CPU { s64 value; u64 set }; merge the CPUs whose `set` is non-zero.
 * - avg, stats: per-CPU { s64 count; s64 total }; avg = total / count (integer division),
 *   stats prints count, average, total.
 * - hist: per-CPU u64[66] buckets: [0] counts negative values, [1] zero, [k+2] counts [2^k, 2^(k+1)).
 * - lhist: per-CPU u64[n + 2]: [0] below min, [1 + i] counts [min + i*step, min + (i+1)*step),
 *   [n + 1] at or above max, n = ceil((max - min) / step).
 * - scalar: the value's own layout (layoutOf([type])), not per-CPU.
 */
export interface PlanMap {
  /** `@name` as written (`@` for the anonymous map). */
  name: string;
  /** The BPF map's name in the object (kernel maps). */
  bpfName?: string;
  home: 'kernel' | 'user';
  keyTypes: KType[];
  /** Byte layout of the key: offsets of keyTypes, total size (4 with no keys: a single u32 0). */
  keyLayout: Layout;
  value: MapValueKind;
  /** Byte size of one value; for per-CPU maps, of one CPU's value. */
  valueSize: number;
  perCpu: boolean;
  bpfType: 'hash' | 'percpu_hash' | 'array' | 'percpu_array' | 'lru_hash';
  maxEntries: number;
  /**
   * A name per key, from what the script indexes the map with wherever all its uses agree (`@[comm]`
   * → `comm`, `@b[args.topic]` → `topic`); '' where there is none. Exporters name labels with it;
   * absent in plans written before it existed (keys are then positional).
   */
  keyNames?: string[];
}

export interface Layout {
  size: number;
  fields: { type: KType; offset: number; size: number }[];
}

/**
 * A ring-buffer record. Every record starts with a u32 event id (then 4 bytes of padding);
 * the fields follow from offset 8 at `layout.fields[i].offset`.
 */
export type PlanEvent =
  | { id: number; kind: 'printf'; format: string; layout: Layout }
  | { id: number; kind: 'print'; map: string; top: number; div: number }
  | { id: number; kind: 'printValue'; layout: Layout }
  | { id: number; kind: 'time'; format: string }
  | { id: number; kind: 'join'; separator: string; layout: Layout }
  | { id: number; kind: 'exit'; layout: Layout }
  | { id: number; kind: 'clear' | 'zero'; map: string }
  | { id: number; kind: 'cat'; format: string; layout: Layout }
  | { id: number; kind: 'system'; format: string; layout: Layout }
  | { id: number; kind: 'signal'; layout: Layout }
  /**
   * Sent by the setup program of `program` (see PlanProbe.programs) when the function is entered.
   * Field: u64, the address in the watched argument. The runtime sets a breakpoint there with
   * `program` for the traced process, unless the last one it set for `program` is on that address;
   * when the registers are all taken it says "Failed to attach watchpoint probe. You are out of
   * watchpoint registers." and goes on. Unless the watchpoint is async, the setup program has
   * stopped the process (SIGSTOP) and the runtime resumes it (SIGCONT) afterwards, either way.
   */
  | { id: number; kind: 'watchpoint'; program: string; layout: Layout }
  /** unwatch(addr): removes every breakpoint set on the address (none: nothing). Field: u64 address. */
  | { id: number; kind: 'unwatch'; layout: Layout }
  /**
   * -k/-kk: a BPF helper failed. Fields: s32 index into HELPER_NAMES (plan/events.ts), s32 its return
   * value, u32 line, u32 column and u32 length of the expression in the script. One per plan, present only with
   * -k (level 1) or -kk (level 2, which adds failed reads and lookups of absent map keys).
   */
  | { id: number; kind: 'helperError'; level: 1 | 2; layout: Layout };
