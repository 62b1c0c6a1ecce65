// A tracing session: load the plan's BPF object, attach its programs, stream ring-buffer records to
// the output until something ends the session, then run END, print the maps and release everything.
import { isKtError, KtError } from '../errors.js';
import type { ResolvedAttach } from '../frontend/analysis.js';
import { isNativeError, openObject, releaseLinksAtExit, watchProcessExit, type BpfObject } from '../native/index.js';
import { ringRecords } from '../native/ring-records.js';
import { stackMapName } from '../plan/layout.js';
import type { Plan } from '../plan/types.js';
import { ArgWatchpoints } from './watchpoints.js';
import { attachProgram, describeAttach, FENTRY_MISSING, firesNewestFirst, isTrampolineFailure, onlineCpus } from './attach.js';
import { endCommand, spawnHeld, splitCommand, type HeldCommand } from './command.js';
import { stackFrames } from './decode.js';
import { ensureTracefs, privilegeProblem } from './privileges.js';
import { handleSignals } from './signals.js';
import type { RenderContext } from './format/value.js';
import { createSymbolizer } from './symbols.js';
import type { Output } from './output.js';
import { mapSnapshot, RecordDispatch } from './records.js';
import type { MapSnapshot, StackLookup } from './values.js';
import type { KafkaFeed, KafkaProbeOptions, KafkaProbes } from './kafka-source.js';
import { kafkaRuntime, type KafkaRuntime } from './kafka-runtime.js';
import { decodeHealth, type DecodeHealth } from '../kafka/exchange/counters.js';
import { userMapsOf, type UserMaps } from './user-maps.js';


export interface CommandStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** 'target': the -p process has exited. */
export type StopReason = 'exit' | 'SIGINT' | 'SIGTERM' | 'command' | 'target' | 'duration' | 'abort';

/** kafkatrace's own health while a session runs. */
export interface SessionHealth {
  /** Ring-buffer records the kernel could not send (kt_lost, summed over CPUs). */
  eventsLost: bigint;
  /** Attach points, as `Attaching N probes...` counts them. */
  probesAttached: number;
  /** Kafka frames that could not be decoded (no Kafka capture runs in a session yet: 0). */
  kafkaFramesFailed: number;
  /** The Kafka decoder's health; undefined without kafka probes. */
  kafka?: DecodeHealth;
}

/** Live access to a running session (exporters): every call reads the maps anew. */
export interface SessionControl {
  /** Every kernel map, read now; throws KtError session-ended once the session has released its maps. */
  snapshots(): MapSnapshot[];
  health(): SessionHealth;
  /** How keys that are symbols, stacks or user names turn into text. */
  render: RenderContext;
}

export interface SessionOptions {
  /** The output, or a factory given the lookup of stack ids (kstack/ustack printing needs it). */
  output: Output | ((stackLookup: StackLookup) => Output);
  /** -p: only this process (kt_target_pid; uprobes and usdt attach to it alone); stop when it exits. */
  pid?: number;
  /**
   * -c: run this command line (split like a shell, run without one), trace only it, stop when it ends.
   * A command still running at the stop gets SIGTERM, then SIGKILL after COMMAND_GRACE_MS.
   */
  command?: string;
  /** Stop after this many milliseconds. */
  durationMs?: number;
  /**
   * Handle SIGINT, SIGTERM (stop) and SIGUSR1 (print maps); default true. With releaseAtExit the
   * handlers stay until the process exits, later signals ignored: timeout(1) signals the process and
   * then its process group, and that second signal must not kill it while it prints the maps.
   */
  signals?: boolean;
  /** Stops the session when aborted (the REPL, tests). */
  abort?: AbortSignal;
  /** Called with the -c command's exit status once it has ended. */
  onCommandExit?: (status: CommandStatus) => void;
  /** Called once the session has stopped, with why, before END runs. */
  onStop?: (reason: StopReason) => void;
  /** Called once the programs are attached, before BEGIN runs. */
  onStarted?: (control: SessionControl) => void;
  /** Positional parameters ($1 is index 0), for kafka probe actions. */
  positional?: string[];
  /** -v: the Kafka decoder's health is printed at exit in text too (JSON always has it). */
  verbose?: boolean;
  /** Keys each map with keys holds, kernel and user-space alike (--map-keys-max); the plan's maxEntries by default. */
  mapKeysMax?: number;
  /**
   * The process exits once the session has ended (the CLI): the kernel's wait on detaching is left
   * to a reaper process (see releaseLinksAtExit in native/index.ts) so that the exit is immediate.
   */
  releaseAtExit?: boolean;
  /** A Kafka feed shared with other sessions (the agent): kafka probes attach to it instead of starting a capture. */
  kafkaFeed?: KafkaFeed;
  /** Kernel filters of the Kafka capture beyond the pid and the plan's predicates (--netns). */
  kafkaCapture?: KafkaProbeOptions['capture'];
}

