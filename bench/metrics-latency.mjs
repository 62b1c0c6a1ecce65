// /metrics while the Kafka capture is flooded: kafkatrace runs `kafka:apiversions { @n = count(); }`
// with --export prometheus; this process writes BENCH_FRAMES tiny ApiVersions requests (one write()
// each) to a sink on loopback, while a thread of its own asks /metrics every 50 ms meanwhile and for
// a second after (on the writer's event loop, an answer would wait for the writer's next turn).
// Prints the median and the slowest answer. Target: the slowest under 100 ms.
// Needs root, a built kafkatrace (npm run build) and build/kafka-capture.bpf.o.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { get } from 'node:http';
import { createServer, connect } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { median, positive, verdict } from './common.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'kafkatrace.js');
const SCRIPT = 'kafka:apiversions { @n = count(); }';

/** An ApiVersions v0 request: size, api key 18, version 0, correlation id, client id "c". */
function frame(correlationId) {
  const b = Buffer.alloc(15);
  b.writeInt32BE(b.length - 4);
  b.writeInt16BE(18, 4);
  b.writeInt16BE(0, 6);
  b.writeInt32BE(correlationId, 8);
  b.writeInt16BE(1, 12);
  b.write('c', 14);
  return b;
}

const listening = (server) => new Promise((r) => server.listen(0, '127.0.0.1', () => r(server.address().port)));

function askMetrics(port) {
  return new Promise((resolve) => {
    const t = performance.now();
    get({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
      res.resume();
      res.on('end', () => resolve(performance.now() - t));
    }).on('error', () => resolve(Number.NaN));
  });
}

/** The asking thread: /metrics every 50 ms until told to stop, then the answer times (NaN: no answer). */
async function asker({ port }) {
  const times = [];
  let asking = true;
  parentPort.once('message', () => (asking = false));
  while (asking) {
    times.push(await askMetrics(port));
    await new Promise((r) => setTimeout(r, 50));
  }
  parentPort.postMessage(times);
}

async function writeFrames(port, n) {
  const sock = connect(port, '127.0.0.1');
  await new Promise((r) => sock.on('connect', r));
  let i = 0;
  await new Promise((done) => {
    const go = () => {
      while (i < n) {
        if (!sock.write(frame(i++))) return void sock.once('drain', go);
        // Let the sink read too.
        if (i % 1000 === 0) return void setImmediate(go);
      }
      done();
    };
    go();
  });
  sock.end();
}

export async function benchMetricsLatency() {
  const frames = positive('BENCH_FRAMES', 300_000);
  const sink = createServer((s) => s.resume());
  const sinkPort = await listening(sink);
  const probe = createServer();
  const metricsPort = await listening(probe);
  await new Promise((r) => probe.close(r));
  const child = spawn(process.execPath, [BIN, '--export', `prometheus=127.0.0.1:${metricsPort}`, '-e', SCRIPT], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
  const exited = new Promise((r) => child.on('close', r));
  try {
    while (!out.includes('Attaching')) {
      if (child.exitCode !== null) throw new Error(`kafkatrace exited before attaching: ${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const load = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
    const asking = new Worker(fileURLToPath(import.meta.url), { workerData: { port: metricsPort } });
    const answers = new Promise((r, reject) => asking.once('message', r).once('error', reject));
    await writeFrames(sinkPort, frames);
    await new Promise((r) => setTimeout(r, 1000));
    asking.postMessage('stop');
    const times = await answers;
    const answered = times.filter((t) => Number.isFinite(t));
    const slowest = Math.max(...answered);
    console.log(`/metrics under a flood of Kafka frames: ${frames} ApiVersions requests of 15 bytes, one write() each, ${SCRIPT} (load average ${load} at the start)`);
    console.log(`  kafkatrace          ${answered.length}/${times.length} answers, median ${median(answered).toFixed(1)} ms, slowest ${slowest.toFixed(1)} ms  ${verdict(slowest < 100 && answered.length === times.length, 'slowest < 100 ms')}`);
  } finally {
    child.kill('SIGINT');
    await exited;
    sink.close();
  }
}

if (!isMainThread) {
  void asker(workerData);
} else if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  benchMetricsLatency().catch((e) => {
    process.stderr.write(`bench: ${e.message}\n`);
    process.exit(1);
  });
}
