// The event source of kafka:* probes: the syscall capture feeds the Kafka decoder, each decoded
// exchange becomes probe firings, and every user-space probe attached to a firing's name runs its
// compiled action. Frames that fail to decode are counted by the decoder, never fatal.
import { readFileSync, statSync } from 'node:fs';
import { startCapture, type Capture, type CaptureFrames, type CaptureOptions } from '../kafka/capture/loader.js';
import { realSystem } from '../frontend/system.js';
import { walkRecords } from '../native/ring-records.js';
import { PROBES } from '../kafka/probes/args.js';
import { BoundedMap } from '../kafka/exchange/bounded-map.js';
import { newCounters } from '../kafka/exchange/counters.js';
import {
  derivedFiring,
  KafkaDecoder,
  type ConnectionInfo,
  type DerivedEvent,
  type KafkaCounters,
  type KafkaDemand,
  type ProbeArgs,
} from '../kafka/index.js';
import type { Expr } from '../frontend/ast.js';
import type { Plan } from '../plan/types.js';
import { type CompiledProbe, compileUserProbes } from './interpreter.js';
import type { Firing } from './interpreter-frame.js';
import type { Output } from './output.js';
import { UserMaps } from './user-maps.js';

export interface KafkaProbeOptions {
  output: Output;
  /** The plan's user-space maps (userMapsOf(plan)); the session prints them with the kernel maps. */
  maps: UserMaps;
  /** -p: only this process's Kafka traffic is captured. */
  pid?: number;
  /** Called once when an action calls exit(code); no probe runs after it. */
  onExit: (code: number) => void;
  /** Positional parameters ($1 is index 0), as given to the analysis. */
  positional?: string[];
  /** CLOCK_MONOTONIC ns the session started at (`elapsed`); now by default. */
  startNs?: bigint;
  /** Capture settings beyond the pid (head size, ring size, comm, ports, object path). */
  capture?: Omit<CaptureOptions, 'pid'>;
  /**
   * A feed already running (one capture shared by several scripts): the probes attach to it, and
   * stop() detaches them alone. Its capture filters nothing for this plan, so pid and capture are not used.
   */
  feed?: KafkaFeed;
}

export interface KafkaSourceCounters extends KafkaCounters {
  /** Probe firings that ran an action (predicate included). */
  firings: number;
  /** Actions that failed at run time (each distinct failure is also printed once). */
  actionErrors: number;
  /** Capture records lost in the kernel (ring buffer full). */
  lostRecords: number;
}

export interface KafkaProbes {
  /** kafka attach points (what "Attaching N probes" counts). */
  attachedProbes: number;
  /** Drains what the capture holds, runs the last firings, then detaches; safe to call twice. */
  stop(): void;
  counters(): KafkaSourceCounters;
}

/** How often unanswered requests are checked for the decoder's timeout. */
const EXPIRE_INTERVAL_MS = 1000;

/** A process's cgroup v2 id: the inode of its cgroupfs directory; 0 when it cannot be read. */
function cgroupOf(pid: number): bigint {
  try {
    const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('0::'));
    if (!line) return 0n;
    return statSync(`/sys/fs/cgroup${line.slice(3)}`, { bigint: true }).ino;
  } catch {
    return 0n;
  }
}

/** The terms of a predicate's top-level `&&` chain. */
function conjuncts(e: Expr | undefined): Expr[] {
  if (!e) return [];
  if (e.kind === 'binary' && e.op === '&&') return [...conjuncts(e.left), ...conjuncts(e.right)];
  return [e];
}

/** The terms of an `||` chain. */
function disjuncts(e: Expr): Expr[] {
  if (e.kind === 'binary' && e.op === '||') return [...disjuncts(e.left), ...disjuncts(e.right)];
  return [e];
}

/** The literal that `builtin == literal` (either way round) compares the builtin with. */
function comparedWith(e: Expr, builtin: string): Expr | undefined {
  if (e.kind !== 'binary' || e.op !== '==') return undefined;
  if (e.left.kind === 'builtin' && e.left.name === builtin) return e.right;
  if (e.right.kind === 'builtin' && e.right.name === builtin) return e.left;
  return undefined;
}

