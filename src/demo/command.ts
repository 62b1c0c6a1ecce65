// `kafkatrace demo`: a Kafka broker (librdkafka's mock cluster, or Apache Kafka when asked and
// installed), a producer and a consumer group that rebalances, traced by the demo script through the
// real runtime and shown live; everything it started is stopped at the end, on Ctrl-C and on SIGTERM.
import { errorLine, isKtError } from '../errors.js';
import { formatDiagnostic } from '../frontend/diagnostics.js';
import { realSystem } from '../frontend/system.js';
import { apacheKafkaProblem, apacheKafkaVersion, createTopics, startKafkaCluster } from './apache-kafka.js';
import { startMockBroker } from './mock-broker.js';
import type { Plan } from '../plan/types.js';
import type { Output } from '../runtime/output.js';
import { privilegeProblem } from '../runtime/privileges.js';
import { runSession, type SessionControl } from '../runtime/session.js';
import type { MapSnapshot } from '../runtime/values.js';
import { DemoLog } from './events.js';
import { Frames, type DemoSetting } from './frames.js';
import { kcatProblem, Scenario } from './scenario.js';
import { liveScreen, plainScreen, type Screen } from './screen.js';
import { DEMO_SCRIPT } from './script.js';
import { renderView } from './view.js';

const DEFAULT_DURATION_MS = 20_000;
const TOPIC = 'demo-orders';
const GROUP = 'kafkatrace-demo';
const DEMO_FILE = 'demo.ktr';
const PARTITIONS = 3;
/** How often the live view redraws, and how often plain output prints a frame. */
const LIVE_REFRESH_MS = 1000;
const PLAIN_REFRESH_MS = 5000;

export const DEMO_HELP = `kafkatrace demo: watch Kafka traffic and consumer-group rebalances, traced live

USAGE
  kafkatrace demo [--kafka mock|apache] [--duration TIME] [--no-color]

Starts a Kafka broker with the topic ${TOPIC} (${PARTITIONS} partitions): by default a mock one
(librdkafka's mock cluster, quick to start); with --kafka apache a single-node Apache Kafka (KRaft)
in a temporary directory, ready in some seconds. Then a kcat producer writing a steady stream of
records, and the consumer group ${GROUP} of two kcat members. A third member joins after 30%
of the run and the first leaves after 60%, so the group rebalances while you watch. A kafkatrace
script (kafka:produce, kafka:fetch, kafka:request, kafka:rebalance, kafka:joingroup,
kafka:leavegroup) traces it all through the syscall capture, and the screen shows, per second:
records and bytes in and out per topic, records per producer and consumer client id, requests and
latency per API, and each rebalance, join and leave as it happens.
At the end, on Ctrl-C or on SIGTERM, everything the demo started is stopped and it exits 0.

On a terminal the view redraws in place, in colour unless --no-color or NO_COLOR is set; when
standard output is not a terminal, plain-text frames are printed every ${PLAIN_REFRESH_MS / 1000} s.

OPTIONS
  --kafka mock|apache
                    the broker: mock (default), or Apache Kafka as scripts/install-kafka.sh
                    installs it
  --duration TIME   how long to run (default ${DEFAULT_DURATION_MS / 1000}s; e.g. 12s, 1m)
  --no-color        no colour on a terminal
  -h, --help        this help

Needs root (it loads BPF programs) and kcat (scripts/install-deps.sh installs both the Debian
packages and the mock broker); --kafka apache also needs java and scripts/install-kafka.sh.
`;

/** What the demo takes from its command line. */
interface DemoOptions {
  help?: boolean;
  /** The broker: mock unless asked. */
  demoKafka?: 'mock' | 'apache';
  durationMs?: number;
  noColor: boolean;
}

export interface DemoIo {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WritableStream;
}

/** The runtime's output for the demo script: its printf records feed the log, nothing is printed. */
function demoOutput(log: DemoLog, atExit: (maps: MapSnapshot[]) => void): Output {
  return {
    attached() {},
    event(e) {
      if (!log.record(e) && !e.ok) log.note('error', e.error);
      return true;
    },
    printMap() {},
    printMaps(all, o = {}) {
      if (o.atExit ?? true) atExit(all);
    },
    lost() {},
    kafkaHealth() {},
    mapFull(d, atExit) {
      if (!atExit) log.note('error', `map ${d.name} is full (${d.maxKeys} keys): updates that add a key are dropped`);
    },
    error(message) {
      log.note('error', message);
    },
    warning(message) {
      log.note('error', message);
    },
    syscall() {},
    outOfWatchpoints() {},
    helperError(helper, retcode) {
      log.note('error', `${helper} failed (${retcode})`);
    },
    flush() {},
  };
}

/** The port of the first broker of "127.0.0.1:PORT,...". */
function brokerPort(bootstrap: string): string {
  return bootstrap.split(',')[0]!.split(':').pop()!;
}

function problem(kafka: 'mock' | 'apache'): string | undefined {
  if (privilegeProblem()) return 'the demo needs root (or CAP_BPF and CAP_PERFMON): it loads BPF programs';
  return kcatProblem() ?? (kafka === 'apache' ? apacheKafkaProblem() : undefined);
}

interface DemoBroker {
  /** What it is, for the header. */
  name: string;
  bootstrap: string;
  stop(): Promise<void>;
}

/**
 * Kafka's own settings for the demo: its consumers' short session timeouts (under the broker's
 * 6 s minimum), so that a member that leaves is noticed within seconds as on the mock.
 */
