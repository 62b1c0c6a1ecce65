#!/usr/bin/env node
// What the Kafka capture copies from the kernel, against the project's targets:
// - per Fetch response: one Fetch v11 of 8 partitions, each holding one record batch of 1 KiB, then
//   of 1 MiB, read by a plain socket in this process; bytes the capture copied for the client's
//   copy of the response (data, and with the 104-byte record headers). Target: independent of
//   record size (ratio 1 MiB / 1 KiB batches within 1.1x).
// - per MiB of Kafka traffic with 1 MiB batches: producing 8 x 1 MiB (kcat) and fetching it back,
//   both ends of every connection; bytes copied (record headers included) over bytes that passed.
//   Target: under 1%.
// - per Produce request: one Produce v7 of 8 partitions, each holding one record batch of 1 KiB, then
//   of 4 MiB, written by a plain socket in this process to a sink; bytes the capture copied of the
//   request (data, and with the record headers). Target: independent of record size (ratio 4 MiB /
//   1 KiB batches within 1.1x).
// Needs root, a built kafkatrace (npm run build), build/ (node scripts/build-kafka.mjs) and kcat.
// Environment: BENCH_REPS (fetches per size, median; default 5).
import { spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { median, verdict } from './common.mjs';
import { recordBatch } from './frames.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PARTITIONS = 8;
const KiB = 1024;
const MiB = 1024 * KiB;
const RECORD_HEADER = 104; // struct kc_event
const SIZES = [
  ['1 KiB', 'bench-capture-1k', KiB],
  ['1 MiB', 'bench-capture-1m', MiB],
];

function reps() {
  const v = process.env.BENCH_REPS;
  const n = v === undefined || v === '' ? 5 : Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`BENCH_REPS must be a positive integer, got '${v}'`);
  return n;
}

const int = (size, v) => {
  const b = Buffer.alloc(size);
  if (size === 1) b.writeInt8(v);
  else if (size === 2) b.writeInt16BE(v);
  else if (size === 4) b.writeInt32BE(v);
  else b.writeBigInt64BE(BigInt(v));
  return b;
};
const str = (s) => Buffer.concat([int(2, Buffer.byteLength(s)), Buffer.from(s)]);

/** Fetch v11 of every partition of `topic` from offset 0, up to 4 MiB each. */
function fetchRequest(topic, correlationId) {
  const parts = [];
  for (let p = 0; p < PARTITIONS; p++) parts.push(int(4, p), int(4, -1), int(8, 0), int(8, -1), int(4, 4 * MiB));
  const payload = Buffer.concat([
    int(2, 1), int(2, 11), int(4, correlationId), str('bench-capture'),
    int(4, -1), int(4, 500), int(4, 1), int(4, 64 * MiB), int(1, 0), int(4, 0), int(4, -1),
    int(4, 1), str(topic), int(4, PARTITIONS), ...parts,
    int(4, 0), str(''),
  ]);
  return Buffer.concat([int(4, payload.length), payload]);
}

/** Sends one Fetch on a fresh connection; resolves to the response's size and the local port. */
function rawFetch(port, topic, correlationId) {
  return new Promise((resolvePromise, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let got = 0;
    let want = -1;
    let head = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no Fetch response within 20 s'));
    }, 20_000);
    socket.on('connect', () => socket.write(fetchRequest(topic, correlationId)));
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.on('data', (d) => {
      if (head.length < 4) head = Buffer.concat([head, d.subarray(0, 4 - head.length)]);
      got += d.length;
      if (want < 0 && head.length === 4) want = head.readInt32BE(0) + 4;
      if (want > 0 && got >= want) {
        clearTimeout(timer);
        const localPort = socket.localPort;
        socket.end();
        resolvePromise({ size: want, localPort });
      }
    });
  });
}

/** Produce v7 (acks 1) of one batch of `payload` bytes to each partition of `topic`. */
function produceRequest(topic, payload) {
  const parts = [];
  for (let p = 0; p < PARTITIONS; p++) {
    const batch = recordBatch(0, 100, payload);
    parts.push(int(4, p), int(4, batch.length), batch);
  }
  const body = Buffer.concat([int(2, 0), int(2, 7), int(4, 1), str('bench-capture'), int(2, -1), int(2, 1), int(4, 30_000), int(4, 1), str(topic), int(4, PARTITIONS), ...parts]);
  return Buffer.concat([int(4, body.length), body]);
}

/** Writes `request` on a fresh connection to a sink that reads it all; resolves to the local port. */
async function rawProduce(request) {
  const sink = createServer((s) => s.on('data', () => {}).on('end', () => s.end()));
  await new Promise((r) => sink.listen(0, '127.0.0.1', r));
  try {
    return await new Promise((resolvePromise, reject) => {
      const socket = connect({ host: '127.0.0.1', port: sink.address().port });
      socket.on('error', reject);
      socket.on('connect', () => {
        const localPort = socket.localPort;
        socket.end(request);
        socket.on('close', () => resolvePromise(localPort));
      });
      socket.resume();
    });
  } finally {
    await new Promise((r) => sink.close(r));
  }
}

function kcatProduce(bootstrap, topic, partition, size) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('kcat', ['-P', '-b', bootstrap, '-t', topic, '-p', String(partition),
      '-X', `message.max.bytes=${4 * MiB}`, '-X', 'compression.codec=none'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolvePromise() : reject(new Error(`kcat failed (${code}): ${stderr.trim()}`))));
    child.stdin.end(`${'x'.repeat(size)}\n`);
  });
}

