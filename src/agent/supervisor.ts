// Keeps the configured scripts running: starts them through a factory (the real one compiles and
// loads; tests give a fake), retries a failed one with exponential back-off, and on a reload starts
// the added, stops the removed and restarts the changed ones while the unchanged keep running.
import type { AgentScript } from './config.js';

/** A script that has started. */
export interface RunningScript {
  /** Settles when the script ends without being asked to: with why (resolved or rejected). */
  readonly ended: Promise<string>;
  /** Stops it and releases what it holds; resolves once that is done. */
  stop(): Promise<void>;
}

/** Starts a script; rejects (with a message for the user) when it cannot. */
export type ScriptFactory<R extends RunningScript> = (script: AgentScript) => Promise<R>;

/** Timers the supervisor waits on: the real ones by default, a fake in tests. */
export interface Clock {
  now(): number;
  /** Calls fn after ms; returns the cancellation. */
  after(ms: number, fn: () => void): () => void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  after: (ms, fn) => {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};

export interface Backoff {
  /** The first retry's delay; each consecutive failure doubles it. */
  initialMs: number;
  /** The longest delay; a script that ran this long before failing starts again from initialMs. */
  maxMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { initialMs: 1000, maxMs: 60_000 };

export type ScriptState =
  | { name: string; state: 'starting'; restarts: number }
  | { name: string; state: 'running'; restarts: number }
  | { name: string; state: 'failed'; reason: string; retryInMs: number; restarts: number };

interface Entry<R> {
  script: AgentScript;
  /** The script as compared on reload. */
  key: string;
  state: 'starting' | 'running' | 'failed';
  run?: R;
  reason?: string;
  retryAt?: number;
  cancelRetry?: () => void;
  /** Consecutive failures, for the back-off. */
  failures: number;
  /** Retries after a failure, over the agent's life (kept across reloads of the same name). */
  restarts: number;
  startedAt: number;
  /** Set when the entry is stopped: a start or an end still pending then is ignored. */
  gone: boolean;
  /** The start in progress, which a stop waits for (what it loads is then released). */
  starting?: Promise<void>;
}

function keyOf(s: AgentScript): string {
  return JSON.stringify([s.path, s.text, s.args, Object.entries(s.labels).sort(), s.print]);
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class Supervisor<R extends RunningScript> {
  private readonly entries = new Map<string, Entry<R>>();
  /** Reloads and the stop run one after another. */
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly factory: ScriptFactory<R>,
    private readonly opts: { report: (line: string) => void; clock?: Clock; backoff?: Backoff },
  ) {}

  private get clock(): Clock {
    return this.opts.clock ?? realClock;
  }

  /** Runs exactly these scripts from now on (the configuration, or a reloaded one). */
  apply(scripts: AgentScript[]): Promise<void> {
    return this.enqueue(async () => {
      const wanted = new Map(scripts.map((s) => [s.name, s]));
      const stops: Promise<void>[] = [];
      const restarts = new Map<string, number>();
      for (const [name, e] of this.entries) {
        const next = wanted.get(name);
        if (next && keyOf(next) === e.key) continue;
        this.entries.delete(name);
        if (next) restarts.set(name, e.restarts);
        stops.push(this.halt(e));
      }
      // What a removed or changed script holds is released before its successor loads.
      await Promise.all(stops);
      for (const s of scripts) {
        if (this.entries.has(s.name)) continue;
        const e: Entry<R> = { script: s, key: keyOf(s), state: 'starting', failures: 0, restarts: restarts.get(s.name) ?? 0, startedAt: 0, gone: false };
        this.entries.set(s.name, e);
        e.starting = this.start(e);
      }
    });
  }

  /** Stops every script; nothing starts afterwards. */
  stop(): Promise<void> {
    return this.enqueue(async () => {
      this.stopped = true;
      const all = [...this.entries.values()];
      this.entries.clear();
      await Promise.all(all.map((e) => this.halt(e)));
    });
  }

  /** Each script's state, in configuration order. */
  states(): ScriptState[] {
    const now = this.clock.now();
    return [...this.entries.values()].map((e): ScriptState => {
      if (e.state === 'failed') return { name: e.script.name, state: 'failed', reason: e.reason!, retryInMs: Math.max(0, e.retryAt! - now), restarts: e.restarts };
      return { name: e.script.name, state: e.state, restarts: e.restarts };
    });
  }

  /** The scripts running now, with what their factory made. */
  running(): { script: AgentScript; run: R }[] {
    return [...this.entries.values()].flatMap((e) => (e.state === 'running' && e.run ? [{ script: e.script, run: e.run }] : []));
  }

  private enqueue(work: () => Promise<void>): Promise<void> {
    const next = this.queue.then(work);
    this.queue = next.catch(() => {});
    return next;
  }

  private async start(e: Entry<R>): Promise<void> {
    e.state = 'starting';
    e.startedAt = this.clock.now();
    let run: R;
    try {
      run = await this.factory(e.script);
    } catch (err) {
      if (!e.gone) this.failed(e, message(err));
      return;
    }
    if (e.gone) {
      await run.stop().catch(() => {});
      return;
    }
    e.run = run;
    e.state = 'running';
    run.ended.then(
      (why) => this.ended(e, run, why),
      (err: unknown) => this.ended(e, run, message(err)),
    );
  }

  private ended(e: Entry<R>, run: R, why: string): void {
    if (e.gone || e.run !== run) return;
    e.run = undefined;
    // Whatever it still holds goes before the retry loads it again.
    void run.stop().catch(() => {});
    this.failed(e, why);
  }

  private failed(e: Entry<R>, reason: string): void {
    const { initialMs, maxMs } = this.opts.backoff ?? DEFAULT_BACKOFF;
    const now = this.clock.now();
    if (now - e.startedAt >= maxMs) e.failures = 0;
    e.failures++;
    const delay = Math.min(maxMs, initialMs * 2 ** Math.min(e.failures - 1, 30));
    e.state = 'failed';
    e.reason = reason;
    e.retryAt = now + delay;
    this.opts.report(`script ${e.script.name} failed: ${reason}; retrying in ${formatSeconds(delay)}`);
    e.cancelRetry = this.clock.after(delay, () => {
      e.cancelRetry = undefined;
      if (e.gone || this.stopped) return;
      e.restarts++;
      e.starting = this.start(e);
    });
  }

  private async halt(e: Entry<R>): Promise<void> {
    e.gone = true;
    e.cancelRetry?.();
    await e.starting;
    const run = e.run;
    e.run = undefined;
    if (run) await run.stop().catch((err: unknown) => this.opts.report(`script ${e.script.name}: stopping it failed: ${message(err)}`));
  }
}

/** `1 s`, `2.5 s`. */
export function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}