const LOST_MAP = 'kt_lost';
/** Set to 1 at the stop: the kernel's probes then do nothing (KT_LIVE in kt_prelude.h). */
const STATE_MAP = 'kt_state';
const EVENTS_MAP = 'events';

/** How long a -c command still running at the stop has between SIGTERM and SIGKILL. */
const COMMAND_GRACE_MS = 500;
/**
 * Ring records are acted on in slices of this many ms, the event loop running in between: signals,
 * timers and /metrics stay responsive under a flood (or a slow system()). While records wait, the
 * ring is not read: it fills, and what the programs cannot add is counted as lost.
 */
const SLICE_MS = 10;
/**
 * After a stop, before END and again after it, the records still waiting and those in the ring are
 * acted on, up to one ring's worth of bytes (all it can have held at the stop; probes that keep
 * firing refill it) and for at most this long; what is left is reported lost. A signal, exit() or
 * an abort asks for a prompt stop; a command or target that ended, or a duration, for everything
 * its probes sent.
 */
const SIGNAL_DRAIN_MS = 200;
const DRAIN_MS = 5000;
/** Events lost since the last report are reported this often while the session runs, as bpftrace does. */
const LOST_REPORT_MS = 250;

/** Little-endian bytes of a map key or a read-only global. */
export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

export function u64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt.asUintN(64, n));
  return b;
}

function kernelPrograms(plan: Plan): { name: string; attach: ResolvedAttach[] }[] {
  return plan.probes.filter((p) => p.where === 'kernel').flatMap((p) => p.programs);
}

/** Attach points bpftrace skips when they fail among others of their block. */
function skippable(a: ResolvedAttach): boolean {
  return a.type === 'kprobe' || a.type === 'kretprobe' || a.type === 'tracepoint';
}

function programsAt(plan: Plan, type: 'begin' | 'end'): string[] {
  return kernelPrograms(plan)
    .filter((p) => p.attach.some((a) => a.type === type))
    .map((p) => p.name);
}

/** The attach kind of the program the kernel rejected, to explain a load failure. */
function loadFailure(plan: Plan, e: unknown): KtError {
  if (!isNativeError(e)) return new KtError('kernel-refused', `cannot load the BPF programs: ${String(e)}`);
  const program = kernelPrograms(plan).find((p) => p.name === e.program);
  const trampoline = program?.attach.find((a) => a.type === 'fentry' || a.type === 'fexit');
  if (trampoline && isTrampolineFailure(e)) return new KtError('kernel-refused', `${describeAttach(trampoline)}: ${FENTRY_MISSING}`);
  const where = program?.attach[0] ? ` (${describeAttach(program.attach[0])})` : '';
  const log = e.log ? `\n${e.log}` : '';
  return new KtError('kernel-refused', `${e.message}${where}${log}`);
}

function sumCounters(values: Buffer[]): bigint {
  return values.reduce((total, v) => total + v.readBigUInt64LE(0), 0n);
}

/** Events the object's programs could not put in the ring buffer (it was full). */
export function lostInObject(obj: BpfObject): bigint {
  const values = obj.mapLookup(LOST_MAP, u32(0));
  return values ? sumCounters(values) : 0n;
}

class Session {
  /** The kernel part; absent when every probe is a kafka probe. */
  private readonly obj?: BpfObject;
  private kafka?: KafkaProbes;
  private readonly userMaps: UserMaps;
  private out!: Output;
  private records!: RecordDispatch;
  private held?: HeldCommand;
  private exitCode = 0;
  private stopping = false;
  private resolveStop!: (reason: StopReason) => void;
  private readonly stopped: Promise<StopReason>;
  private readonly cleanups: (() => void)[] = [];
  /** Run in release(), once the programs are detached. */
  private readonly releases: (() => void)[] = [];
  private commandStatus?: CommandStatus;
  private probesAttached = 0;
  private released = false;
  /** Records taken from the ring, not yet acted on (whole batches, the first from `waitingAt`). */
  private readonly waiting: Buffer[][] = [];
  private waitingAt = 0;
  private ringPaused = false;
  private sliceTimer?: NodeJS.Immediate;
  /** Records taken from the ring that a stop left unprocessed: reported with the lost events. */
  private dropped = 0n;
  /** Lost events already reported. */
  private lostReported = 0n;
  private unhandleSignals?: () => void;
  private commandDone?: Promise<void>;
  private readonly render: RenderContext = {
    symbols: createSymbolizer(),
    stackLookup: (id, limit) => this.stack(id, limit),
  };