const isArg = (e: Expr, field: string): boolean =>
  e.kind === 'field' && e.field === field && e.object.kind === 'builtin' && e.object.name === 'args';

/** The port N of `args.lport == N` or `args.rport == N` (either way round). */
function comparedPort(e: Expr): number | undefined {
  if (e.kind !== 'binary' || e.op !== '==') return undefined;
  const [field, lit] = isArg(e.left, 'lport') || isArg(e.left, 'rport') ? [e.left, e.right] : [e.right, e.left];
  if (!(isArg(field, 'lport') || isArg(field, 'rport')) || lit.kind !== 'int') return undefined;
  return lit.value >= 1n && lit.value <= 65535n ? Number(lit.value) : undefined;
}

/** Kernel filters for the capture that drop only traffic no kafka probe of the plan could fire on. */
export interface KafkaPushdown {
  pid?: number;
  cgroupId?: bigint;
  ports?: number[];
}

/** Probes whose args come from state built over exchanges of other processes: the trackers' (groups, lag). */
const CROSS_PROCESS_PROBES = new Set(PROBES.filter((p) => p.tracker !== undefined).map((p) => p.name));
/** The names of args whose values may come from beyond the exchange's connection (args.ts's `reach`). */
const reaching = (reach: 'process' | 'machine'): Set<string> =>
  new Set(PROBES.flatMap((p) => p.args).filter((a) => a.reach === reach).map((a) => a.name));
/**
 * Args that may come from another process's exchanges: time_lag (a producer's Produce),
 * committed_lag (the log end from a producer's or another consumer's exchanges).
 */
const CROSS_PROCESS_ARGS = reaching('machine');
/**
 * Args that may come from another connection of the same process: topic names of topic-id
 * versions (from a Metadata answer), a fetching client's group (from its group requests).
 */
const CROSS_CONNECTION_ARGS = reaching('process');
/** The capture's limit on ports (src/kafka/capture/loader.ts). */
const MAX_PORTS = 8;

/** The names of the `args.NAME` fields a probe reads, in its predicate or its actions. */
function argsRead(node: unknown, into = new Set<string>()): Set<string> {
  if (Array.isArray(node)) {
    for (const n of node) argsRead(n, into);
  } else if (node !== null && typeof node === 'object') {
    const e = node as Expr;
    if (e.kind === 'field' && e.object.kind === 'builtin' && e.object.name === 'args') into.add(e.field);
    for (const v of Object.values(node)) argsRead(v, into);
  }
  return into;
}

/** The one value every probe requires, or undefined when one probe requires none or they differ. */
function common<T>(values: (T | undefined)[]): T | undefined {
  const first = values[0];
  return first !== undefined && values.every((v) => v === first) ? first : undefined;
}

/**
 * What the capture can filter in the kernel for this plan: a filter is pushed when every kafka
 * probe's predicate requires it in its top-level `&&` chain. The predicates still run in user
 * space, so a filter only saves copying and decoding, and a filter is pushed only where it cannot
 * drop a record that a firing needs:
 * - pid (`pid == N`) and cgroup (`cgroup == N`, `cgroup == cgroupid("path")`): a connection belongs
 *   to one process, and every thread of a process shares both (cgroup v2's threaded mode aside).
 * - ports (`args.lport == N`, `args.rport == N`, or an `||` of those): the capture decides per
 *   connection, once, from the socket's ports, exactly what args.lport and args.rport report. The
 *   ports of all probes are merged (at most 8).
 * comm is never pushed, although the capture can filter on it: the kernel compares the name of the
 * thread doing each read or write, while a kafka probe's comm is the name of the first thread seen
 * on the connection, and the two differ in real clients. librdkafka renames a bootstrap broker's
 * thread when it learns the broker's id (rdk:broker-1 becomes rdk:broker1) on the same connection;
 * Java's classic consumer uses its coordinator connection from the polling thread and from
 * "kafka-coordinator-heartbeat-thread". A per-thread filter would then report exchanges that
 * `comm == "x"` rejects, or cut a connection's stream in the middle. Pushing comm safely needs the
 * capture to decide per connection, from the thread of its first I/O, as it does for ports.
 * Some args come from other exchanges, which a filter could drop: nothing is pushed for kafka:lag,
 * kafka:rebalance, kafka:member, args.time_lag or args.committed_lag (other processes' traffic),
 * and no port when a probe reads args.topic or args.group (maybe from another connection of the
 * same process).
 */