const sum = (records, f) => records.reduce((n, r) => n + f(r), 0);

const bytes = (n) => (n >= MiB ? `${(n / MiB).toFixed(2)} MiB` : `${Math.round(n)} B`);

export async function benchKafkaCapture() {
  const load = (...m) => import(pathToFileURL(join(ROOT, 'dist', 'src', ...m)).href);
  const { startCapture } = await load('kafka', 'capture', 'loader.js');
  const { captureRecords } = await load('kafka', 'capture', 'record.js');
  const { startMockBroker } = await load('demo', 'mock-broker.js');
  const n = reps();

  console.log(`kafka capture: bytes copied from the kernel per Fetch response (v11, ${PARTITIONS} partitions, one batch each, median of ${n})`);
  const broker = await startMockBroker({ topics: Object.fromEntries(SIZES.map(([, topic]) => [topic, PARTITIONS])) });
  const port = Number(broker.bootstrap.split(':')[1]);
  const live = [];
  try {
    const perResponse = {};
    let traffic = { copied: 0, passed: 0 };
    for (const [label, topic, size] of SIZES) {
      const records = [];
      const capture = startCapture({ ports: [port] }, (batch) => records.push(...captureRecords(batch)));
      live.push(capture);
      const fetches = [];
      try {
        for (let p = 0; p < PARTITIONS; p++) await kcatProduce(broker.bootstrap, topic, p, size);
        for (let i = 0; i < n; i++) fetches.push(await rawFetch(port, topic, i + 1));
        await new Promise((r) => setTimeout(r, 100));
        records.push(...captureRecords(capture.poll()));
        if (capture.lost() > 0) console.log(`  (the capture lost ${capture.lost()} records: figures are low)`);
      } finally {
        capture.close();
        live.pop();
      }
      const copied = [];
      const withHeaders = [];
      for (const f of fetches) {
        const mine = records.filter((r) => r.pid === process.pid && r.lport === f.localPort && r.dir === 'in');
        copied.push(sum(mine, (r) => r.data.length));
        withHeaders.push(sum(mine, (r) => RECORD_HEADER + r.data.length));
      }
      perResponse[label] = { copied: median(copied), withHeaders: median(withHeaders), size: median(fetches.map((f) => f.size)) };
      const r = perResponse[label];
      console.log(`  ${label} batches      ${bytes(r.copied)} copied, ${bytes(r.withHeaders)} with record headers, of a ${bytes(r.size)} response`);
      if (size === MiB) traffic = { copied: sum(records, (x) => (x.close ? 0 : RECORD_HEADER + x.data.length)), passed: sum(records, (x) => x.data.length + x.skipped) };
    }
    const ratio = perResponse['1 MiB'].withHeaders / perResponse['1 KiB'].withHeaders;
    console.log(`  1 MiB / 1 KiB        ${ratio.toFixed(2)}x  ${verdict(ratio <= 1.1, 'independent of record size (<= 1.1x)')}`);
    console.log('');
    console.log(`kafka capture: bytes copied from the kernel per Produce request (v7, ${PARTITIONS} partitions, one batch each, median of ${n})`);
    const perRequest = {};
    for (const [label, payload] of [['1 KiB', KiB], ['4 MiB', 4 * MiB]]) {
      const request = produceRequest('bench-capture-produce', payload);
      const copied = [];
      const withHeaders = [];
      for (let i = 0; i < n; i++) {
        const records = [];
        const capture = startCapture({}, (batch) => records.push(...captureRecords(batch)));
        live.push(capture);
        let localPort;
        try {
          localPort = await rawProduce(request);
          await new Promise((r) => setTimeout(r, 50));
          records.push(...captureRecords(capture.poll()));
          if (capture.lost() > 0) console.log(`  (the capture lost ${capture.lost()} records: figures are low)`);
        } finally {
          capture.close();
          live.pop();
        }
        const mine = records.filter((r) => r.pid === process.pid && r.lport === localPort && r.dir === 'out' && !r.close);
        copied.push(sum(mine, (r) => r.data.length));
        withHeaders.push(sum(mine, (r) => RECORD_HEADER + r.data.length));
      }
      perRequest[label] = { copied: median(copied), withHeaders: median(withHeaders), size: request.length };
      const r = perRequest[label];
      console.log(`  ${label} batches      ${bytes(r.copied)} copied, ${bytes(r.withHeaders)} with record headers, of a ${bytes(r.size)} request`);
    }
    const produceRatio = perRequest['4 MiB'].withHeaders / perRequest['1 KiB'].withHeaders;
    console.log(`  4 MiB / 1 KiB        ${produceRatio.toFixed(2)}x  ${verdict(produceRatio <= 1.1, 'independent of record size (<= 1.1x)')}`);
    console.log('');
    const perMiB = traffic.copied / (traffic.passed / MiB);
    const share = (100 * traffic.copied) / traffic.passed;
    console.log(`kafka capture: bytes copied per MiB of Kafka traffic (1 MiB batches: produce ${PARTITIONS} x 1 MiB, fetch ${n} x; both ends)`);
    console.log(`  ${bytes(traffic.copied)} copied (record headers included) of ${bytes(traffic.passed)}: ${Math.round(perMiB)} B per MiB, ${share.toFixed(3)}%  ${verdict(share < 1, '< 1%')}`);
    console.log('');
  } finally {
    for (const c of live) c.close();
    await broker.stop();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  benchKafkaCapture().catch((e) => {
    process.stderr.write(`bench: ${e.message}\n`);
    process.exit(1);
  });
}
