// The typed face of the libbpf addon (build/Release/kafkatrace_native.node, built by
// scripts/build-native.mjs). Loading is lazy so that the front end works where the addon is missing.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { KtError } from '../errors.js';
import { packageRoot } from '../package-root.js';

export interface NativeMapInfo {
  name: string;
  /** enum bpf_map_type */
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
}

/** A map entry as raw bytes: `values` has one Buffer per possible CPU for per-CPU maps, else one. */
export interface MapEntryBytes {
  key: Buffer;
  values: Buffer[];
}

/** One BPF object: every method throws a NativeError (see isNativeError) on failure. */
export interface BpfObject {
  programNames(): string[];
  mapInfo(): NativeMapInfo[];
  /** Writes a `const volatile` global of .rodata (before load); bytes must match its size. */
  setGlobal(name: string, bytes: Buffer): void;
  /** Sets a map's max_entries (for a ring buffer: its byte size) before load. */
  setMaxEntries(map: string, entries: number): void;
  /** Loads every program; a rejection carries `program` and the verifier's last lines in `log`. */
  load(): void;
  attachTracepoint(program: string, category: string, name: string): number;
  attachRawTracepoint(program: string, name: string): number;
  /** pid -1: every process. */
  attachUprobe(program: string, retprobe: boolean, binary: string, offset: number, pid: number): number;
  attachUsdt(program: string, binary: string, provider: string, name: string, pid: number): number;
  /** Opens a perf event (perf_event_attr type/config; sample is a frequency when freq) and attaches. */
  attachPerfEvent(
    program: string,
    type: number,
    config: number,
    sample: number,
    freq: boolean,
    cpu: number,
    pid: number,
    /** For PERF_TYPE_BREAKPOINT: bp_addr, bp_len and bp_type (HW_BREAKPOINT_R 1, W 2, X 4). */
    breakpoint?: { addr: bigint; len: number; type: number },
  ): number;
  attachKprobe(program: string, retprobe: boolean, func: string, offset: number): number;
  /** fentry/fexit: the target comes from the program's section name. */
  attachTrace(program: string): number;
  /** Runs a program once (BPF_PROG_TEST_RUN) and returns its return value. */
  testRun(program: string): number;
  /** Links attached and not destroyed. */
  linkCount(): number;
  /** Destroys the link an attach method returned (its id); again: nothing. */
  detachLink(id: number): void;
  /** Destroys every link. */
  detach(): void;
  /** Stops the ring buffer, destroys links, closes the object; safe to call twice. */
  close(): void;
  /** Before load: use the existing kernel map behind fd (libbpf dups it) instead of creating one. */
  reuseMapFd(map: string, fd: number): void;
  /** The fd of a loaded map; valid until close(). */
  mapFd(map: string): number;
  /** Before load: whether load() loads this program (false leaves it out of the kernel). */
  setAutoload(program: string, load: boolean): void;
  mapDump(map: string): MapEntryBytes[];
  mapLookup(map: string, key: Buffer): Buffer[] | null;
  /** values: one Buffer, or one per CPU for per-CPU maps (one alone sets CPU 0, zeroing the rest). */
  mapUpdate(map: string, key: Buffer, values: Buffer[]): void;
  mapDelete(map: string, key: Buffer): boolean;
  mapClear(map: string): void;
  mapZero(map: string): void;
  /**
   * Polls the ring buffer on Node's loop; onRecords gets the records of one wakeup (copies, at most
   * 16384: a flood is delivered over several turns of the loop), packed in one Buffer (see
   * ring-records.ts). With drainMs, also every drainMs milliseconds: for programs that submit with
   * BPF_RB_NO_WAKEUP and wake the reader only for a backlog.
   */
  ringStart(map: string, onRecords: (batch: Buffer) => void, drainMs?: number): void;
  /** The records available now (at most one batch, packed), synchronously. */
  ringConsume(): Buffer;
  ringStop(): void;
  /** While paused, no records are delivered (the consumer has a backlog); the ring fills meanwhile. */
  ringPause(paused: boolean): void;
}

