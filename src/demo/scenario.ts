// The demo's Kafka workload, all of it real processes talking the real protocol over TCP: a producer
// at a steady rate and a consumer group of kcat members (librdkafka), against the mock broker. Midway
// a third member joins and later one leaves, so the group rebalances while it is traced.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

interface ScenarioOptions {
  bootstrap: string;
  topic: string;
  group: string;
  durationMs: number;
  /** A step of the scenario, for the event log. */
  note: (text: string) => void;
  /** A client that ended on its own, with what it said last. */
  failed: (text: string) => void;
}

/** Records the producer writes per second. */
const PRODUCE_RATE = 50;
/** Fractions of the run at which the third member joins and the first leaves. */
const JOIN_AT = 0.3;
const LEAVE_AT = 0.6;
/** Short group timeouts, so that rebalances finish within seconds on the mock broker. */
const GROUP_CONFIG = ['-X', 'session.timeout.ms=3000', '-X', 'heartbeat.interval.ms=300'];
const STOP_GRACE_MS = 3000;
const STDERR_KEEP = 2048;

/** Why kcat cannot run here, or undefined when it can. */
export function kcatProblem(): string | undefined {
  const r = spawnSync('kcat', ['-V'], { stdio: 'ignore' });
  if (r.error) return 'the demo needs kcat (Debian package kcat; scripts/install-deps.sh installs it)';
  return undefined;
}

interface Client {
  name: string;
  child: ChildProcess;
  exited: Promise<void>;
  stopping: boolean;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** The last resort when the process ends without stop(): no kcat outlives the demo. */
function killAllOnExit(): void {
  for (const child of live) child.kill('SIGKILL');
}

/** One JSON order of about 100 bytes; its fields vary so that batches do not compress to nothing. */
function order(n: number): string {
  return JSON.stringify({ order: n, customer: `c-${(n * 7919) % 1000}`, amount: ((n * 37) % 10000) / 100, items: 1 + (n % 5), note: 'kafkatrace demo' });
}

export class Scenario {
  private readonly clients: Client[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private stopped = false;

  constructor(private readonly o: ScenarioOptions) {
    if (!exitHookInstalled) {
      process.on('exit', killAllOnExit);
      exitHookInstalled = true;
    }
  }

  start(): void {
    const { o } = this;
    this.startProducer();
    this.startConsumer(1);
    this.startConsumer(2);
    o.note(`producer demo-producer writes ${PRODUCE_RATE} records/s to ${o.topic}; demo-consumer-1 and -2 join ${o.group}`);
    this.at(o.durationMs * JOIN_AT, () => {
      o.note('demo-consumer-3 starts: the group rebalances to three members');
      this.startConsumer(3);
    });
    this.at(o.durationMs * LEAVE_AT, () => {
      o.note('demo-consumer-1 stops: the group rebalances to two members');
      const first = this.clients.find((c) => c.name === 'demo-consumer-1');
      if (first) void this.stopClient(first);
    });
  }

  /** Stops every client (gracefully, then by force) and waits for them to exit; safe to call twice. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.splice(0)) clearTimeout(t);
    await Promise.all(this.clients.map((c) => this.stopClient(c)));
  }

  private at(ms: number, step: () => void): void {
    this.timers.push(
      setTimeout(() => {
        if (!this.stopped) step();
      }, ms),
    );
  }

  private spawnClient(name: string, args: string[], stdin: 'pipe' | 'ignore'): Client {
    // Its own process group: Ctrl-C at a terminal reaches the demo alone, which then stops the
    // clients in order (consumers leaving their group) instead of having them die under it. setpriv
    // execs kcat with a parent-death signal: a demo killed without a chance to stop them (SIGKILL)
    // takes them along, where they would otherwise run until their next write to the closed pipe.
    const child = spawn('setpriv', ['--pdeathsig', 'KILL', 'kcat', ...args], { stdio: [stdin, 'ignore', 'pipe'], detached: true });
    live.add(child);
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-STDERR_KEEP)));
    const client: Client = { name, child, stopping: false, exited: Promise.resolve() };
    client.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        live.delete(child);
        if (!client.stopping && !this.stopped) {
          const said = stderr.trim().split('\n').pop() ?? '';
          this.o.failed(`${name} exited (${signal ?? `status ${code}`})${said ? `: ${said}` : ''}`);
        }
        resolve();
      });
      child.once('error', (e) => {
        live.delete(child);
        if (!this.stopped) this.o.failed(`cannot run kcat for ${name}: ${e.message}`);
        resolve();
      });
    });
    this.clients.push(client);
    return client;
  }

  private startProducer(): void {
    const { o } = this;
    const client = this.spawnClient('demo-producer', ['-P', '-b', o.bootstrap, '-t', o.topic, '-X', 'client.id=demo-producer'], 'pipe');
    const stdin = client.child.stdin!;
    // kcat may exit first (a failure, or Ctrl-C reaching the whole process group).
    stdin.on('error', () => undefined);
    let n = 0;
    const tick = setInterval(() => {
      if (client.stopping || this.stopped) clearInterval(tick);
      else stdin.write(order(n++) + '\n');
    }, 1000 / PRODUCE_RATE);
    void client.exited.then(() => clearInterval(tick));
  }

  private startConsumer(index: number): void {
    const { o } = this;
    const name = `demo-consumer-${index}`;
    this.spawnClient(name, ['-b', o.bootstrap, '-G', o.group, ...GROUP_CONFIG, '-X', `client.id=${name}`, '-q', o.topic], 'ignore');
  }

  private async stopClient(c: Client): Promise<void> {
    const child = c.child;
    c.stopping = true;
    if (child.exitCode === null && child.signalCode === null) {
      child.stdin?.end();
      // kcat ends on SIGTERM the clean way: a consumer leaves its group, a producer flushes.
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await c.exited;
      clearTimeout(timer);
    }
    await c.exited;
  }
}
