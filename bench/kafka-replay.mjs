#!/usr/bin/env node
// kafkatrace's own CPU per Kafka exchange, apart from the machine's noise: the capture's ring
// batches are recorded while Kafka's load tools run a round on a single-node Apache Kafka
// (kafka-producer-perf-test then kafka-consumer-perf-test, BENCH_REPLAY_RECORDS records each, the
// broker and both clients traced), then fed BENCH_REPLAY_PASSES times to a fresh decoder running
// kafka-overview's compiled probes, as `kafkatrace run kafka-overview` would on the live capture
// (sendfile's batch headers are read back from the broker's segments, which stay open). The figure
// is the median pass once warm (the first BENCH_REPLAY_WARM passes are left out, JIT compiling): ms
// of CPU per pass and µs per exchange decoded, and the firings it ran. Every other pass runs with the
// fast lane off (Produce and Fetch on the schema decoder's path), so that the lane's share is weighed
// within one run: its median is printed apart. Every pass must decode the same exchanges and fire the
// same probes, with no sendfile read failed, or the figure is INVALID.
// It has no target: it tells a change to the decoder or the interpreter apart from the throughput
// figures' noise (bench/kafka-apache.mjs).
// Needs root, a built kafkatrace (npm run build), build/ (node scripts/build-kafka.mjs) and Apache
// Kafka (scripts/install-kafka.sh); without Kafka or root it says so and is skipped.
// Environment: BENCH_REPLAY_RECORDS (records per tool run, default 1000000), BENCH_REPLAY_PASSES
// (default 20), BENCH_REPLAY_WARM (passes left out, default 6), and the Apache figure's
// BENCH_APACHE_VALUE (bytes per record, default 100) and BENCH_APACHE_PARTITIONS (default 3).
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { median, positive } from './common.mjs';
import { apacheBenchSetup, consumerPerf, producerPerf } from './kafka-apache.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TOOL = join(ROOT, 'stdlib', 'kafka-overview.ktr');
const fmt = (n, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const dist = (path) => import(pathToFileURL(join(ROOT, 'dist', 'src', path)).href);

export async function benchKafkaReplay() {
  const title = 'kafka replay';
  const setup = await apacheBenchSetup(title);
  if (!setup) return;
  const { apache, java, live, size, partitions, release } = setup;
  const records = positive('BENCH_REPLAY_RECORDS', 1_000_000);
  const passes = positive('BENCH_REPLAY_PASSES', 20);
  // At least one pass with the lane and one without are measured.
  const warm = Math.min(positive('BENCH_REPLAY_WARM', 6), Math.max(passes - 2, 0));
  const [{ startCapture }, { startKafkaFeed, startKafkaProbes }, { planScript }, { userMapsOf }, { createOutput }, { realSystem }] = await Promise.all([
    dist('kafka/capture/loader.js'), dist('runtime/kafka-source.js'), dist('compiler.js'), dist('runtime/user-maps.js'), dist('runtime/output.js'), dist('frontend/system.js'),
  ]);
  const source = readFileSync(TOOL, 'utf8');
  const cluster = await apache.startKafkaCluster({ brokers: 1 });
  try {
    apache.createTopics(cluster, { 'bench-apache': partitions });
    const batches = [];
    const capture = startCapture({}, (b) => batches.push(Buffer.from(b)));
    try {
      await producerPerf(live, java, cluster.bootstrap, records, size);
      await consumerPerf(live, java, cluster.bootstrap, records, 'bench-replay');
      // What waits in the ring for its next drain.
      const rest = capture.poll();
      if (rest.length > 0) batches.push(Buffer.from(rest));
    } finally {
      capture.close();
    }
    const bytes = batches.reduce((n, b) => n + b.length, 0);
    console.log(`${title} on Apache Kafka (one KRaft node): the capture's ring batches over kafka-producer-perf-test then kafka-consumer-perf-test, ${fmt(records)} records of ${size} bytes each, ${partitions} partitions (broker and clients traced), fed ${passes} times to kafka-overview's probes`);
    console.log(`  recorded         ${fmt(batches.length)} ring batches, ${fmt(bytes / 1024)} KiB`);
    const runs = [];
    const plan = planScript(source, TOOL, { positional: [], unsafe: false, system: realSystem() });
    if (!plan.ok) throw new Error(`${TOOL} does not compile: ${plan.diagnostics.map((d) => d.message).join('; ')}`);
    for (let pass = 0; pass < passes; pass++) {
      const output = createOutput({ format: 'text', write: () => {}, quiet: true });
      let feedBatch;
      const fake = (_options, onBatch) => {
        feedBatch = onBatch;
        const none = { handed: 0, ring: 0, afterLoss: 0, tooMany: 0, desyncs: 0 };
        return { probes: 0, lost: () => 0, frames: () => ({ out: none, in: none }), poll: () => Buffer.alloc(0), pause() {}, close() {} };
      };
      // A fresh decoder and fresh maps each pass, never cut into slices: a pass is timed whole.
      const lane = pass % 2 === 0;
      const feed = startKafkaFeed({ output, capture: {}, startCapture: fake, now: () => 0, lane });
      const probes = startKafkaProbes(plan.compiled.plan, { output, maps: userMapsOf(plan.compiled.plan), onExit() {}, feed });
      const cpu0 = process.cpuUsage();
      for (const b of batches) feedBatch(b);
      const cpu = process.cpuUsage(cpu0);
      const c = feed.counters();
      probes.stop();
      feed.close();
      runs.push({ lane, ms: (cpu.user + cpu.system) / 1000, exchanges: c.exchanges, firings: c.firings, unread: c.sendfileUnread });
    }
    const steady = runs.slice(warm);
    const ms = median(steady.filter((r) => r.lane).map((r) => r.ms));
    const withoutLane = steady.filter((r) => !r.lane).map((r) => r.ms);
    const { exchanges, firings } = runs[0];
    const same = runs.every((r) => r.exchanges === exchanges && r.firings === firings && r.unread === 0);
    console.log(`  passes           ${runs.map((r) => `${fmt(r.ms, 1)}${r.lane ? '' : '*'}`).join(' ')} ms of CPU (the first ${warm} left out: warming up; * the fast lane off)`);
    console.log(`  decoded          ${fmt(exchanges)} exchanges, ${fmt(firings)} probe firings per pass${same ? '' : `: INVALID, the passes differ (${runs.map((r) => `${r.exchanges}/${r.firings}/${r.unread} unread`).join(', ')})`}`);
    console.log(`  kafkatrace CPU   ${fmt(ms, 1)} ms per pass (median): ${fmt((ms * 1000) / exchanges, 2)} µs per exchange decoded, its probes run`);
    if (withoutLane.length > 0) {
      const off = median(withoutLane);
      console.log(`  fast lane off    ${fmt(off, 1)} ms per pass (median of the passes between): the lane saves ${fmt((1 - ms / off) * 100, 1)}% of kafkatrace's CPU here`);
    }
  } finally {
    for (const child of live) child.kill('SIGKILL');
    await cluster.stop();
    release();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  benchKafkaReplay().catch((e) => {
    process.stderr.write(`bench kafka-replay: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
