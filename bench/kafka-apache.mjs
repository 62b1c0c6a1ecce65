#!/usr/bin/env node
// Overhead on a real broker: Kafka's own load tools, kafka-producer-perf-test and
// kafka-consumer-perf-test (org.apache.kafka.tools.ProducerPerformance and ConsumerPerformance),
// against a single-node Apache Kafka (KRaft, src/demo/apache-kafka.ts starts it), untraced and traced
// by `kafkatrace run kafka-overview` (system-wide: the broker and both clients, all on this machine),
// alternating in one run (each way first in every other round), BENCH_REPS rounds. Throughput is the
// tools' own report; `lost` is 1 - traced/untraced, of the medians or the median of each round's
// ratio, whichever is larger, target under 3%. The figure is a long-running tracer's: each round,
// traced or not, first runs both tools over BENCH_APACHE_WARMUP records unmeasured, so that
// kafkatrace's JIT has compiled its hot paths (a fresh kafkatrace spends several times its steady CPU
// in its first million records); that warm-up's CPU is printed apart. Also kafkatrace's CPU (user +
// system of its process, from /proc) per 100 MB/s of Kafka traffic, the broker's CPU both ways, and
// the capture's losses as kafkatrace reports them at exit. A traced run in which kafkatrace saw no
// Kafka request makes the figure INVALID.
// Needs root, a built kafkatrace (npm run build), build/ (node scripts/build-kafka.mjs) and Apache
// Kafka (scripts/install-kafka.sh); without Kafka or root it says so and is skipped.
// Environment: BENCH_REPS (rounds, default 5), BENCH_APACHE_RECORDS (records per tool run, default
// 3000000), BENCH_APACHE_WARMUP (records per round's warm-up, default 2000000), BENCH_APACHE_VALUE
// (bytes per record, default 100), BENCH_APACHE_PARTITIONS (default 3); the one-run producer
// figure (producerWindows): BENCH_APACHE_CYCLES (traced phases, default 6), BENCH_APACHE_PHASE
// (seconds per phase, default 12).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { cpuSeconds, median, positive, startKafkatrace, verdict } from './common.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TOPIC = 'bench-apache';
const TOOL = 'kafka-overview';
const LOSS_TARGET = 3;
const fmt = (n) => Math.round(n).toLocaleString('en-US');
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').trim();
/** ProducerPerformance's report of a window (--reporting-interval) or of its whole run: records, records/s, MB/s. */
const SENT = /^(\d+) records sent, ([\d.]+) records\/sec \(([\d.]+) MB\/sec\)/;


/** Runs a child to its end; rejects with its output when it fails. */
export function runChild(live, cmd, args) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      live.delete(child);
      if (code !== 0) reject(new Error(`${args.find((a) => a.startsWith('org.apache')) ?? cmd} failed (${code}): ${(err + out).trim().slice(-600)}`));
      else resolvePromise(out);
    });
  });
}

/**
 * The tools, as `kafka-producer-perf-test.sh` and `kafka-consumer-perf-test.sh` run them. Returns
 * records/s and MB/s as the tool reports them (the producer: from its first send to its last
 * acknowledgement; the consumer: fetch.nMsg.sec and fetch.MB.sec, its time fetching, the group join
 * left out).
 */
export async function producerPerf(live, java, bootstrap, records, size) {
  const out = await runChild(live, 'java', java('org.apache.kafka.tools.ProducerPerformance', [
    '--topic', TOPIC, '--num-records', String(records), '--record-size', String(size), '--throughput', '-1',
    '--producer-props', `bootstrap.servers=${bootstrap}`, 'acks=1', 'client.id=bench-perf-producer',
  ]));
  // "1000000 records sent, 312012.5 records/sec (29.76 MB/sec), 12.3 ms avg latency, ...": the last such
  // line is the whole run's, the ones before it are interim reports.
  const m = [...out.matchAll(new RegExp(SENT, 'gm'))].at(-1);
  if (!m || Number(m[1]) !== records) throw new Error(`unexpected ProducerPerformance output: ${out.trim().split('\n').pop()}`);
  return { recordsPerSec: Number(m[2]), mbPerSec: Number(m[3]), mb: (records * size) / (1024 * 1024) };
}