  constructor(
    private readonly plan: Plan,
    elf: Buffer | undefined,
    private readonly options: SessionOptions,
  ) {
    this.stopped = new Promise((resolve) => (this.resolveStop = resolve));
    this.obj = elf ? openObject(elf) : undefined;
    // A full map's first refusal is said at once; `out` exists by then, as only actions update maps.
    this.userMaps = userMapsOf(plan, {
      maxKeys: options.mapKeysMax,
      onFull: (name, maxKeys) => this.out.mapFull({ name, maxKeys, dropped: 1 }, false),
    });
  }

  async run(): Promise<number> {
    try {
      // Set before anything attaches: the kafka capture detaches in finish(), before release().
      if (this.options.releaseAtExit) releaseLinksAtExit();
      const kafka = this.plan.probes.some((p) => p.where === 'user') ? await kafkaRuntime() : undefined;
      await this.spawnCommand();
      this.start(kafka);
    } catch (e) {
      this.release();
      this.unhandleSignals?.();
      if (isNativeError(e)) throw new KtError('kernel-refused', e.message);
      throw e;
    }
    const reason = await this.stopped;
    try {
      // As bpftrace detaches them before END: what probes do from now on is neither printed nor counted.
      this.obj?.mapUpdate(STATE_MAP, u32(0), [u32(1)]);
      this.options.onStop?.(reason);
      this.finish(reason);
      // The output may hold what finish() printed until a microtask: let it go out before detaching.
      await Promise.resolve();
    } finally {
      this.release();
    }
    await this.commandDone;
    if (!this.options.releaseAtExit) this.unhandleSignals?.();
    return this.exitCode;
  }

  /** Starts the -c command held back, and waits until its wrapper is ready. */
  private async spawnCommand(): Promise<void> {
    const { options } = this;
    if (options.command === undefined) return;
    this.held = spawnHeld(splitCommand(options.command));
    this.held.child.on('exit', (code, signal) => {
      this.commandStatus = { code, signal };
      options.onCommandExit?.(this.commandStatus);
      this.requestStop('command');
    });
    await this.held.ready;
  }

  private start(kafka: KafkaRuntime | undefined): void {
    const { plan, options, obj } = this;
    const stackLookup: StackLookup = (id, limit) => this.stack(id, limit);
    this.out = typeof options.output === 'function' ? options.output(stackLookup) : options.output;
    const targetPid = this.held?.pid ?? options.pid ?? 0;
    const watchpoints = obj ? this.argWatchpoints(obj, targetPid) : undefined;
    this.records = new RecordDispatch({ plan, obj, userMaps: this.userMaps, out: this.out, render: this.render, watchpoints });
    if (!this.held && options.pid !== undefined) this.watchTarget(options.pid);
    const startNs = process.hrtime.bigint();
    if (obj) {
      obj.setGlobal('kt_target_pid', u32(targetPid));
      obj.setGlobal('kt_child_pid', u32(this.held?.pid ?? 0));
      obj.setGlobal('kt_start_ns', u64(startNs));
      if (plan.ringbufSize > 0) obj.setMaxEntries(EVENTS_MAP, plan.ringbufSize);
      if (options.mapKeysMax !== undefined) {
        for (const m of plan.maps) if (m.bpfName && m.keyTypes.length > 0) obj.setMaxEntries(m.bpfName, options.mapKeysMax);
      }
      try {
        obj.load();
      } catch (e) {
        throw loadFailure(plan, e);
      }
      // BEGIN runs before anything else is attached, as in bpftrace: its output comes first.
      for (const p of programsAt(plan, 'begin')) obj.testRun(p);
      this.probesAttached = this.attachAll(obj, targetPid);
    }
    if (kafka) {
      this.kafka = this.startKafka(kafka, targetPid, startNs);
      this.probesAttached += this.kafka.attachedProbes;
    }
    this.out.attached(this.probesAttached);
    options.onStarted?.(this.control());
    obj?.ringStart(EVENTS_MAP, (batch) => this.onBatch(batch));
    if (options.signals !== false) {
      this.unhandleSignals = handleSignals({
        stop: (sig) => this.requestStop(sig),
        printMaps: () => {
          if (!this.stopping) this.printAllMaps(false);
        },
      });
    }
    const lostTimer = setInterval(() => this.reportLost(), LOST_REPORT_MS);
    this.cleanups.push(() => clearInterval(lostTimer));
    if (options.durationMs !== undefined) {
      const timer = setTimeout(() => this.requestStop('duration'), options.durationMs);
      this.cleanups.push(() => clearTimeout(timer));
    }
    if (options.abort) {
      const onAbort = () => this.requestStop('abort');
      if (options.abort.aborted) onAbort();
      options.abort.addEventListener('abort', onAbort);
      this.cleanups.push(() => options.abort?.removeEventListener('abort', onAbort));
    }
    if (obj) this.onBatch(obj.ringConsume());
    // An exit() in BEGIN ends the session before the command has run anything.
    if (!this.stopping) this.held?.release();
  }

