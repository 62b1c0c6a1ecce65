#!/usr/bin/env node
// kafkatrace against bpftrace 0.17, measured in one run on the same scripts: time to attach (cached
// and cold compile), SIGINT to exit, CPU added per traced event, printf throughput through the ring
// buffer. Prints each figure with its ratio and whether its target is met; bench/README.md explains
// the format. Needs root, bpftrace, cc, clang, and a built kafkatrace (npm run build).
// Environment: BENCH_REPS (repetitions, default 5), BENCH_CALLS (getppid loop, default 2000000),
// BENCH_EVENTS (printf events, default 200000), BENCH_FRAMES (Kafka frames under which /metrics is
// timed, default 300000), BENCH_ONLY (figures to run, comma-separated: attach,
// stop, cost, printf, kafka, apache, agent, replay; default all). `apache` (bench/kafka-apache.mjs),
// `agent` (bench/agent-node.mjs) and `replay` (bench/kafka-replay.mjs) need Apache Kafka
// (scripts/install-kafka.sh) and say so when it is not installed.
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { median, positive, verdict } from './common.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'kafkatrace.js');
const OUT = join(ROOT, 'build', 'bench');
// The workload's comm: scripts that must see only it filter on it.
const SPIN = join(OUT, 'ktbench-spin');
const REPS = positive('BENCH_REPS', 5);
const CALLS = positive('BENCH_CALLS', 2_000_000);
const EVENTS = positive('BENCH_EVENTS', 200_000);
const FIGURES = ['attach', 'stop', 'cost', 'printf', 'kafka', 'apache', 'agent', 'replay'];
const ONLY = process.env.BENCH_ONLY ? process.env.BENCH_ONLY.split(',') : FIGURES;
const unknownFigure = ONLY.find((f) => !FIGURES.includes(f));
const want = (figure) => ONLY.includes(figure);
// Time given to a tracer after its Attaching line before the workload starts or SIGINT is sent:
// bpftrace prints the line before it attaches its probes.
const SETTLE_MS = 500;

const SCRIPTS = {
  begin: 'BEGIN { exit(); }',
  hist: 'tracepoint:syscalls:sys_exit_read { @ = hist(args->ret); }',
  perEvent: 'tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }',
  printf: 'tracepoint:syscalls:sys_enter_getppid /comm == "ktbench-spin"/ { printf("ev %d %s\\n", tid, comm); }',
  kafka: 'kafka:produce { @ = count(); }',
};

// Node reads NODE_EXTRA_CA_CERTS's certificates when it starts, whether or not the program uses TLS
// (tens of ms for a system bundle). kafkatrace makes no TLS connection: the tracers run without it,
// and the header says what it would cost.
const TRACER_ENV = { ...process.env, NO_COLOR: '1' };
delete TRACER_ENV.NODE_EXTRA_CA_CERTS;

function fail(message) {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(1);
}

function preflight() {
  const problems = [];
  if (unknownFigure !== undefined) problems.push(`BENCH_ONLY: no figure '${unknownFigure}' (${FIGURES.join(', ')})`);
  if (process.getuid?.() !== 0) problems.push('must run as root');
  for (const cmd of ['bpftrace', 'cc']) {
    try {
      execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    } catch {
      problems.push(`${cmd} not found`);
    }
  }
  try {
    execFileSync(process.execPath, [BIN, '--version'], { stdio: 'ignore' });
  } catch {
    problems.push('kafkatrace does not start (build it: npm run build)');
  }
  if (problems.length > 0) fail(problems.join('; '));
  mkdirSync(OUT, { recursive: true });
  execFileSync('cc', ['-O2', '-o', SPIN, join(ROOT, 'bench', 'workload', 'spin.c')]);
}

// Every process started, so that an interrupted bench leaves none behind.
const live = new Set();

process.on('SIGINT', () => {
  for (const child of live) child.kill('SIGINT');
  setTimeout(() => {
    for (const child of live) child.kill('SIGKILL');
    process.exit(130);
  }, 2000).unref();
});

const TOOLS = {
  bpftrace: (args) => ['bpftrace', args],
  kafkatrace: (args) => [process.execPath, [BIN, ...args]],
  // Node alone printing the line: the floor under any figure of kafkatrace's.
  node: () => [process.execPath, ['-e', 'console.log("Attaching 0 probes...")']],
};