export async function consumerPerf(live, java, bootstrap, records, group) {
  const out = await runChild(live, 'java', java('org.apache.kafka.tools.ConsumerPerformance', [
    '--bootstrap-server', bootstrap, '--topic', TOPIC, '--num-records', String(records), '--group', group,
    '--timeout', '60000', '--command-property', 'client.id=bench-perf-consumer',
  ]));
  // The header, then one line: start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg,
  // nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
  const lines = out.trim().split('\n');
  const header = lines.findIndex((l) => l.startsWith('start.time'));
  const cells = header >= 0 ? lines[header + 1]?.split(',').map((c) => c.trim()) : undefined;
  if (!cells || cells.length < 10 || Number(cells[4]) < records) throw new Error(`unexpected ConsumerPerformance output: ${out.trim()}`);
  return { recordsPerSec: Number(cells[9]), mbPerSec: Number(cells[8]), mb: Number(cells[2]) };
}


/**
 * What kafkatrace reported at exit: requests, records produced and fetched (every topic: Produce v13
 * and Fetch v13+ name topics by id, which need not resolve to the bench topic's name), losses.
 */
function tracerReport(t) {
  const sum = (re) => [...t.stdout.matchAll(re)].reduce((n, m) => n + Number(m[1]), 0);
  const figure = (re) => {
    const m = re.exec(t.stderr);
    return m ? Number(m[1]) : undefined;
  };
  return {
    requests: sum(/^@requests\[[^\]]*\]: (\d+)$/gm),
    recordsIn: sum(/^@records_in\[[^\]]*\]: (\d+)$/gm),
    recordsOut: sum(/^@records_out\[[^\]]*\]: (\d+)$/gm),
    lostEvents: sum(/^Lost (\d+) events$/gm),
    ringFull: figure(/Kafka frames lost: (\d+) ring buffer full/),
    afterLoss: figure(/, (\d+) after a loss/),
    desyncs: figure(/; (\d+) desyncs/),
  };
}

const signed = (x) => `${x >= 0 ? '+' : ''}${x.toFixed(1)}`;
const spread = (xs) => `${fmt(Math.min(...xs))}-${fmt(Math.max(...xs))}`;

/**
 * What the benches on Apache Kafka share: the broker's module, the settings from the environment,
 * how to run Kafka's tools, and `live`, the children a SIGINT kills until `release()`; undefined
 * (the reason printed under `title`) without Kafka or root.
 */