  /** Starts the kafka probes: their actions run here, on exchanges the capture program sees. */
  private startKafka(kafka: KafkaRuntime, targetPid: number, startNs: bigint): KafkaProbes {
    try {
      return kafka.startKafkaProbes(this.plan, {
        output: this.out,
        maps: this.userMaps,
        pid: targetPid || undefined,
        positional: this.options.positional,
        startNs,
        ...(this.options.kafkaFeed ? { feed: this.options.kafkaFeed } : {}),
        ...(this.options.kafkaCapture ? { capture: this.options.kafkaCapture } : {}),
        onExit: (code) => {
          if (this.stopping) return;
          this.exitCode = code;
          this.requestStop('exit');
        },
      });
    } catch (e) {
      if (e instanceof kafka.InterpreterError) {
        const d = e.diagnostic;
        throw new KtError('diagnostics', `${d.file}:${d.loc.line}:${d.loc.col}: ERROR: ${d.message}`);
      }
      if (isKtError(e, 'capture-config')) throw new KtError('capture-config', `cannot start the Kafka capture: ${e.message}`);
      if (isNativeError(e)) throw new KtError('kernel-refused', `cannot start the Kafka capture: ${e.message}`);
      throw e;
    }
  }

  /** Attaches every kernel program; returns the number of attach points (what bpftrace calls probes). */
  private attachAll(obj: BpfObject, targetPid: number): number {
    const ctx = { pid: targetPid || undefined, cpus: onlineCpus() };
    // bpftrace skips an attach point that fails among several of one block (a list or a wildcard):
    // a kprobe with a warning, a tracepoint silently; a block's only attach point must attach.
    const points = this.plan.probes
      .filter((p) => p.where === 'kernel')
      .flatMap((p) => {
        const shared = p.programs.reduce((n, program) => n + program.attach.length, 0) > 1;
        // A watchpoint on an argument attaches its setup program; the breakpoint comes later.
        return p.programs.flatMap((program) => program.attach.map((a) => ({ program: program.setup ?? program.name, a, shared })));
      });
    // The kernel runs the programs on one kprobe, uprobe or software event newest first, and the others
    // oldest first: those are attached last to first, so that blocks run in script order, as bpftrace's.
    const ordered = [...points.filter((p) => !firesNewestFirst(p.a)), ...points.filter((p) => firesNewestFirst(p.a)).reverse()];
    for (const p of this.plan.probes) for (const w of p.skipped ?? []) this.out.warning(w);
    for (const p of ordered) {
      try {
        attachProgram(obj, p.program, p.a, ctx);
      } catch (e) {
        if (!p.shared || !isKtError(e, 'attach-failed') || !skippable(p.a)) throw e;
        if (p.a.type !== 'tracepoint') this.out.warning(`could not attach probe ${describeAttach(p.a)}, skipping.`);
      }
    }
    return points.length;
  }

  /**
   * The watchpoints on function arguments of the traced process (pid 0: none, and unwatch() finds
   * nothing to remove). At the end, a process its setup program stopped may wait for a record
   * nobody acts on any more: it is resumed then too.
   */
  private argWatchpoints(obj: BpfObject, pid: number): ArgWatchpoints {
    const resume = (): void => {
      try {
        if (pid > 0) process.kill(pid, 'SIGCONT');
      } catch {
        // The process has ended: nothing waits.
      }
    };
    const watchpoints = new ArgWatchpoints(this.plan, obj, pid, () => this.out.outOfWatchpoints(), resume);
    if (watchpoints.stops) this.releases.push(resume);
    return watchpoints;
  }