export function kafkaPushdown(plan: Plan): KafkaPushdown {
  const probes = plan.probes.filter((p) => p.attach.some((a) => a.type === 'kafka'));
  if (probes.length === 0) return {};
  if (probes.some((p) => p.attach.some((a) => a.type === 'kafka' && CROSS_PROCESS_PROBES.has(a.name)))) return {};
  const read = argsRead(probes.map((p) => p.ast));
  if ([...read].some((a) => CROSS_PROCESS_ARGS.has(a))) return {};
  const perConnection = ![...read].some((a) => CROSS_CONNECTION_ARGS.has(a));
  const terms = probes.map((p) => conjuncts(p.ast?.predicate));
  const first = <T>(pick: (t: Expr) => T | undefined) => (ts: Expr[]): T | undefined => {
    for (const t of ts) {
      const v = pick(t);
      if (v !== undefined) return v;
    }
    return undefined;
  };

  const pid = common(terms.map(first((t) => {
    const lit = comparedWith(t, 'pid');
    return lit?.kind === 'int' && lit.value > 0n && lit.value <= 0xffffffffn ? Number(lit.value) : undefined;
  })));
  const cgroupId = common(terms.map(first((t) => {
    const lit = comparedWith(t, 'cgroup');
    if (lit?.kind === 'int' && lit.value > 0n && lit.value <= 0xffffffffffffffffn) return lit.value;
    if (lit?.kind === 'call' && lit.name === 'cgroupid' && lit.args[0]?.kind === 'str') return cgroupIdOf(lit.args[0].value);
    return undefined;
  })));
  const portSets = terms.map(first((t) => {
    const ports = disjuncts(t).map(comparedPort);
    return ports.every((p) => p !== undefined) ? (ports as number[]) : undefined;
  }));
  const ports = portSets.every((s) => s !== undefined) ? [...new Set(portSets.flat())].sort((a, b) => a - b) : undefined;

  const out: KafkaPushdown = {};
  if (pid !== undefined) out.pid = pid;
  if (cgroupId !== undefined) out.cgroupId = cgroupId;
  if (perConnection && ports !== undefined && ports.length <= MAX_PORTS) out.ports = ports;
  return out;
}

/** cgroupid(path) as the interpreter computes it; undefined when unreadable. */
function cgroupIdOf(path: string): bigint | undefined {
  const id = realSystem().cgroupId(path);
  return id.ok ? id.value : undefined;
}

export interface KafkaFeedOptions {
  output: Output;
  /** What the capture filters in the kernel (pid, ports, ring size, ...). */
  capture: CaptureOptions;
  /** Starts the capture: the kernel's (startCapture) by default; tests give a fake. */
  startCapture?: (options: CaptureOptions, onBatch: (batch: Buffer) => void) => Capture;
  /** The clock decoding slices are timed by, in ms: performance.now by default. */
  now?: () => number;
  /** false: Produce and Fetch take the schema decoder's path too (bench/kafka-replay.mjs weighs the fast lane). */
  lane?: boolean;
}

/** Probes attached to a KafkaFeed together: a script's, or one REPL block's. */
export interface KafkaAttachment {
  /** Drains what the capture holds into the feed's probes, then stops this set's probes and runs its END blocks. */
  detach(): void;
}