/** Calls onExit once the process has exited (a pidfd on Node's loop); never keeps the process alive. */
interface ProcessWatch {
  /** Stops watching; safe to call twice. */
  close(): void;
}

/** What the kernel supports, each answer a probe of the kernel (libbpf's, or a program loaded to see). */
export interface KernelFeatures {
  /** BPF helpers by bpftrace's --info names (probe_read_kernel, send_signal, ...), in kprobe/uprobe programs. */
  helpers: Record<string, boolean>;
  /** Map types by bpftrace's --info names (hash, percpu array, perf_event_array, ringbuf, ...). */
  maps: Record<string, boolean>;
  /** Program types: tracepoint, raw_tracepoint, perf_event, uprobe. */
  programs: Record<string, boolean>;
  /** Whether the verifier accepts bounded loops. */
  loops: boolean;
}

interface NativeAddon {
  BpfObject: new (elf: Buffer, name: string) => BpfObject;
  /** Throws a NativeError (ESRCH) when there is no such process. */
  ProcessWatch: new (pid: number, onExit: () => void) => ProcessWatch;
  numPossibleCpus(): number;
  libbpfVersion(): string;
  /** Needs CAP_BPF (root): without it every answer is false. */
  kernelFeatures(): KernelFeatures;
  /**
   * From now on, close() and detach() hand the links' last references to a reaper process that
   * lets go of them once this process has exited: the kernel's wait on detaching tracepoints (an
   * RCU grace period each, one after another) no longer delays our exit. For a process that exits
   * when its session ends (the CLI), never for one that goes on (the REPL).
   */
  releaseLinksAtExit(): void;
  /**
   * The record batch headers of the file open as `fd` from `pos` to `end`: each batch's first 61
   * bytes in a 64-byte slot, its 62nd byte the count read; the batches follow one another by their
   * length. Stops after a slot read short or a negative length, and after 1,024 batches; undefined
   * when nothing could be read (see kt_files.cc).
   */
  batchHeaders(fd: number, pos: number, end: number): Buffer | undefined;
}

/** An Error from the addon: errno is positive; log holds libbpf's or the verifier's last lines. */
interface NativeError extends Error {
  errno?: number;
  code?: string;
  log?: string;
  program?: string;
}

export function isNativeError(e: unknown): e is NativeError {
  return e instanceof Error && ('errno' in e || 'log' in e || 'program' in e);
}

/** The addon cannot be used: what to install and how to rebuild it. */
export function nativeUnavailable(detail: string): KtError {
  return new KtError(
    'native-unavailable',
    `kafkatrace's libbpf addon is not built (${detail}): install its build dependencies with ` +
      '`apt-get install libbpf-dev libelf-dev clang` then run `npm rebuild`',
  );
}

export const ADDON_PATH = join('build', 'Release', 'kafkatrace_native.node');
/** The -c command's first stage (src/native/kt_held.c), built with the addon. */
export const HELD_PATH = join('build', 'Release', 'kafkatrace-held');

let addon: NativeAddon | undefined;

export function loadNative(): NativeAddon {
  if (addon) return addon;
  const path = join(packageRoot(), ADDON_PATH);
  if (!existsSync(path)) throw nativeUnavailable(`${ADDON_PATH} is missing`);
  try {
    addon = createRequire(import.meta.url)(path) as NativeAddon;
  } catch (e) {
    throw nativeUnavailable(`${ADDON_PATH} does not load: ${(e as Error).message}`);
  }
  return addon;
}

/** See NativeAddon.releaseLinksAtExit. */
export function releaseLinksAtExit(): void {
  loadNative().releaseLinksAtExit();
}

/** See ProcessWatch. */
export function watchProcessExit(pid: number, onExit: () => void): ProcessWatch {
  return new (loadNative().ProcessWatch)(pid, onExit);
}

/** See NativeAddon.batchHeaders. */
export function batchHeaders(fd: number, pos: number, end: number): Buffer | undefined {
  return loadNative().batchHeaders(fd, pos, end);
}

/** Opens a BPF object from its ELF bytes (nothing is loaded into the kernel yet). */
export function openObject(elf: Buffer, name = 'kafkatrace'): BpfObject {
  return new (loadNative().BpfObject)(elf, name);
}