  /** -p: the session ends when the target process does, as bpftrace's does. */
  private watchTarget(pid: number): void {
    let watch;
    try {
      watch = watchProcessExit(pid, () => this.requestStop('target'));
    } catch (e) {
      if (isNativeError(e)) throw e.code === 'ESRCH' ? new KtError('no-such-process', `no process with pid ${pid}`) : new KtError('kernel-refused', e.message);
      throw e;
    }
    this.cleanups.push(() => watch.close());
  }

  private control(): SessionControl {
    const live = (): void => {
      if (this.released) throw new KtError('session-ended', 'the session has ended');
    };
    return {
      snapshots: () => {
        live();
        return this.allSnapshots();
      },
      health: () => {
        live();
        const kafka = this.kafkaHealth();
        return { eventsLost: this.lostEvents(), probesAttached: this.probesAttached, kafkaFramesFailed: this.kafkaFramesFailed(), ...(kafka ? { kafka } : {}) };
      },
      render: this.render,
    };
  }

  private requestStop(reason: StopReason): void {
    if (this.stopping) return;
    this.stopping = true;
    this.resolveStop(reason);
  }

  /** A batch from the ring: acted on now, in slices (see SLICE_MS). */
  private onBatch(batch: Buffer): void {
    if (batch.length === 0) return;
    this.waiting.push(ringRecords(batch));
    if (this.sliceTimer === undefined && !this.stopping) this.actOnWaiting(performance.now() + SLICE_MS);
  }

  /**
   * Acts on waiting records until none is left or `deadline` (performance.now()) has passed; then,
   * while the session runs, reading the ring resumes, or the next slice is scheduled with the ring
   * paused. False when the deadline cut it short.
   */
  private actOnWaiting(deadline: number): boolean {
    this.sliceTimer = undefined;
    while (this.waiting.length > 0) {
      const batch = this.waiting[0]!;
      while (this.waitingAt < batch.length) {
        const record = batch[this.waitingAt++]!;
        if (!this.act(record)) {
          // exit(): like bpftrace, the first exit() decides the code; what follows it is dropped.
          this.waiting.length = 0;
          this.waitingAt = 0;
          return true;
        }
        if (performance.now() > deadline && (this.waitingAt < batch.length || this.waiting.length > 1)) {
          if (!this.stopping) {
            this.pauseRing(true);
            this.sliceTimer = setImmediate(() => this.actOnWaiting(performance.now() + SLICE_MS));
          }
          return false;
        }
      }
      this.waiting.shift();
      this.waitingAt = 0;
    }
    this.pauseRing(false);
    return true;
  }

  private pauseRing(paused: boolean): void {
    if (this.ringPaused === paused || this.released) return;
    this.ringPaused = paused;
    this.obj?.ringPause(paused);
  }

  /** Acts on one ring record; false for an exit() that ends the session. */
  private act(record: Buffer): boolean {
    const code = this.records.act(record);
    if (code === undefined || this.stopping) return true;
    this.exitCode = code;
    this.requestStop('exit');
    return false;
  }

  /** Every map of the script, kernel and user-space alike. */
  private allSnapshots(): MapSnapshot[] {
    return this.plan.maps.map((m) => mapSnapshot(m, this.obj, this.userMaps));
  }

  private printAllMaps(atExit: boolean): void {
    this.out.printMaps(this.allSnapshots(), { atExit });
    this.out.flush();
  }

  /**
   * After a stop: acts on the waiting records and on what the ring holds (see DRAIN_MS). What a
   * flood leaves, the waiting records and what the ring holds then (up to one ring's worth), is
   * taken out unread and counted in `dropped`: END's records, sent next, come first.
   */
  private drain(ms: number): void {
    if (this.sliceTimer !== undefined) clearImmediate(this.sliceTimer);
    this.sliceTimer = undefined;
    const obj = this.obj;
    if (!obj) return;
    const deadline = performance.now() + ms;
    let bytes = this.plan.ringbufSize;
    while (this.actOnWaiting(deadline) && bytes > 0) {
      const batch = obj.ringConsume();
      if (batch.length === 0) return;
      bytes -= batch.length;
      this.waiting.push(ringRecords(batch));
    }
    let left = this.waiting.reduce((n, records) => n + records.length, -this.waitingAt);
    this.waiting.length = 0;
    this.waitingAt = 0;
    for (bytes = this.plan.ringbufSize; bytes > 0; ) {
      const batch = obj.ringConsume();
      if (batch.length === 0) break;
      bytes -= batch.length;
      left += ringRecords(batch).length;
    }
    this.dropped += BigInt(left);
  }

