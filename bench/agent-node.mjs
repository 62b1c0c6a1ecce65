#!/usr/bin/env node
// Per-node overhead of the agent: `kafkatrace agent` running the five Kafka stdlib tools
// (kafka-overview, kafka-lag, kafka-rebalances, kafka-latency, kafka-errors) beside a single-node
// Apache Kafka under Kafka's own load tools (kafka-producer-perf-test, then
// kafka-consumer-perf-test), and the same tools with no agent, alternating in one run, BENCH_REPS
// rounds. Prints the agent's CPU (user + system of its process, /proc) per 100 MB/s of Kafka traffic,
// its resident memory after each round and at its peak (VmHWM), the tools' throughput both ways, and
// what the agent's /metrics said at the end (records seen, events lost, decoder failures), so that a
// run in which it saw nothing is INVALID rather than cheap.
// Needs root, a built kafkatrace (npm run build), build/ (node scripts/build-kafka.mjs) and Apache
// Kafka (scripts/install-kafka.sh); without Kafka or root it says so and is skipped.
// Environment: BENCH_REPS (rounds, default 5), BENCH_APACHE_RECORDS (records per tool run, default
// 3000000), BENCH_APACHE_VALUE (bytes per record, default 100), BENCH_APACHE_PARTITIONS (default 3).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuSeconds, median } from './common.mjs';
import { apacheBenchSetup, consumerPerf, producerPerf } from './kafka-apache.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'kafkatrace.js');
const TOPIC = 'bench-apache';
const TOOLS = { overview: 'kafka-overview', lag: 'kafka-lag', rebalances: 'kafka-rebalances', latency: 'kafka-latency', errors: 'kafka-errors' };
const fmt = (n) => Math.round(n).toLocaleString('en-US');
const mib = (kib) => `${(kib / 1024).toFixed(0)} MiB`;

/** VmRSS and VmHWM of a process, in KiB. */
function memory(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: field('VmRSS'), hwm: field('VmHWM') };
}

function freePort() {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolvePort(port));
    });
  });
}

async function get(url) {
  const r = await fetch(url);
  return { status: r.status, text: await r.text() };
}