export async function apacheBenchSetup(title) {
  const apache = await import(pathToFileURL(join(ROOT, 'dist', 'src', 'demo', 'apache-kafka.js')).href);
  console.log('');
  const why = apache.apacheKafkaProblem() ?? (process.getuid?.() !== 0 ? 'tracing needs root' : undefined);
  if (why) {
    console.log(`${title}: skipped (${why})`);
    return undefined;
  }
  const live = new Set();
  const onSigint = () => {
    for (const child of live) child.kill('SIGKILL');
  };
  process.on('SIGINT', onSigint);
  return {
    apache,
    reps: positive('BENCH_REPS', 5),
    records: positive('BENCH_APACHE_RECORDS', 3_000_000),
    warmup: positive('BENCH_APACHE_WARMUP', 2_000_000),
    size: positive('BENCH_APACHE_VALUE', 100),
    partitions: positive('BENCH_APACHE_PARTITIONS', 3),
    java: (main, args) => apache.javaArgs([`${apache.kafkaLibsDir()}/*`], main, args, ['-Xmx512m']),
    live,
    release: () => process.off('SIGINT', onSigint),
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const mean = (xs) => xs.reduce((n, x) => n + x, 0) / xs.length;

/**
 * The producer's loss within one long run of kafka-producer-perf-test (one JVM, warm throughout):
 * kafkatrace is started and stopped in turn while the tool runs, and the tool's interim reports
 * (one per window) are compared, so neither the tool's start-up and JIT nor a drift between separate
 * runs lands on one side only, as it can in the rounds above. Untraced phases come before and after
 * every traced one, each traced phase is set against the mean of the two around it. A window counts
 * as untraced when no kafkatrace ran at any time in it, as traced when kafkatrace had been attached
 * for SETTLE_MS (its start-up CPU: the rounds print it) and was not stopping; the others are left out.
 */
async function producerWindows(setup, cluster) {
  const { java, live, size } = setup;
  const cycles = positive('BENCH_APACHE_CYCLES', 6);
  const phaseMs = positive('BENCH_APACHE_PHASE', 12) * 1000;
  const WINDOW_MS = 2000;
  const SETTLE_MS = 4000;
  console.log(`  producer, one run: kafka-producer-perf-test producing throughout (one JVM, warmed up for 10 s), kafkatrace started and stopped ${cycles} times, ${phaseMs / 1000} s untraced before and after each ${phaseMs / 1000} s traced; the tool's reports every ${WINDOW_MS / 1000} s compared, those while kafkatrace started (through ${SETTLE_MS / 1000} s after it attached) or stopped left out`);
  const tool = spawn('java', java('org.apache.kafka.tools.ProducerPerformance', [
    '--topic', TOPIC, '--num-records', '2000000000', '--record-size', String(size), '--throughput', '-1',
    '--reporting-interval', String(WINDOW_MS), '--producer-props', `bootstrap.servers=${cluster.bootstrap}`, 'acks=1', 'client.id=bench-perf-windows',
  ]), { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(tool);
  /** The tool's reports as they came: when, records/s and MB/s over the window before, kafkatrace's CPU then. */
  const reports = [];
  /** Each kafkatrace run: when it was spawned, attached, asked to stop and exited (ms), and its exit report. */
  const tracers = [];
  let running;
  createInterface({ input: tool.stdout }).on('line', (line) => {
    const m = SENT.exec(line);
    if (m) reports.push({ at: Date.now(), rate: Number(m[2]), mb: Number(m[3]), cpu: running ? cpuSeconds(running.child.pid) : 0 });
  });
  let failed = '';
  tool.stderr.setEncoding('utf8').on('data', (d) => (failed += d));
  const toolExit = new Promise((r) => tool.on('close', (code) => {
    live.delete(tool);
    r(code);
  }));
  const phase = async () => {
    await Promise.race([sleep(phaseMs), toolExit]);
    if (tool.exitCode !== null || tool.signalCode !== null) throw new Error(`kafka-producer-perf-test stopped early: ${failed.trim().slice(-300)}`);
  };
  try {
    await sleep(10_000);
    for (let c = 0; c < cycles; c++) {
      await phase();
      const run = { spawned: Date.now() };
      running = await startKafkatrace(live, ['run', TOOL, '-v']);
      run.attached = Date.now();
      await sleep(SETTLE_MS);
      await phase();
      run.stopping = Date.now();
      running.child.kill('SIGINT');
      await running.exited;
      run.exited = Date.now();
      run.report = tracerReport(running);
      running = undefined;
      tracers.push(run);
    }
    await phase();
  } finally {
    tool.kill('SIGKILL');
    await toolExit;
  }
  // A window is (the report before it, this report]; the first has no start and is left out.
  const windows = reports.slice(1).map((r, i) => ({ from: reports[i].at, to: r.at, rate: r.rate, mb: r.mb, cpu: r.cpu - reports[i].cpu }));
  const untracedIn = (w) => tracers.every((t) => w.to < t.spawned || w.from > t.exited);
  const tracedBy = (w) => tracers.findIndex((t) => w.from >= t.attached + SETTLE_MS && w.to <= t.stopping);
  // Phase k: untraced ones are 0..cycles (before tracer k and after the last), traced ones 0..cycles-1.
  const untracedPhase = (w) => tracers.filter((t) => t.exited < w.from).length;
  const untraced = Array.from({ length: cycles + 1 }, () => []);
  const traced = Array.from({ length: cycles }, () => []);
  for (const w of windows) {
    const k = tracedBy(w);
    if (k >= 0) traced[k].push(w);
    else if (untracedIn(w)) untraced[untracedPhase(w)].push(w);
  }
  if (untraced.some((ws) => ws.length === 0) || traced.some((ws) => ws.length === 0)) {
    console.log(`    INVALID: a phase had no whole window (untraced ${untraced.map((ws) => ws.length).join('/')}, traced ${traced.map((ws) => ws.length).join('/')})`);
    return;
  }
  const rate = (ws) => mean(ws.map((w) => w.rate));
  const ratios = traced.map((ws, k) => rate(ws) / ((rate(untraced[k]) + rate(untraced[k + 1])) / 2));
  const allUntraced = untraced.flat();
  const allTraced = traced.flat();
  const b = median(allUntraced.map((w) => w.rate));
  const t = median(allTraced.map((w) => w.rate));
  const loss = Math.max((1 - t / b) * 100, (1 - median(ratios)) * 100);
  const phases = untraced.map(rate);
  const noise = ((Math.max(...phases) - Math.min(...phases)) / median(phases)) * 100;
  const valid = tracers.every((r) => r.report.requests > 0);
  console.log(`    untraced ${allUntraced.length} windows, median ${fmt(b)} rec/s (phases ${spread(phases)}); traced ${allTraced.length} windows, median ${fmt(t)} rec/s (phases ${spread(traced.map(rate))})`);
  console.log(`    traced/untraced ${(t / b).toFixed(3)}x of the medians; per traced phase (against the untraced phases around it) ${ratios.map((x) => `${x.toFixed(3)}x`).join(' ')}, median ${median(ratios).toFixed(3)}x`);
  console.log(`    lost ${loss.toFixed(1)}% (the larger)  ${valid ? `${verdict(loss < LOSS_TARGET, `< ${LOSS_TARGET}%`)}${noise > 2 * LOSS_TARGET ? ` (NOISY: the untraced phases differ by ${noise.toFixed(0)}% of their median)` : ''}` : 'INVALID: kafkatrace saw no Kafka request in a traced phase'}`);
  const seconds = allTraced.reduce((n, w) => n + (w.to - w.from) / 1000, 0);
  const cpu = allTraced.reduce((n, w) => n + w.cpu, 0);
  const mbps = mean(allTraced.map((w) => w.mb));
  console.log(`    kafkatrace ${((cpu / seconds) * 100).toFixed(1)}% of a core over the traced windows, at ${mbps.toFixed(1)} MB/s produced (${((cpu / seconds) * 100 * (100 / mbps)).toFixed(1)}% per 100 MB/s); lost ${tracers.reduce((n, r) => n + r.report.lostEvents, 0)} events`);
}

export async function benchApacheKafka() {
  const setup = await apacheBenchSetup('kafka on Apache Kafka');
  if (!setup) return;
  const { apache, reps, records, warmup, size, partitions, java, live, release } = setup;
  const cluster = await apache.startKafkaCluster({ brokers: 1 });
  try {
    apache.createTopics(cluster, { [TOPIC]: partitions });
    const broker = cluster.nodes[0].pid;
    console.log(`kafka on Apache Kafka ${apache.apacheKafkaVersion()} (one KRaft node): kafka-producer-perf-test then kafka-consumer-perf-test, ${fmt(records)} records of ${size} bytes each, ${partitions} partitions, acks=1; ${reps} rounds, untraced and traced (each first in every other round) by \`kafkatrace run ${TOOL}\` (system-wide: broker and clients), each after a warm-up of ${fmt(warmup)} records`);
    console.log(`  load average at start: ${loadavg()}`);
    const runs = { untraced: [], traced: [] };
    let valid = true;
    for (let round = 1; round <= reps; round++) {
      // Untraced first in odd rounds, traced first in even ones: a drift over the run (the broker's log
      // growing, the machine warming) falls on both ways alike.
      for (const way of round % 2 === 1 ? ['untraced', 'traced'] : ['traced', 'untraced']) {
        const t = way === 'traced' ? await startKafkatrace(live, ['run', TOOL, '-v']) : undefined;
        await producerPerf(live, java, cluster.bootstrap, warmup, size);
        await consumerPerf(live, java, cluster.bootstrap, warmup, `bench-warm-${way}-${round}`);
        const tracer0 = t ? cpuSeconds(t.child.pid) : 0;
        const broker0 = cpuSeconds(broker);
        const produce = await producerPerf(live, java, cluster.bootstrap, records, size);
        const consume = await consumerPerf(live, java, cluster.bootstrap, records, `bench-${way}-${round}`);
        const brokerCpu = cpuSeconds(broker) - broker0;
        const run = { produce, consume, brokerCpu, load: loadavg().split(' ')[0] };
        let extra = '';
        if (t) {
          run.tracerCpu = cpuSeconds(t.child.pid) - tracer0;
          run.warmupCpu = tracer0;
          t.child.kill('SIGINT');
          await t.exited;
          run.report = tracerReport(t);
          if (run.report.requests === 0) valid = false;
          const r = run.report;
          extra = `  kafkatrace ${run.tracerCpu.toFixed(2)} s CPU (${run.warmupCpu.toFixed(2)} s from its start through the warm-up), saw ${fmt(r.requests)} requests, ${fmt(r.recordsIn)} records in and ${fmt(r.recordsOut)} out (every topic); lost ${r.lostEvents} events (${r.ringFull ?? '?'} frames ring full, ${r.afterLoss ?? '?'} after a loss, ${r.desyncs ?? '?'} desyncs)`;
        }
        runs[way].push(run);
        console.log(`  round ${round} ${way.padEnd(9)} produce ${fmt(produce.recordsPerSec)} rec/s ${produce.mbPerSec.toFixed(1)} MB/s, consume ${fmt(consume.recordsPerSec)} rec/s ${consume.mbPerSec.toFixed(1)} MB/s, broker ${brokerCpu.toFixed(2)} s CPU, load ${run.load}${extra}`);
      }
    }
    const summary = (pick, label) => {
      const base = runs.untraced.map((r) => r[pick]);
      const traced = runs.traced.map((r) => r[pick]);
      const b = median(base.map((x) => x.recordsPerSec));
      const t = median(traced.map((x) => x.recordsPerSec));
      // Each round's own ratio too: the two ways of a round ran minutes apart at most, so a drift over
      // the run cancels in it. The verdict takes the larger of the two losses.
      const paired = runs.traced.map((r, i) => r[pick].recordsPerSec / runs.untraced[i][pick].recordsPerSec);
      const pairedLoss = (1 - median(paired)) * 100;
      const loss = Math.max((1 - t / b) * 100, pairedLoss);
      // How far apart the untraced rounds are: a figure cannot resolve a loss smaller than that.
      const noise = ((Math.max(...base.map((x) => x.recordsPerSec)) - Math.min(...base.map((x) => x.recordsPerSec))) / b) * 100;
      const noisy = noise > 2 * LOSS_TARGET ? ` (NOISY: the untraced rounds differ by ${noise.toFixed(0)}% of their median)` : '';
      console.log(`  ${label.padEnd(9)} untraced ${fmt(b)} rec/s ${median(base.map((x) => x.mbPerSec)).toFixed(1)} MB/s (rounds ${spread(base.map((x) => x.recordsPerSec))}), traced ${fmt(t)} rec/s ${median(traced.map((x) => x.mbPerSec)).toFixed(1)} MB/s (rounds ${spread(traced.map((x) => x.recordsPerSec))})`);
      console.log(`  ${''.padEnd(9)} traced/untraced ${(t / b).toFixed(3)}x of the medians; per round ${paired.map((x) => `${x.toFixed(3)}x`).join(' ')}, median ${median(paired).toFixed(3)}x`);
      console.log(`  ${''.padEnd(9)} lost ${loss.toFixed(1)}% (the larger)  ${valid ? `${verdict(loss < LOSS_TARGET, `< ${LOSS_TARGET}%`)}${noisy}` : 'INVALID: kafkatrace saw no Kafka request in a traced run'}`);
    };
    summary('produce', 'producer');
    summary('consume', 'consumer');
    // Kafka traffic: the records' bytes produced and fetched; each traced byte crosses one loopback
    // connection, seen at both its ends.
    const tracerCpu = runs.traced.reduce((n, r) => n + r.tracerCpu, 0);
    const trafficMb = runs.traced.reduce((n, r) => n + r.produce.mb + r.consume.mb, 0);
    const warmupCpu = median(runs.traced.map((r) => r.warmupCpu));
    console.log(`  kafkatrace warm  ${warmupCpu.toFixed(2)} s CPU per start (median) from its start through the warm-up's ${fmt(warmup)} records each way, not counted below`);
    console.log(`  kafkatrace CPU   ${tracerCpu.toFixed(2)} s over ${fmt(trafficMb)} MB produced and fetched: ${((tracerCpu / trafficMb) * 100 * 100).toFixed(1)}% of a core per 100 MB/s`);
    const brokerBase = median(runs.untraced.map((r) => r.brokerCpu));
    const brokerTraced = median(runs.traced.map((r) => r.brokerCpu));
    console.log(`  broker CPU       ${brokerBase.toFixed(2)} s untraced, ${brokerTraced.toFixed(2)} s traced per round (${signed(((brokerTraced - brokerBase) / brokerBase) * 100)}%: the capture runs inside its syscalls)`);
    const lost = runs.traced.reduce((n, r) => n + r.report.lostEvents, 0);
    const ringFull = runs.traced.reduce((n, r) => n + (r.report.ringFull ?? 0), 0);
    console.log(`  capture losses   ${lost} events lost, ${ringFull} frames lost to a full ring buffer, over ${reps} traced rounds`);
    await producerWindows(setup, cluster);
    console.log(`  load average at end: ${loadavg()}`);
  } finally {
    for (const child of live) child.kill('SIGKILL');
    await cluster.stop();
    release();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  benchApacheKafka().catch((e) => {
    process.stderr.write(`bench kafka-apache: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