/** One capture and one decoder whose exchanges fire the probes attached at the time. */
export interface KafkaFeed {
  /**
   * Attaches compiled probes: kafka probes fire on exchanges, interval blocks on timers, END blocks
   * at detach or stop. onExit is called once when one of them calls exit(code); none of the set
   * runs after that, while other sets go on. `argsRead`, the args.NAME the probes read, lets the
   * decoder decode only what they need; without it, everything is decoded for them.
   */
  attach(probes: CompiledProbe[], onExit: (code: number) => void, argsRead?: Iterable<string>): KafkaAttachment;
  /** Drains the capture, flushes the decoder, runs every set's END blocks, then detaches; safe to call twice. */
  stop(): void;
  /** Detaches at once: nothing more is decoded or run. */
  close(): void;
  counters(): KafkaSourceCounters;
}

interface ProbeSet {
  probes: CompiledProbe[];
  /** The args its probes read; undefined: unknown, so all. */
  args: ReadonlySet<string> | undefined;
  onExit: (code: number) => void;
  exited: boolean;
  timers: NodeJS.Timeout[];
}

/**
 * Capture records are decoded in slices of this many ms. An HTTP request (/metrics) needs two turns
 * of the event loop (accept, then read), so it waits up to two slices, and on a loaded machine each
 * slice can take several times as long in wall time: a slice is kept a small part of 100 ms.
 */
const SLICE_MS = 2;
/** Records per piece a batch is cut into, so that a slice can end between pieces. */
const PIECE_RECORDS = 64;
/** Bytes per piece: a record of tiny frames holds hundreds of them, so records alone make pieces too long. */
const PIECE_BYTES = 4 * 1024;

/** A packed batch cut at record boundaries into packed batches of at most PIECE_RECORDS records or about PIECE_BYTES. */
export function recordPieces(batch: Buffer): Buffer[] {
  const pieces: Buffer[] = [];
  let from = 0;
  let n = 0;
  walkRecords(batch, (_start, end) => {
    if (++n < PIECE_RECORDS && end - from < PIECE_BYTES) return;
    pieces.push(batch.subarray(from, end));
    from = end;
    n = 0;
  });
  if (from < batch.length) pieces.push(batch.subarray(from));
  return pieces;
}

/**
 * Starts the capture and the decoder with no probe attached. Throws CaptureConfigError or a native
 * error when the capture cannot start.
 */