  /** Prints the events lost since the last report, if any. */
  private reportLost(): void {
    const lost = this.lostEvents();
    if (lost > this.lostReported) this.out.lost(lost - this.lostReported);
    this.lostReported = lost;
  }

  private stack(id: number, limit?: number): bigint[] | undefined {
    if (id < 0) return undefined;
    let values: Buffer[] | null | undefined;
    try {
      values = this.obj?.mapLookup(stackMapName(limit), u32(id));
    } catch {
      return undefined;
    }
    const bytes = values?.[0];
    if (!bytes) return undefined;
    return stackFrames(bytes);
  }

  private lostEvents(): bigint {
    const kafkaLost = BigInt(this.kafka?.counters().lostRecords ?? 0);
    return (this.obj ? lostInObject(this.obj) : 0n) + kafkaLost + this.dropped;
  }

  /** The decoder's health, when kafka probes run. */
  private kafkaHealth(): DecodeHealth | undefined {
    return this.kafka && this.kafka.attachedProbes > 0 ? decodeHealth(this.kafka.counters()) : undefined;
  }

  private kafkaFramesFailed(): number {
    const failed = this.kafka?.counters().framesFailed ?? {};
    return Object.values(failed).reduce((total, n) => total + (n ?? 0), 0);
  }

  /**
   * After the stop: END, the last records, lost events, the maps. Detaching comes after, in release():
   * the kernel waits for an RCU grace period when the last tracepoint goes (tens of ms), and the
   * user should not wait for that to see the result.
   */
  private finish(reason: StopReason): void {
    for (const c of this.cleanups.splice(0)) c();
    // The capture's last records still fire their probes, unless exit() ended the session.
    this.kafka?.stop();
    // Like bpftrace, nothing that other probes sent after exit() is printed; END's records are.
    const prompt = reason === 'SIGINT' || reason === 'SIGTERM' || reason === 'abort' || reason === 'exit';
    const drainMs = prompt ? SIGNAL_DRAIN_MS : DRAIN_MS;
    if (reason === 'exit') this.discardWaiting();
    else this.drain(drainMs);
    for (const p of programsAt(this.plan, 'end')) this.obj?.testRun(p);
    this.drain(drainMs);
    this.reportLost();
    for (const d of this.userMaps.drops()) this.out.mapFull(d, true);
    const kafka = this.kafkaHealth();
    if (kafka) this.out.kafkaHealth(kafka, this.options.verbose ?? false);
    this.printAllMaps(true);
  }

  /** After exit(): what other probes sent is dropped, as bpftrace drops it. */
  private discardWaiting(): void {
    if (this.sliceTimer !== undefined) clearImmediate(this.sliceTimer);
    this.sliceTimer = undefined;
    this.waiting.length = 0;
    this.waitingAt = 0;
    this.obj?.ringConsume();
  }

  private release(): void {
    for (const c of this.cleanups.splice(0)) c();
    if (this.sliceTimer !== undefined) clearImmediate(this.sliceTimer);
    this.released = true;
    this.kafka?.stop();
    this.obj?.close();
    for (const r of this.releases.splice(0)) r();
    if (this.held) this.commandDone = endCommand(this.held.child, COMMAND_GRACE_MS);
  }
}

/**
 * Runs a plan's BPF object until exit(), a signal, the -c command's end, the duration or an abort;
 * resolves to the exit code (exit()'s argument, else 0). Throws a KtError when it cannot start.
 */
export async function runSession(plan: Plan, object: Buffer | undefined, options: SessionOptions): Promise<number> {
  const problem = privilegeProblem();
  if (problem) throw new KtError('no-privilege', problem);
  // libbpf reads tracepoint ids from tracefs.
  if (kernelPrograms(plan).some((p) => p.attach.some((a) => a.type === 'tracepoint'))) {
    const problem = ensureTracefs();
    if (problem) throw new KtError('no-tracefs', problem);
  }
  if (options.pid !== undefined) {
    try {
      process.kill(options.pid, 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ESRCH') throw new KtError('no-such-process', `no process with pid ${options.pid}`);
    }
  }
  let session: Session;
  try {
    session = new Session(plan, object, options);
  } catch (e) {
    if (isNativeError(e)) throw new KtError('kernel-refused', `${e.message}${e.log ? `\n${e.log}` : ''}`);
    throw e;
  }
  return session.run();
}
