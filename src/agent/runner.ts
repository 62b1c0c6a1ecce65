// The real ScriptFactory: compiles a script, loads and attaches it as a tracing session in this
// process, its kafka probes on the one Kafka feed that every script of the agent shares.
import { compileC } from '../codegen/clang.js';
import { unsafeHelperCalls } from '../codegen/unsafe-helpers.js';
import { planScript } from '../compiler.js';
import { formatDiagnostic } from '../frontend/diagnostics.js';
import { realSystem } from '../frontend/system.js';
import type { Plan } from '../plan/types.js';
import type { CaptureOptions } from '../kafka/capture/loader.js';
import { kafkaRuntime } from '../runtime/kafka-runtime.js';
import type { KafkaFeed, KafkaFeedOptions } from '../runtime/kafka-source.js';
import { createOutput, type Output } from '../runtime/output.js';
import { runSession, type SessionControl } from '../runtime/session.js';
import type { AgentScript } from './config.js';
import type { RunningScript, ScriptFactory } from './supervisor.js';

export interface AgentRun extends RunningScript {
  plan: Plan;
  control: SessionControl;
}

/** Writes whole lines, each prefixed: scripts share the agent's output. */
export function prefixedLines(prefix: string, write: (s: string) => void): (s: string) => void {
  let partial = '';
  return (s) => {
    const text = partial + s;
    const end = text.lastIndexOf('\n') + 1;
    partial = text.slice(end);
    if (end > 0) write(text.slice(0, end).replace(/^(?=.)/gm, prefix));
  };
}

/**
 * The one Kafka feed of the agent: started by the first script with kafka probes, closed when the
 * last of them has stopped, so that no capture copies Kafka traffic that no script reads.
 */
export class SharedFeed {
  private feed?: KafkaFeed;
  private starting?: Promise<KafkaFeed>;
  private users = 0;

  constructor(
    private readonly output: Output,
    /** Starts the capture and decoder: the kernel's by default; tests give a fake. */
    private readonly start?: (opts: KafkaFeedOptions) => KafkaFeed,
    /** The capture's kernel filters that the configuration sets (its network namespace). */
    private readonly capture: CaptureOptions = {},
  ) {}

  /** The feed, started if needed, for one more user; `release` once that user has detached. */
  async acquire(): Promise<{ feed: KafkaFeed; release: () => void }> {
    this.starting ??= this.open();
    let feed: KafkaFeed;
    try {
      feed = await this.starting;
    } catch (e) {
      this.starting = undefined;
      throw e;
    }
    // Its last user stopped it while this one waited: a new one starts.
    if (this.feed !== feed) return this.acquire();
    this.users++;
    let released = false;
    return {
      feed,
      release: () => {
        if (released) return;
        released = true;
        if (--this.users === 0) this.close();
      },
    };
  }

  private async open(): Promise<KafkaFeed> {
    const start = this.start ?? (await kafkaRuntime()).startKafkaFeed;
    // No filter from the scripts' predicates: the capture serves every script, those added by later
    // reloads too; only the configuration's namespace.
    this.feed = start({ output: this.output, capture: { ...this.capture } });
    return this.feed;
  }

  /** The running feed, if any script uses it. */
  current(): KafkaFeed | undefined {
    return this.feed;
  }

  close(): void {
    this.feed?.close();
    this.feed = undefined;
    this.starting = undefined;
    this.users = 0;
  }
}

function compileProblem(script: AgentScript, text: string): { plan: Plan; c: string } {
  const r = planScript(text, script.path, { positional: script.args, unsafe: false, system: realSystem() });
  if (r.ok) return { plan: r.compiled.plan, c: r.compiled.c };
  const errors = r.diagnostics.filter((d) => d.severity === 'error');
  throw new Error(errors.map((d) => formatDiagnostic(d, text).split('\n')[0]).join('; '));
}

export function sessionFactory(opts: { feed: SharedFeed; write: (s: string) => void; writeError: (s: string) => void }): ScriptFactory<AgentRun> {
  return async (script) => {
    if (typeof script.text !== 'string') throw new Error(script.text.problem);
    const text = script.text;
    const { plan, c } = compileProblem(script, text);
    const object = c ? await compileC(c) : undefined;
    // The agent never runs system() or signal(): nothing in its configuration can allow them.
    if (object && unsafeHelperCalls(object).length > 0) throw new Error('the script sends signals (signal()), which the agent does not allow');
    const lease = plan.probes.some((p) => p.where === 'user') ? await opts.feed.acquire() : undefined;
    const abort = new AbortController();
    let stopping = false;
    let started!: (control: SessionControl) => void;
    const ready = new Promise<SessionControl>((resolve) => (started = resolve));
    const prefix = `[${script.name}] `;
    const session = runSession(plan, object, {
      output: (stackLookup) =>
        createOutput({
          format: 'text',
          // Unless asked, an agent's log does not carry what its scripts print: a per-event printf
          // (kafka-lag prints each lag it sees) would flood it, and cost more than the metrics.
          write: script.print ? prefixedLines(prefix, opts.write) : () => {},
          writeError: prefixedLines(prefix, opts.writeError),
          stackLookup,
          script: { file: script.path, text },
        }),
      positional: script.args,
      signals: false,
      abort: abort.signal,
      ...(lease ? { kafkaFeed: lease.feed } : {}),
      onStarted: started,
    });
    // The session has detached its probes from the feed by the time it settles.
    if (lease) void session.then(lease.release, lease.release);
    const control = await Promise.race([ready, session.then((code) => Promise.reject(new Error(`stopped while starting (exit code ${code})`)))]);
    const ended = session.then(
      (code) => (stopping ? 'stopped' : `stopped on its own (exit code ${code})`),
      (e: unknown) => Promise.reject(e instanceof Error ? e : new Error(String(e))),
    );
    return {
      plan,
      control,
      ended,
      stop: async () => {
        stopping = true;
        abort.abort();
        await session.catch(() => {});
      },
    };
  };
}