/**
 * Starts a tracer. `attached` resolves with the ms from spawn to its Attaching line, `exited` with
 * its exit code; `lines` counts output lines starting with `linePrefix`, `lost` sums the `Lost N
 * events` reports of both tools, `tail` keeps the end of the output (the maps printed at exit).
 */
function startTracer(tool, args, { env = {}, linePrefix } = {}) {
  const [cmd, argv] = TOOLS[tool](args);
  const t0 = performance.now();
  const child = spawn(cmd, argv, { env: { ...TRACER_ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  const state = { child, head: '', tail: '', stderr: '', lines: 0, lost: 0, lastLineAt: 0, partial: '' };
  let onAttach;
  state.attached = new Promise((r) => (onAttach = r));
  child.stdout.setEncoding('utf8').on('data', (d) => {
    if (state.head.length < 1 << 12) state.head += d;
    state.tail = (state.tail + d).slice(-(1 << 16));
    if (onAttach && /Attaching/.test(state.head)) {
      onAttach(performance.now() - t0);
      onAttach = undefined;
    }
    const parts = (state.partial + d).split('\n');
    state.partial = parts.pop();
    for (const line of parts) {
      if (linePrefix !== undefined && line.startsWith(linePrefix)) {
        state.lines++;
        state.lastLineAt = performance.now();
      }
      const lost = /^Lost (\d+) events/.exec(line);
      if (lost) state.lost += Number(lost[1]);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (d) => (state.stderr += d));
  // The process's own exit, before its pipes are drained and closed: what SIGINT-to-exit measures.
  state.exitedAt = new Promise((resolve) => child.on('exit', () => resolve(performance.now())));
  state.exited = new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      live.delete(child);
      if (onAttach) onAttach(NaN);
      resolve({ code });
    });
  });
  return state;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function mustAttach(t, what) {
  const ms = await t.attached;
  if (Number.isNaN(ms)) {
    const { code } = await t.exited;
    fail(`${what} exited (${code}) before attaching:\n${t.head}${t.stderr}`);
  }
  return ms;
}

/** ms from spawn to exit of `node -e 0`, with the tracers' environment or with `env` added. */
async function nodeBoot(env = {}) {
  const times = [];
  for (let i = 0; i < REPS; i++) {
    const t0 = performance.now();
    const child = spawn(process.execPath, ['-e', '0'], { env: { ...TRACER_ENV, ...env }, stdio: 'ignore' });
    live.add(child);
    await new Promise((resolve) => child.on('exit', resolve));
    live.delete(child);
    times.push(performance.now() - t0);
  }
  return median(times);
}

/** SIGINT to exit of a kafka script: the capture attaches dozens of tracepoints. */
async function kafkaStopSeries() {
  const stops = [];
  for (let i = 0; i < REPS; i++) {
    const t = startTracer('kafkatrace', ['-e', SCRIPTS.kafka]);
    await mustAttach(t, `kafkatrace -e '${SCRIPTS.kafka}'`);
    await sleep(SETTLE_MS);
    stops.push(await interrupt(t));
  }
  return median(stops);
}

/** Sends SIGINT and returns the ms until the process has exited. */
async function interrupt(t) {
  const sent = performance.now();
  t.child.kill('SIGINT');
  const at = await t.exitedAt;
  await t.exited;
  return at - sent;
}

function freshCache() {
  return mkdtempSync(join(tmpdir(), 'ktbench-cache-'));
}

/**
 * A fresh cache holding only kafkatrace's V8 code cache (of its own JavaScript, kept from the runs
 * before): the script is compiled from nothing, kafkatrace is not run for the first time.
 */
function compiledCodeOnly() {
  const dir = freshCache();
  const v8 = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'kafkatrace', 'v8');
  if (existsSync(v8)) cpSync(v8, join(dir, 'kafkatrace', 'v8'), { recursive: true });
  return dir;
}

/** The script's generated C; the run also leaves the compiler's JavaScript in V8's code cache. */
function generatedC(script) {
  return execFileSync(process.execPath, [BIN, '-d', 'c', '-e', script], { env: TRACER_ENV, encoding: 'utf8' });
}

/** ms from spawn to exit of clang compiling generated C `c`, as kafkatrace runs it. */
async function clangAlone(c) {
  const { clangArgs } = await import('../dist/src/codegen/clang.js');
  const { templatesDir } = await import('../dist/src/codegen/toolchain.js');
  const out = join(OUT, 'clang-alone.o');
  const times = [];
  for (let i = 0; i < REPS; i++) {
    const t0 = performance.now();
    const child = spawn('clang', clangArgs(templatesDir(), out), { stdio: ['pipe', 'ignore', 'inherit'] });
    live.add(child);
    child.stdin.end(c);
    const code = await new Promise((resolve) => child.on('exit', resolve));
    live.delete(child);
    if (code !== 0) fail('clang failed on generated C');
    times.push(performance.now() - t0);
  }
  return median(times);
}

/** One attach measurement: `begin` exits by itself; others are interrupted after settling. */
async function attachOnce(tool, script, env) {
  const t = startTracer(tool, ['-e', script], { env });
  const attach = await mustAttach(t, `${tool} -e '${script}'`);
  let stop;
  if (script === SCRIPTS.begin) {
    await t.exited;
  } else {
    await sleep(SETTLE_MS);
    stop = await interrupt(t);
  }
  return { attach, stop };
}

async function attachSeries(script) {
  const res = { bpftrace: [], node: [], cached: [], cold: [], first: [], stopBpftrace: [], stopKafkatrace: [] };
  // Warm both: page cache, and kafkatrace's object cache for the cached series.
  await attachOnce('bpftrace', script);
  await attachOnce('kafkatrace', script);
  const c = generatedC(script);
  for (let i = 0; i < REPS; i++) {
    const bt = await attachOnce('bpftrace', script);
    res.bpftrace.push(bt.attach);
    res.node.push((await attachOnce('node', SCRIPTS.begin)).attach);
    if (bt.stop !== undefined) res.stopBpftrace.push(bt.stop);
    const cached = await attachOnce('kafkatrace', script);
    res.cached.push(cached.attach);
    if (cached.stop !== undefined) res.stopKafkatrace.push(cached.stop);
    for (const [series, dir] of [['cold', compiledCodeOnly()], ['first', freshCache()]]) {
      try {
        res[series].push((await attachOnce('kafkatrace', script, { XDG_CACHE_HOME: dir })).attach);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  res.clang = await clangAlone(c);
  return res;
}

function runSpin(n, rate) {
  return new Promise((resolve, reject) => {
    const child = spawn(SPIN, rate === undefined ? [String(n)] : [String(n), String(rate)], { stdio: ['ignore', 'pipe', 'inherit'] });
    live.add(child);
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => {
      live.delete(child);
      const m = /cpu_ns=(\d+) wall_ns=(\d+)/.exec(out);
      if (code !== 0 || !m) reject(new Error(`spin failed (${code}): ${out}`));
      else resolve({ cpu: Number(m[1]), wall: Number(m[2]) });
    });
  });
}

async function spinSeries() {
  const cpu = [];
  for (let i = 0; i < REPS; i++) cpu.push((await runSpin(CALLS)).cpu);
  return median(cpu);
}

/** CPU per getppid untraced, then traced by the tool; the tool's count proves its probe fired. */
async function tracedSpin(tool) {
  const base = await spinSeries();
  const t = startTracer(tool, ['-e', SCRIPTS.perEvent]);
  await mustAttach(t, `${tool} per-event script`);
  await sleep(SETTLE_MS);
  let traced;
  try {
    traced = await spinSeries();
  } finally {
    await interrupt(t);
  }
  const m = /^@\[ktbench-spin\]: (\d+)$/m.exec(t.tail);
  return { base, traced, counted: m ? Number(m[1]) : 0 };
}

/** One printf run: COUNT events at RATE per second (undefined: as fast as possible). */
async function printfRun(tool, count, rate) {
  const t = startTracer(tool, ['-e', SCRIPTS.printf], { linePrefix: 'ev ' });
  await mustAttach(t, `${tool} printf script`);
  await sleep(SETTLE_MS);
  const start = performance.now();
  const { wall } = await runSpin(count, rate);
  // Drain: until every event is accounted for or the stream has been quiet for a second.
  while (t.lines + t.lost < count && performance.now() - Math.max(t.lastLineAt, start) < 1000) await sleep(20);
  const last = t.lastLineAt;
  await interrupt(t);
  // A tracer whose probe is slow slows the workload down: what it kept up with is the rate the
  // workload reached, not the one asked for.
  return { count, rate, achieved: Math.round(count / (wall / 1e9)), lines: t.lines, lost: t.lost, seconds: (last - start) / 1000 };
}

// Up to well past what bpftrace 0.17 keeps up with on a fast machine (800k), so that the ratio is
// not capped by the ladder.
const PRINTF_RATES = [25_000, 50_000, 100_000, 200_000, 400_000, 800_000, 1_600_000, 3_200_000];

/**
 * Paced runs of one second each at rising rates until one loses events, then one unpaced burst.
 * `sustained` is the zero-loss run whose workload reached the highest rate.
 */
async function printfLadder(tool) {
  let sustained;
  const steps = [];
  for (const rate of PRINTF_RATES) {
    const r = await printfRun(tool, rate, rate);
    steps.push(r);
    if (r.lost > 0 || r.lines !== r.count) break;
    if (!sustained || r.achieved > sustained.achieved) sustained = r;
  }
  const burst = await printfRun(tool, EVENTS);
  return { sustained, steps, burst };
}

const ms = (x) => `${x.toFixed(0)} ms`;
const ratio = (a, b) => `${(a / b).toFixed(2)}x`;

function reportAttach(title, r) {
  const bt = median(r.bpftrace);
  const cached = median(r.cached);
  const cold = median(r.cold);
  const node = median(r.node);
  console.log(`${title}`);
  console.log(`  bpftrace            ${ms(bt)}`);
  console.log(`  node alone          ${ms(node)}  ${ratio(node, bt)}  (node -e printing the line: no kafkatrace can start faster)`);
  console.log(`  kafkatrace cached   ${ms(cached)}  ${ratio(cached, bt)}  ${verdict(cached <= 0.5 * bt, '<= 0.5x')}`);
  console.log(`  kafkatrace cold     ${ms(cold)}  ${ratio(cold, bt)}  ${verdict(cold <= bt, '<= 1.0x')}`);
  console.log(`  kafkatrace 1st run  ${ms(median(r.first))}  ${ratio(median(r.first), bt)}  (no cache at all: kafkatrace's own code compiled too)`);
  console.log(`  clang alone         ${ms(r.clang)}  ${ratio(r.clang, bt)}  (clang on this script's generated C: part of every cold run)`);
}

async function main() {
  preflight();
  const bpftraceVersion = execFileSync('bpftrace', ['--version'], { encoding: 'utf8' }).trim();
  console.log(`kafkatrace bench: ${bpftraceVersion}, node ${process.version}, ${REPS} repetitions (medians)`);
  console.log(`load average at start: ${readFileSync('/proc/loadavg', 'utf8').trim()}`);
  console.log(`node -e 0 (spawn to exit): ${ms(await nodeBoot())}`);
  const extraCerts = process.env.NODE_EXTRA_CA_CERTS;
  if (extraCerts) {
    console.log(`  with NODE_EXTRA_CA_CERTS=${extraCerts} (set here): ${ms(await nodeBoot({ NODE_EXTRA_CA_CERTS: extraCerts }))}; the tracers run without it`);
  }
  console.log('');

  if (want('attach') || want('stop')) await attachAndStop();
  if (want('cost')) await costPerEvent();
  if (want('printf')) await printfThroughput();
  if (want('kafka')) {
    await (await import('./lag.mjs')).benchLag();
    await (await import('./kafka-throughput.mjs')).benchKafkaThroughput();
    await (await import('./kafka-capture.mjs')).benchKafkaCapture();
    if (existsSync(join(ROOT, 'build', 'kafka-capture.bpf.o'))) await (await import('./metrics-latency.mjs')).benchMetricsLatency();
  }
  if (want('apache')) await (await import('./kafka-apache.mjs')).benchApacheKafka();
  if (want('agent')) await (await import('./agent-node.mjs')).benchAgentNode();
  if (want('replay')) await (await import('./kafka-replay.mjs')).benchKafkaReplay();
}

/** The attach figures, then SIGINT to exit (measured on the attach runs of the hist script). */
async function attachAndStop() {
  const begin = await attachSeries(SCRIPTS.begin);
  if (want('attach')) reportAttach(`attach: ${SCRIPTS.begin}`, begin);
  const hist = await attachSeries(SCRIPTS.hist);
  if (want('attach')) {
    reportAttach(`attach: ${SCRIPTS.hist}`, hist);
    console.log('');
  }
  if (!want('stop')) return;
  const stopBt = median(hist.stopBpftrace);
  const stopKt = median(hist.stopKafkatrace);
  console.log(`SIGINT to exit (${SCRIPTS.hist}, maps printed)`);
  console.log(`  bpftrace            ${ms(stopBt)}`);
  console.log(`  kafkatrace          ${ms(stopKt)}  ${ratio(stopKt, stopBt)}  ${verdict(stopKt < 50, '< 50 ms')}`);
  if (existsSync(join(ROOT, 'build', 'kafka-capture.bpf.o'))) {
    const stopKafka = await kafkaStopSeries();
    console.log(`SIGINT to exit (${SCRIPTS.kafka}: the capture's tracepoints, maps printed)`);
    console.log(`  kafkatrace          ${ms(stopKafka)}  ${verdict(stopKafka < 50, '< 50 ms')}`);
  }
  console.log('');
}

async function costPerEvent() {
  const bt = await tracedSpin('bpftrace');
  const kt = await tracedSpin('kafkatrace');
  const btAdd = (bt.traced - bt.base) / CALLS;
  const ktAdd = (kt.traced - kt.base) / CALLS;
  const perCall = (x) => `${(x / CALLS).toFixed(1)} ns/call`;
  const expected = REPS * CALLS;
  console.log(`cost per event: ${CALLS} getppid, CPU time of the loop, traced by ${SCRIPTS.perEvent}`);
  for (const [tool, r, add] of [['bpftrace', bt, btAdd], ['kafkatrace', kt, ktAdd]]) {
    console.log(`  ${tool.padEnd(19)} untraced ${perCall(r.base)}, traced ${perCall(r.traced)}: adds ${add.toFixed(1)} ns/event (counted ${r.counted}/${expected})`);
  }
  const counted = bt.counted >= expected && kt.counted >= expected;
  console.log(`  kafkatrace/bpftrace ${ratio(ktAdd, btAdd)}  ${counted ? verdict(ktAdd <= btAdd, '<= 1.0x') : 'INVALID: a tracer did not count every call'}`);
  console.log('');
}

async function printfThroughput() {
  console.log(`printf throughput: ${SCRIPTS.printf}`);
  console.log(`  paced 1 s runs at ${PRINTF_RATES.map((r) => `${r / 1000}k`).join(', ')} events/s until one loses events; then ${EVENTS} unpaced`);
  const rates = {};
  for (const tool of ['bpftrace', 'kafkatrace']) {
    const { sustained, steps, burst } = await printfLadder(tool);
    const stepText = steps.map((r) => `${r.rate / 1000}k: ${r.achieved} reached, ${r.lines} lines, lost ${r.lost}`).join('; ');
    rates[tool] = sustained ? sustained.achieved : 0;
    console.log(`  ${tool.padEnd(19)} highest zero-loss rate ${sustained ? `${sustained.achieved} events/s` : 'none'}  (${stepText})`);
    const burstRate = Math.round(burst.lines / burst.seconds);
    console.log(`  ${''.padEnd(19)} unpaced: ${burst.lines}/${burst.count} lines, lost ${burst.lost}, ${burstRate} lines/s delivered`);
  }
  const r = rates.kafkatrace / rates.bpftrace;
  const ratioText = Number.isFinite(r) ? `${r.toFixed(2)}x  ${verdict(r >= 1, '>= 1.0x')}` : 'n/a (bpftrace lost events at every rate)';
  console.log(`  kafkatrace/bpftrace zero-loss rate: ${ratioText}`);
  console.log('');
}

main().catch((e) => {
  for (const child of live) child.kill('SIGKILL');
  fail(e instanceof Error ? e.message : String(e));
});
