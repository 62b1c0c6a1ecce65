// The event source of kafka:* probes: the syscall capture feeds the Kafka decoder, each decoded
// exchange becomes probe firings, and every user-space probe attached to a firing's name runs its
// compiled action. Frames that fail to decode are counted by the decoder, never fatal.
import { readFileSync, statSync } from 'node:fs';
import { startCapture, type Capture, type CaptureOptions } from '../kafka/capture-loader.js';
import { BoundedMap } from '../kafka/bounded-map.js';
import { newCounters } from '../kafka/counters.js';
import { KafkaDecoder, probeFirings, type KafkaCounters, type KafkaExchange } from '../kafka/index.js';
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
}

export interface KafkaSourceCounters extends KafkaCounters {
  /** Probe firings that ran an action (predicate included). */
  firings: number;
  /** Actions that failed at run time (each distinct failure is also printed once). */
  actionErrors: number;
  /** Capture records lost in the kernel (ring buffer full). */
  lostRecords: number;
  /** Capture records that did not decode. */
  badRecords: number;
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

/** The UserMaps for a plan's user-space maps. */
export function userMapsOf(plan: Plan): UserMaps {
  return new UserMaps(plan.maps.filter((m) => m.home === 'user').map((m) => ({ name: m.name, keyTypes: m.keyTypes, value: m.value })));
}

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

/** The literal that `builtin == literal` (either way round) compares the builtin with. */
function comparedWith(e: Expr, builtin: string): Expr | undefined {
  if (e.kind !== 'binary' || e.op !== '==') return undefined;
  if (e.left.kind === 'builtin' && e.left.name === builtin) return e.right;
  if (e.right.kind === 'builtin' && e.right.name === builtin) return e.left;
  return undefined;
}

/**
 * The pid that every kafka probe's predicate requires (`pid == N`), so that the capture drops other
 * processes' traffic in the kernel; the predicates still run, so this only saves copying. comm is
 * not pushed down: the kernel filter sees each syscall's thread, while `comm` in a kafka probe is
 * the connection's, and a client may read and write from differently named threads.
 */
export function pushdownPid(plan: Plan): number | undefined {
  const preds = plan.probes.filter((p) => p.where === 'user').map((p) => conjuncts(p.ast?.predicate));
  const pids = preds.map((terms) => {
    for (const t of terms) {
      const lit = comparedWith(t, 'pid');
      if (lit?.kind === 'int' && lit.value > 0n && lit.value <= 0xffffffffn) return Number(lit.value);
    }
    return undefined;
  });
  return pids.length > 0 && pids.every((p) => p !== undefined && p === pids[0]) ? pids[0] : undefined;
}

/**
 * Compiles the plan's kafka probes and starts capturing. Throws InterpreterError (with a Diagnostic)
 * for an action user space cannot run, CaptureConfigError or a native error when the capture cannot
 * start. With no kafka probes in the plan it captures nothing and attaches 0 probes.
 */
export function startKafkaProbes(plan: Plan, opts: KafkaProbeOptions): KafkaProbes {
  const startNs = opts.startNs ?? process.hrtime.bigint();
  const compiled = compileUserProbes(plan, { maps: opts.maps, output: opts.output, positional: opts.positional, startNs });
  const attachedProbes = compiled.reduce((n, p) => n + p.names.length, 0);
  const counts = { firings: 0, actionErrors: 0 };
  if (compiled.length === 0) {
    return { attachedProbes: 0, stop() {}, counters: () => ({ ...newCounters(), ...counts, lostRecords: 0, badRecords: 0 }) };
  }

  const byName = new Map<string, CompiledProbe[]>();
  for (const p of compiled) {
    for (const name of new Set(p.names)) byName.set(name, [...(byName.get(name) ?? []), p]);
  }
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
  let exited = false;

  const onExchange = (ex: KafkaExchange): void => {
    if (exited) return;
    const c = ex.connection;
    const nsecs = ex.response_ts ?? ex.request_ts;
    for (const firing of probeFirings(ex)) {
      const probes = byName.get(firing.probe);
      if (!probes) continue;
      const f: Firing = { probe: `kafka:${firing.probe}`, args: firing.args, pid: c.pid, tid: c.tid, comm: c.comm, nsecs, cgroup: cgroupFor(c.pid) };
      for (const p of probes) {
        counts.firings++;
        let code: number | undefined;
        try {
          code = p.run(f);
        } catch (e) {
          // One failing action must not end the session; say why once.
          counts.actionErrors++;
          reportOnce(`kafka probe ${f.probe}: ${e instanceof Error ? e.message : String(e)}`);
        }
        if (code !== undefined) {
          exited = true;
          opts.onExit(code);
          return;
        }
      }
    }
  };

  const decoder = new KafkaDecoder({ onExchange });
  const feed = (records: ReturnType<Capture['poll']>): void => {
    for (const r of records) {
      if (exited) return;
      try {
        decoder.push(r);
      } catch (e) {
        // The decoder counts bad frames itself; anything it throws is a bug, reported, not fatal.
        reportOnce(`kafka decoder: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  };
  const capture = startCapture({ ...opts.capture, pid: opts.pid ?? pushdownPid(plan) }, feed);
  const timer = setInterval(() => decoder.expire(process.hrtime.bigint()), EXPIRE_INTERVAL_MS);
  timer.unref();

  let stopped = false;
  let lostRecords = 0;
  return {
    attachedProbes,
    stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      try {
        feed(capture.poll());
        lostRecords = capture.lost();
      } finally {
        capture.close();
      }
    },
    counters: () => ({
      ...decoder.counters(),
      ...counts,
      lostRecords: stopped ? lostRecords : capture.lost(),
      badRecords: capture.badRecords,
    }),
  };
}
