#!/usr/bin/env node
// The lag computation over a synthetic multi-partition workload, on one core: a producer writes to
// every partition of a topic, consumer groups fetch and commit them, and the Kafka decoder (stream
// reassembly, header and body decoding, request/response pairing, lag tracking) digests the bytes.
// Prints exchanges and partition items per second for decode + lag, and the share of the lag
// tracker alone. Needs a built kafkatrace (npm run build); no root.
// Environment: BENCH_LAG_PARTITIONS (default 64), BENCH_LAG_GROUPS (default 4), BENCH_LAG_ROUNDS
// (default 400).
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { positive } from './common.mjs';
import { recordBatch, request, response, Writer } from './frames.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TOPIC = 'bench-orders';
const RECORDS_PER_BATCH = 10;
const COMMIT_EVERY = 5;

const topics = (w, parts, each) => w.array([TOPIC], (w, name) => w.string(name).array(parts, each));

function produce(id, partitions, ends) {
  const req = new Writer().string(null).int(2, -1).int(4, 30_000);
  topics(req, partitions, (w, p) => w.int(4, p).bytes(recordBatch(0, RECORDS_PER_BATCH, 100)));
  const resp = new Writer();
  topics(resp, partitions, (w, p) => w.int(4, p).int(2, 0).int(8, ends[p]).int(8, -1));
  resp.int(4, 0);
  return [request(0, 3, id, 'bench-producer', req.out()), response(id, resp.out())];
}

function fetch(id, clientId, partitions, offsets, ends) {
  const req = new Writer().int(4, -1).int(4, 500).int(4, 1).int(4, 1 << 20).int(1, 0);
  topics(req, partitions, (w, p) => w.int(4, p).int(8, offsets[p]).int(4, 1 << 20));
  const resp = new Writer().int(4, 0);
  topics(resp, partitions, (w, p) =>
    w.int(4, p).int(2, 0).int(8, ends[p]).int(8, ends[p]).int(4, -1).bytes(recordBatch(offsets[p], RECORDS_PER_BATCH, 100)));
  return [request(1, 4, id, clientId, req.out()), response(id, resp.out())];
}

function commit(id, clientId, group, partitions, offsets) {
  const req = new Writer().string(group).int(4, 1).string(`${clientId}-member`).int(8, -1);
  topics(req, partitions, (w, p) => w.int(4, p).int(8, offsets[p]).string(null));
  const resp = new Writer();
  topics(resp, partitions, (w, p) => w.int(4, p).int(2, 0));
  return [request(8, 2, id, clientId, req.out()), response(id, resp.out())];
}

/** Capture chunks of the whole workload, in stream order, one request and one response per exchange. */
function workload(partitionCount, groupCount, rounds) {
  const partitions = Array.from({ length: partitionCount }, (_, i) => i);
  const ends = partitions.map(() => 0);
  const conn = (fd) => ({ pid: 1000, tid: 1000, comm: 'bench', fd, laddr: '127.0.0.1', lport: 40000 + fd, raddr: '127.0.0.1', rport: 9092 });
  const producer = conn(3);
  const groups = Array.from({ length: groupCount }, (_, g) => ({ conn: conn(10 + g), clientId: `bench-consumer-${g}`, group: `bench-group-${g}`, offsets: partitions.map(() => 0) }));
  const chunks = [];
  let ts = 1_000_000n;
  let id = 0;
  const add = (info, [req, resp]) => {
    chunks.push({ ...info, dir: 'out', ts: (ts += 1000n), skipped: 0, data: req });
    chunks.push({ ...info, dir: 'in', ts: (ts += 1000n), skipped: 0, data: resp });
  };
  for (let round = 0; round < rounds; round++) {
    const bases = [...ends];
    for (const p of partitions) ends[p] += RECORDS_PER_BATCH;
    add(producer, produce(++id, partitions, bases));
    for (const g of groups) {
      add(g.conn, fetch(++id, g.clientId, partitions, g.offsets, ends));
      for (const p of partitions) g.offsets[p] += RECORDS_PER_BATCH;
      if (round % COMMIT_EVERY === 0) add(g.conn, commit(++id, g.clientId, g.group, partitions, g.offsets));
    }
  }
  return chunks;
}

/** Runs the lag bench and prints its figures. */
export async function benchLag() {
  const { KafkaDecoder } = await import(pathToFileURL(join(ROOT, 'dist', 'src', 'kafka', 'index.js')).href);
  const { LagTracker } = await import(pathToFileURL(join(ROOT, 'dist', 'src', 'kafka', 'trackers', 'lag.js')).href);
  const partitionCount = positive('BENCH_LAG_PARTITIONS', 64);
  const groupCount = positive('BENCH_LAG_GROUPS', 4);
  const rounds = positive('BENCH_LAG_ROUNDS', 400);
  const chunks = workload(partitionCount, groupCount, rounds);
  const bytes = chunks.reduce((n, c) => n + c.data.length, 0);

  const exchanges = [];
  let items = 0;
  let views = 0;
  const decoder = new KafkaDecoder({
    onExchange: (ex) => {
      exchanges.push(ex);
      items += ex.items.length;
      views += ex.lag?.length ?? 0;
    },
  });
  const t0 = performance.now();
  for (const c of chunks) decoder.push(c);
  const decodeMs = performance.now() - t0;

  // The tracker alone, on the decoded exchanges again (a fresh one, so it does the same work).
  const tracker = new LagTracker();
  const t1 = performance.now();
  for (const ex of exchanges) tracker.observe(ex);
  const lagMs = performance.now() - t1;

  const rate = (n, ms) => `${Math.round(n / (ms / 1000)).toLocaleString('en-US')}/s`;
  console.log(`lag computation: ${partitionCount} partitions, ${groupCount} groups, ${rounds} rounds of produce + fetch (+ commit every ${COMMIT_EVERY}), ${(bytes / 1e6).toFixed(1)} MB of frames, one core`);
  console.log(`  decode + lag        ${exchanges.length} exchanges, ${items} partition items, ${views} lag views in ${decodeMs.toFixed(0)} ms: ${rate(exchanges.length, decodeMs)} exchanges, ${rate(items, decodeMs)} items`);
  console.log(`  lag tracker alone   ${lagMs.toFixed(0)} ms: ${rate(items, lagMs)} items (${((lagMs / decodeMs) * 100).toFixed(0)}% of decode + lag)`);
  if (exchanges.length !== chunks.length / 2) throw new Error(`decoded ${exchanges.length} exchanges of ${chunks.length / 2}`);
  // The last round leaves each group one batch behind its fetch and the rounds since its last commit.
  const last = tracker.view('bench-group-0', TOPIC, 0);
  const sinceCommit = BigInt(((rounds - 1) % COMMIT_EVERY) * RECORDS_PER_BATCH);
  if (last?.lag !== BigInt(RECORDS_PER_BATCH) || last.committed_lag !== sinceCommit) {
    throw new Error(`wrong lag at the end: ${JSON.stringify(last, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  benchLag().catch((e) => {
    process.stderr.write(`bench lag: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