const APACHE_SETTINGS = { 'group.min.session.timeout.ms': '1000' };

async function startBroker(kafka: 'mock' | 'apache', signal: AbortSignal): Promise<DemoBroker> {
  if (kafka === 'mock') {
    const mock = await startMockBroker({ topics: { [TOPIC]: PARTITIONS } });
    return { name: 'mock Kafka', bootstrap: mock.bootstrap, stop: mock.stop };
  }
  const cluster = await startKafkaCluster({ brokers: 1, settings: APACHE_SETTINGS, signal });
  try {
    createTopics(cluster, { [TOPIC]: PARTITIONS });
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  return { name: `Apache Kafka ${apacheKafkaVersion()}`, bootstrap: cluster.bootstrap, stop: cluster.stop };
}

/**
 * The demo script's plan and object; a script of kafkatrace's own that does not compile is its bug.
 * The compiler is loaded only when the demo runs (not for --help or a missing prerequisite).
 */
async function compileDemo(positional: string[]): Promise<{ plan: Plan; object: Buffer | undefined }> {
  const [{ planScript }, { compileC }] = await Promise.all([import('../compiler.js'), import('../codegen/clang.js')]);
  const r = planScript(DEMO_SCRIPT, DEMO_FILE, { positional, unsafe: false, system: realSystem() });
  if (!r.ok) throw new Error(`the demo script does not compile:\n${r.diagnostics.map((d) => formatDiagnostic(d, DEMO_SCRIPT)).join('\n')}`);
  return { plan: r.compiled.plan, object: r.compiled.c ? await compileC(r.compiled.c) : undefined };
}

export async function demo(opts: DemoOptions, io: DemoIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  if (opts.help) {
    io.stdout.write(DEMO_HELP);
    return 0;
  }
  const kafka = opts.demoKafka ?? 'mock';
  const why = problem(kafka);
  if (why) {
    io.stderr.write(errorLine(why));
    return 1;
  }

  // One handler for the whole run, so that a signal during start-up or clean-up also ends the demo
  // in order instead of killing it with its clients still running.
  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const s of signals) process.on(s, onSignal);
  // A reader that went away (`kafkatrace demo | head`) ends the demo the same way.
  io.stdout.on('error', onSignal);
  let broker: DemoBroker | undefined;
  let scenario: Scenario | undefined;
  let screen: Screen | undefined;
  let ticker: NodeJS.Timeout | undefined;
  try {
    broker = await startBroker(kafka, abort.signal);
    if (abort.signal.aborted) return 0;
    const positional = [brokerPort(broker.bootstrap), GROUP];
    const { plan, object } = await compileDemo(positional);
    const durationMs = opts.durationMs ?? DEFAULT_DURATION_MS;
    const setting: DemoSetting = { broker: broker.name, bootstrap: broker.bootstrap, topic: TOPIC, partitions: PARTITIONS, group: GROUP, durationMs };
    const live = io.stdout.isTTY === true;
    const color = live && !opts.noColor;
    // A terminal's last row stays free (the screen leaves it so); its height is read anew each frame.
    const viewOptions = () => ({ color, ...(live ? { rows: Math.max(1, (io.stdout.rows ?? 24) - 1) } : {}) });
    const shown: Screen = live ? liveScreen(io.stdout) : plainScreen((s) => void io.stdout.write(s));
    screen = shown;
    let startedAt = Date.now();
    const elapsed = (): number => Date.now() - startedAt;
    const log = new DemoLog(elapsed);
    const frames = new Frames(setting, log, live ? 'live' : 'plain');
    const run = new Scenario({
      ...setting,
      note: (text) => log.note('scenario', text),
      failed: (text) => log.note('error', text),
    });
    scenario = run;
    let control: SessionControl | undefined;
    const lost = (): number => Number(control?.health().eventsLost ?? 0n);
    let lastMaps: MapSnapshot[] = [];
    let lostAtStop = 0;
    await runSession(plan, object, {
      output: demoOutput(log, (maps) => (lastMaps = maps)),
      durationMs,
      positional,
      signals: false,
      abort: abort.signal,
      onStarted: (c) => {
        control = c;
        startedAt = Date.now();
        run.start();
        const draw = (): void => shown.draw(renderView(frames.next(c.snapshots(), elapsed(), lost()), viewOptions()));
        // A terminal shows the (empty) view at once; plain output waits for figures worth printing.
        if (live) draw();
        ticker = setInterval(draw, live ? LIVE_REFRESH_MS : PLAIN_REFRESH_MS);
      },
      onStop: () => {
        clearInterval(ticker);
        lostAtStop = lost();
      },
    });
    shown.draw(renderView(frames.final(lastMaps, elapsed(), lostAtStop), viewOptions()));
    return 0;
  } catch (e) {
    // Ctrl-C while Apache Kafka was starting: it is stopped, and the demo ends as it does on Ctrl-C.
    if (abort.signal.aborted && isKtError(e, 'apache-kafka')) return 0;
    if (isKtError(e, 'mock-broker', 'apache-kafka')) {
      io.stderr.write(errorLine(e.message));
      return 1;
    }
    throw e;
  } finally {
    clearInterval(ticker);
    screen?.close();
    await scenario?.stop();
    await broker?.stop();
    for (const s of signals) process.off(s, onSignal);
    io.stdout.off('error', onSignal);
  }
}