/** Starts the agent and waits until /healthz says every script runs. */
async function startAgent(live, dir) {
  const port = await freePort();
  const config = join(dir, 'agent.yml');
  const scripts = Object.entries(TOOLS).map(([name, tool]) => `  - {name: ${name}, tool: ${tool}}`).join('\n');
  writeFileSync(config, `listen: 127.0.0.1:${port}\nlabels: {cluster: bench, node: node-1}\nscripts:\n${scripts}\n`, { mode: 0o600 });
  const child = spawn(process.execPath, [BIN, 'agent', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  live.add(child);
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
  const exited = new Promise((r) => child.on('close', (code) => {
    live.delete(child);
    r(code);
  }));
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`the agent exited: ${stderr.trim()}`);
    if (i > 600) throw new Error(`the agent did not run its scripts within 60 s: ${stderr.trim()}`);
    try {
      const h = await get(`${base}/healthz`);
      const states = JSON.parse(h.text).scripts.map((s) => s.state);
      if (states.length === Object.keys(TOOLS).length && states.every((s) => s === 'running')) break;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, exited, base, stderr: () => stderr };
}

/** The sum of a metric's series in Prometheus text, optionally only those whose labels match `where`. */
function total(text, metric, where = /.*/) {
  let n = 0;
  for (const m of text.matchAll(new RegExp(`^${metric}(\\{[^}]*\\})? (\\S+)$`, 'gm'))) if (where.test(m[1] ?? '')) n += Number(m[2]);
  return n;
}

export async function benchAgentNode() {
  const setup = await apacheBenchSetup('agent per node');
  if (!setup) return;
  const { apache, reps, records, size, partitions, java, live, release } = setup;
  const dir = mkdtempSync(join(tmpdir(), 'kt-bench-agent-'));
  const cluster = await apache.startKafkaCluster({ brokers: 1 });
  let agent;
  try {
    apache.createTopics(cluster, { [TOPIC]: partitions });
    console.log(`agent per node on Apache Kafka ${apache.apacheKafkaVersion()} (one KRaft node): \`kafkatrace agent\` with ${Object.values(TOOLS).join(', ')} (system-wide: broker and clients); kafka-producer-perf-test then kafka-consumer-perf-test, ${fmt(records)} records of ${size} bytes, ${partitions} partitions, acks=1; ${reps} rounds, without and with the agent (each first in every other round)`);
    await producerPerf(live, java, cluster.bootstrap, records, size);
    await consumerPerf(live, java, cluster.bootstrap, records, 'bench-agent-warm-up');
    const rounds = { without: [], with: [] };
    let valid = true;
    for (let round = 1; round <= reps; round++) {
      // Without first in odd rounds, with first in even ones, as in the Apache figure: a drift over the
      // run falls on both ways alike.
      for (const way of round % 2 === 1 ? ['without', 'with'] : ['with', 'without']) {
        // A fresh agent each round, started (its scripts compiled and attached) before the tools and
        // stopped after them: "without" has no kafkatrace program loaded at all.
        if (way === 'with') agent = await startAgent(live, dir);
        const startCpu = agent ? cpuSeconds(agent.child.pid) : 0;
        const produce = await producerPerf(live, java, cluster.bootstrap, records, size);
        const consume = await consumerPerf(live, java, cluster.bootstrap, records, `bench-agent-${way}-${round}`);
        const run = { produce, consume };
        let extra = '';
        if (agent) {
          run.startCpu = startCpu;
          run.cpu = cpuSeconds(agent.child.pid) - startCpu;
          run.mem = memory(agent.child.pid);
          const metrics = (await get(`${agent.base}/metrics`)).text;
          run.seen = total(metrics, 'kafkatrace_overview_records_in', /topic="bench-apache"/);
          run.lost = total(metrics, 'kafkatrace_agent_events_lost_total') + total(metrics, 'kafkatrace_agent_kafka_frames_lost_ring_full_total');
          if (run.seen === 0) valid = false;
          agent.child.kill('SIGTERM');
          await agent.exited;
          agent = undefined;
          extra = `  agent ${run.cpu.toFixed(2)} s CPU (${run.startCpu.toFixed(2)} s to start), ${mib(run.mem.rss)} resident (peak ${mib(run.mem.hwm)}), counted ${fmt(run.seen)} records in, lost ${run.lost}`;
        }
        rounds[way].push(run);
        console.log(`  round ${round} ${way.padEnd(7)} produce ${fmt(produce.recordsPerSec)} rec/s ${produce.mbPerSec.toFixed(1)} MB/s, consume ${fmt(consume.recordsPerSec)} rec/s ${consume.mbPerSec.toFixed(1)} MB/s${extra}`);
      }
    }
    const cpu = rounds.with.reduce((n, r) => n + r.cpu, 0);
    const trafficMb = rounds.with.reduce((n, r) => n + r.produce.mb + r.consume.mb, 0);
    console.log(`  agent CPU        ${cpu.toFixed(2)} s over ${fmt(trafficMb)} MB produced and fetched: ${((cpu / trafficMb) * 100 * 100).toFixed(1)}% of a core per 100 MB/s${valid ? '' : '  INVALID: in a round the agent counted no record of the bench topic'}`);
    console.log(`  agent memory     ${mib(median(rounds.with.map((r) => r.mem.rss)))} resident after a round (median), ${mib(Math.max(...rounds.with.map((r) => r.mem.hwm)))} at the highest peak`);
    for (const pick of ['produce', 'consume']) {
      const b = median(rounds.without.map((r) => r[pick].recordsPerSec));
      const t = median(rounds.with.map((r) => r[pick].recordsPerSec));
      console.log(`  ${pick.padEnd(16)} ${fmt(b)} rec/s without, ${fmt(t)} rec/s with the agent: ${(t / b).toFixed(3)}x, lost ${((1 - t / b) * 100).toFixed(1)}%`);
    }
    // Each record crosses one loopback connection and is seen at both its ends.
    console.log(`  records counted  ${rounds.with.map((r) => fmt(r.seen)).join(', ')} per round (${fmt(records)} produced per round: ${fmt(2 * records)} at the two ends of their connections)`);
  } finally {
    if (agent) {
      agent.child.kill('SIGTERM');
      await agent.exited;
    }
    for (const child of live) child.kill('SIGKILL');
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
    release();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  benchAgentNode().catch((e) => {
    process.stderr.write(`bench agent-node: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