export function startKafkaFeed(opts: KafkaFeedOptions): KafkaFeed {
  const counts = { firings: 0, actionErrors: 0 };
  const sets = new Set<ProbeSet>();
  /** The attached probes by kafka probe name, in attach order. */
  let byName = new Map<string, { set: ProbeSet; probe: CompiledProbe }[]>();
  const index = (): void => {
    byName = new Map();
    for (const set of sets) {
      for (const probe of set.probes) {
        for (const name of new Set(probe.names)) byName.set(name, [...(byName.get(name) ?? []), { set, probe }]);
      }
    }
    decoder.setDemand(demandOf([...sets]));
  };
  /** Sets that have not called exit(): with none, records are not even decoded. */
  let running = 0;
  const cgroups = new BoundedMap<number, bigint>(4096);
  const cgroupFor = (pid: number) => (): bigint => {
    let id = cgroups.get(pid);
    if (id === undefined) cgroups.set(pid, (id = cgroupOf(pid)));
    return id;
  };
  const reported = new Set<string>();
  const reportOnce = (message: string): void => {
    if (reported.has(message)) return;
    reported.add(message);
    opts.output.error(message);
  };

  /** Runs one probe of a set that has not exited. */
  const run = (set: ProbeSet, p: CompiledProbe, f: Firing): void => {
    counts.firings++;
    let code: number | undefined;
    try {
      code = p.run(f);
    } catch (e) {
      // One failing action must not end the session; say why once.
      counts.actionErrors++;
      reportOnce(`kafka probe ${f.probe}: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (code === undefined) return;
    set.exited = true;
    running--;
    set.onExit(code);
  };
  const fire = (probe: string, args: ProbeArgs, c: ConnectionInfo, tid: number, nsecs: bigint): void => {
    if (running === 0) return;
    const probes = byName.get(probe);
    if (!probes) return;
    const f: Firing = { probe: `kafka:${probe}`, args, pid: c.pid, tid, comm: c.comm, nsecs, cgroup: cgroupFor(c.pid) };
    for (const { set, probe: p } of probes) if (!set.exited) run(set, p, f);
  };
  /** interval and END blocks that share maps with kafka probes fire here, as kafkatrace itself. */
  const fireOwn = (set: ProbeSet, p: CompiledProbe, probe: string): void => {
    if (!set.exited) run(set, p, { probe, args: {}, pid: process.pid, tid: process.pid, comm: 'kafkatrace', nsecs: process.hrtime.bigint(), cgroup: cgroupFor(process.pid) });
  };
  // Rebalances completed by no exchange (flushed at the end): they fire on their last connection.
  const onDerived = (ev: DerivedEvent): void => {
    const { probe, args } = derivedFiring(ev);
    fire(probe, args, ev.connection, ev.connection.tid, ev.ts);
  };

  const decoder = new KafkaDecoder({ onFiring: fire, onDerived, lane: opts.lane });
  const feed = (batch: Buffer): void => {
    if (running === 0) return;
    try {
      decoder.pushCapture(batch);
    } catch (e) {
      // The decoder counts bad frames and records itself; anything it throws is a bug, reported, not fatal.
      reportOnce(`kafka decoder: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  // Capture records are decoded in slices of SLICE_MS, the event loop running in between (signals,
  // timers, /metrics); while some wait, the ring is not read (see Session.actOnWaiting).
  const waiting: Buffer[] = [];
  let slice: NodeJS.Immediate | undefined;
  let paused = false;
  const pause = (p: boolean): void => {
    if (p !== paused) capture.pause((paused = p));
  };
  /** Decodes waiting pieces until none is left or `deadline` has passed; false when cut short. */
  const now = opts.now ?? (() => performance.now());
  const decodeWaiting = (deadline: number): boolean => {
    slice = undefined;
    while (waiting.length > 0) {
      feed(waiting.shift()!);
      if (waiting.length > 0 && now() > deadline) {
        pause(true);
        slice = setImmediate(() => decodeWaiting(now() + SLICE_MS));
        return false;
      }
    }
    pause(false);
    return true;
  };
  const onBatch = (batch: Buffer): void => {
    if (running === 0) return;
    waiting.push(...recordPieces(batch));
    if (slice === undefined) decodeWaiting(now() + SLICE_MS);
  };
  /** Everything waiting and everything the ring holds now, decoded at once. */
  const drainAll = (): void => {
    if (slice !== undefined) clearImmediate(slice);
    decodeWaiting(Infinity);
    feed(capture.poll());
  };
  const capture = (opts.startCapture ?? startCapture)(opts.capture, onBatch);
  const timer = setInterval(() => decoder.expire(process.hrtime.bigint()), EXPIRE_INTERVAL_MS);
  timer.unref();

  const runEnd = (set: ProbeSet): void => {
    for (const p of set.probes) if (p.atEnd) fireOwn(set, p, 'END');
  };
  const remove = (set: ProbeSet): void => {
    if (!sets.delete(set)) return;
    for (const t of set.timers) clearInterval(t);
    if (!set.exited) running--;
    index();
  };
  let stopped = false;
  let lostRecords = 0;
  let frames: CaptureFrames | undefined;
  const finish = (drain: boolean): void => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    for (const set of sets) for (const t of set.timers) clearInterval(t);
    try {
      if (drain) {
        drainAll();
        if (running > 0) decoder.closeAll();
        for (const set of sets) runEnd(set);
      }
    } finally {
      if (slice !== undefined) clearImmediate(slice);
      waiting.length = 0;
      lostRecords = capture.lost();
      frames = capture.frames();
      capture.close();
      decoder.closeFiles();
      for (const set of [...sets]) remove(set);
    }
  };
  return {
    attach(probes, onExit, args) {
      const set: ProbeSet = { probes, args: args && new Set(args), onExit, exited: false, timers: [] };
      sets.add(set);
      running++;
      index();
      set.timers = probes.flatMap((p) =>
        p.intervals.map(({ probe, ms }) => {
          const t = setInterval(() => fireOwn(set, p, probe), ms);
          t.unref();
          return t;
        }),
      );
      return {
        detach() {
          if (!sets.has(set)) return;
          if (!stopped) drainAll();
          for (const t of set.timers) clearInterval(t);
          runEnd(set);
          remove(set);
        },
      };
    },
    stop: () => finish(true),
    close: () => finish(false),
    counters: () => ({
      ...decoder.counters(),
      ...counts,
      ...captureLoss(stopped ? frames! : capture.frames()),
      lostRecords: stopped ? lostRecords : capture.lost(),
    }),
  };
}

/** The capture's count of frames it could not hand over, both directions summed. */
function captureLoss(f: CaptureFrames): Pick<KafkaCounters, 'framesLost' | 'captureDesyncs'> {
  return {
    framesLost: { ringFull: f.out.ring + f.in.ring, afterLoss: f.out.afterLoss + f.in.afterLoss, tooMany: f.out.tooMany + f.in.tooMany },
    captureDesyncs: f.out.desyncs + f.in.desyncs,
  };
}

/** The kafka probes of a plan and the args they read: what its decoder must decode. */
export function kafkaDemand(plan: Plan): KafkaDemand {
  const probes = plan.probes.filter((p) => p.attach.some((a) => a.type === 'kafka'));
  return {
    probes: new Set(probes.flatMap((p) => p.attach.flatMap((a) => (a.type === 'kafka' ? [a.name] : [])))),
    args: argsRead(probes.map((p) => p.ast)),
  };
}

/**
 * What the decoder must decode for the attached sets: their kafka probes and the args they read;
 * undefined (everything) when a set did not say which args it reads.
 */
export function demandOf(sets: readonly { probes: CompiledProbe[]; args: ReadonlySet<string> | undefined }[]): KafkaDemand | undefined {
  const probes = new Set<string>();
  const args = new Set<string>();
  for (const set of sets) {
    if (!set.args) return undefined;
    for (const p of set.probes) for (const name of p.names) probes.add(name);
    for (const a of set.args) args.add(a);
  }
  return { probes, args };
}

/** kafka attach points of compiled probes, as "Attaching N probes" counts them: names, intervals, END. */
export function kafkaProbeCount(probes: CompiledProbe[]): number {
  return probes.reduce((n, p) => n + p.names.length + p.intervals.length + (p.atEnd ? 1 : 0), 0);
}

/**
 * Compiles the plan's kafka probes and starts capturing. Throws InterpreterError (with a Diagnostic)
 * for an action user space cannot run, CaptureConfigError or a native error when the capture cannot
 * start. With no kafka probes in the plan it captures nothing and attaches 0 probes.
 */
export function startKafkaProbes(plan: Plan, opts: KafkaProbeOptions): KafkaProbes {
  const startNs = opts.startNs ?? process.hrtime.bigint();
  const compiled = compileUserProbes(plan, { maps: opts.maps, output: opts.output, positional: opts.positional, startNs });
  if (compiled.length === 0) {
    return { attachedProbes: 0, stop() {}, counters: () => ({ ...newCounters(), firings: 0, actionErrors: 0, lostRecords: 0 }) };
  }
  const shared = opts.feed;
  if (shared) {
    const attachment = shared.attach(compiled, opts.onExit, kafkaDemand(plan).args);
    return { attachedProbes: kafkaProbeCount(compiled), stop: () => attachment.detach(), counters: () => shared.counters() };
  }
  // Explicit options (-p, capture settings) win over what the predicates allow.
  const capture = { ...kafkaPushdown(plan), ...opts.capture, ...(opts.pid === undefined ? {} : { pid: opts.pid }) };
  const feed = startKafkaFeed({ output: opts.output, capture });
  feed.attach(compiled, opts.onExit, kafkaDemand(plan).args);
  return { attachedProbes: kafkaProbeCount(compiled), stop: () => feed.stop(), counters: () => feed.counters() };
}
