// The capture's Produce-request walk on the real kernel, on seeded random requests: Produce v0-13 of
// one to four topics of one to sixteen partitions, record data from a few bytes to several MiB per
// request (magic 2 batches, and magic 0/1 message sets below v3), every codec bit, transactional
// and null ids; among them Fetch requests of up to a few KiB, which are copied whole. A small C client writes them in random pieces through write, writev, sendto,
// sendmsg and sendmmsg; a small C sink reads them in random pieces through read, readv, recvfrom and
// recvmsg. Truth is what the test built, not what kafkatrace decodes:
// - bytes: on both ends the capture copies every byte of each request except the record data past
//   each batch's (or message's) first 61 bytes; Produce requests of 512 bytes or less are copied whole;
// - decode: every partition of every request, with its records and bytes (a Fetch's with its
//   offset), on both ends, and no other; v13 topics, named by id with no Metadata seen, read as the id.
// KT_PRODUCE_WALK_SEEDS=N runs N seeds (default 4).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureRecords, type CaptureRecord } from '../../src/kafka/capture/record.js';
import { startCapture } from '../../src/kafka/capture/loader.js';
import { KafkaDecoder, type KafkaExchange } from '../../src/kafka/index.js';
import { privilegeProblem } from '../../src/runtime/privileges.js';
import { concat, legacyMessage, recordBatch, requestFrame } from '../fixtures/kafka/encoder.js';
import { heldBpf } from '../helpers/bpf-held.js';
import { rng } from '../helpers/seeded.js';

const problem = privilegeProblem();
if (problem && process.env['CI'] === 'true') throw new Error(problem);
if (problem) console.log(`kafka-produce-walk e2e tests not run: ${problem}`);
const runnable = problem === undefined;

const REPLAY_SOURCE = String.raw`/*
 * produce-replay send PORT FILE PLAN: connects to 127.0.0.1:PORT and sends FILE following PLAN, ops
 * separated by commas, each on the next bytes:
 *   wN write  tN sendto  vA.B.. writev  mA.B.. sendmsg  MA.B.. sendmmsg (one message a part)
 * produce-replay sink READS: listens on 127.0.0.1 (its port on stdout), and once a byte arrives on
 * its standard input accepts one connection and
 * reads it to its end in pieces of the sizes READS lists (cycled), by read, readv, recvfrom and
 * recvmsg in turn.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_PARTS 8

static int parts(const char *s, size_t *len) {
  int n = 0;
  while (n < MAX_PARTS) {
    len[n++] = strtoul(s, (char **)&s, 10);
    if (*s != '.') break;
    s++;
  }
  return n;
}

/* Sends what a short send left over with write(2). */
static int rest(int s, unsigned char *p, ssize_t sent, size_t want) {
  if (sent < 0) return -1;
  while ((size_t)sent < want) {
    ssize_t r = write(s, p + sent, want - sent);
    if (r <= 0) return -1;
    sent += r;
  }
  return 0;
}

static int send_file(int port, const char *path, char *plan) {
  int file = open(path, O_RDONLY);
  struct stat st;
  if (file < 0 || fstat(file, &st)) return 3;
  unsigned char *data = malloc(st.st_size + 1);
  if (!data || pread(file, data, st.st_size, 0) != st.st_size) return 3;
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(s, (struct sockaddr *)&a, sizeof a)) return 4;
  size_t pos = 0;
  for (char *op = strtok(plan, ","); op; op = strtok(NULL, ",")) {
    size_t len[MAX_PARTS];
    int n = parts(op + 1, len);
    size_t total = 0;
    struct iovec iov[MAX_PARTS];
    for (int i = 0; i < n; i++) {
      iov[i].iov_base = data + pos + total;
      iov[i].iov_len = len[i];
      total += len[i];
    }
    if (pos + total > (size_t)st.st_size) return 5;
    ssize_t r;
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = n};
    switch (op[0]) {
    case 'w': r = write(s, data + pos, total); break;
    case 't': r = sendto(s, data + pos, total, 0, NULL, 0); break;
    case 'v': r = writev(s, iov, n); break;
    case 'm': r = sendmsg(s, &m, 0); break;
    case 'M': {
      struct mmsghdr mm[MAX_PARTS];
      memset(mm, 0, sizeof mm);
      for (int i = 0; i < n; i++) {
        mm[i].msg_hdr.msg_iov = &iov[i];
        mm[i].msg_hdr.msg_iovlen = 1;
      }
      int k = sendmmsg(s, mm, n, 0);
      if (k < 0) return 6;
      r = 0;
      for (int i = 0; i < k; i++) r += mm[i].msg_len;
      break;
    }
    default: return 2;
    }
    if (rest(s, data + pos, r, total)) return 6;
    pos += total;
  }
  if (pos != (size_t)st.st_size) return 7;
  shutdown(s, SHUT_WR);
  char c;
  while (read(s, &c, 1) > 0) {}
  return 0;
}

static int sink(char *reads) {
  size_t sizes[256];
  int nsizes = 0;
  for (char *p = strtok(reads, ","); p && nsizes < 256; p = strtok(NULL, ",")) sizes[nsizes++] = strtoul(p, NULL, 10);
  if (nsizes == 0) return 2;
  int l = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof a;
  if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1) || getsockname(l, (struct sockaddr *)&a, &alen)) return 3;
  printf("%d\n", ntohs(a.sin_port));
  fflush(stdout);
  /* accept only once told, so that a capture started meanwhile sees the connection begin */
  char go;
  if (read(0, &go, 1) != 1) return 3;
  int s = accept(l, NULL, NULL);
  if (s < 0) return 4;
  size_t cap = 0;
  for (int i = 0; i < nsizes; i++) if (sizes[i] > cap) cap = sizes[i];
  unsigned char *buf = malloc(cap + 1);
  for (unsigned i = 0;; i++) {
    size_t n = sizes[i % nsizes];
    ssize_t r;
    struct iovec iov[2] = {{buf, n / 2}, {buf + n / 2, n - n / 2}};
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
    switch (i % 4) {
    case 0: r = read(s, buf, n); break;
    case 1: r = readv(s, iov, 2); break;
    case 2: r = recvfrom(s, buf, n, 0, NULL, NULL); break;
    default: r = recvmsg(s, &m, 0); break;
    }
    if (r < 0) return 5;
    if (r == 0) break;
  }
  close(s);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 5 && !strcmp(argv[1], "send")) return send_file(atoi(argv[2]), argv[3], argv[4]);
  if (argc == 3 && !strcmp(argv[1], "sink")) return sink(argv[2]);
  return 2;
}
`;

const KiB = 1024;
const WALK = 512;
const BATCH_HEADER = 61;


interface PartitionTruth {
  topic: string;
  partition: number;
  records: number;
  bytes: number;
  /** [start, length] of each batch or message in the records field, relative to the field's data. */
  entries: [number, number][];
  data: Uint8Array | null;
}

interface RequestTruth {
  version: number;
  correlationId: number;
  frame: Uint8Array;
  partitions: PartitionTruth[];
  /** A Fetch request instead: its partitions and the offsets asked for. */
  fetch?: { topic: string; partition: number; fetch_offset: bigint }[];
}

/** A Fetch request (v4-12) of many partitions, often past 512 bytes: copied whole, never walked. */
function makeFetch(rand: () => number, correlationId: number): RequestTruth {
  const int = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));
  const version = int(4, 12);
  const fetch: { topic: string; partition: number; fetch_offset: bigint }[] = [];
  const topics = Array.from({ length: int(1, 6) }, (_, t) => {
    const topic = `fetch-${t}-${int(0, 999)}`;
    const partitions = [...new Set(Array.from({ length: int(1, 40) }, () => int(0, 99)))].map((Partition) => {
      const FetchOffset = BigInt(int(0, 1_000_000));
      fetch.push({ topic, partition: Partition, fetch_offset: FetchOffset });
      return { Partition, CurrentLeaderEpoch: -1, FetchOffset, LastFetchedEpoch: -1, LogStartOffset: -1n, PartitionMaxBytes: 1 << 20 };
    });
    return { Topic: topic, Partitions: partitions };
  });
  const frame = requestFrame(1, version, correlationId, `fetcher-${int(0, 9)}`, {
    ReplicaId: -1, MaxWaitMs: 500, MinBytes: 1, MaxBytes: 1 << 26, IsolationLevel: 0, SessionId: 0, SessionEpoch: -1,
    Topics: topics, ForgottenTopicsData: [], RackId: '',
  });
  return { version, correlationId, frame, partitions: [], fetch };
}

function makeRequest(rand: () => number, version: number, correlationId: number, budget: number): RequestTruth {
  const int = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));
  const topics = int(1, 4);
  const partitions: PartitionTruth[] = [];
  const topicData = [];
  for (let t = 0; t < topics; t++) {
    const hex = (n: number): string => Array.from({ length: n }, () => '0123456789abcdef'[int(0, 15)]).join('');
    const topic = version >= 13 ? [8, 4, 4, 4, 12].map(hex).join('-') : rand() < 0.2 ? 'a'.repeat(int(100, 249)) : `walk-${t}-${int(0, 999)}`;
    const indexes = [...new Set(Array.from({ length: int(1, 16) }, () => int(0, 63)))];
    const partitionData = [];
    for (const partition of indexes) {
      let data: Uint8Array | null;
      let records = 0;
      const entries: [number, number][] = [];
      if (rand() < 0.05) {
        data = null;
      } else {
        const pieces: Uint8Array[] = [];
        let at = 0;
        for (let b = int(1, 3); b > 0; b--) {
          const big = rand() < 0.15;
          const payload = big ? int(64 * KiB, Math.max(64 * KiB, budget)) : int(0, 3000);
          let piece: Uint8Array;
          if (version < 3) {
            piece = legacyMessage(version < 2 ? 0 : 1, 0n, new Uint8Array(payload).fill(0x5a));
            records += 1;
          } else {
            const count = int(1, 500);
            const attributes = int(0, 4) | (rand() < 0.2 ? 0x10 : 0);
            piece = recordBatch({ records: count, attributes, payload, producerId: BigInt(int(-1, 9)), baseSequence: int(-1, 100) });
            records += count;
          }
          entries.push([at, piece.length]);
          at += piece.length;
          pieces.push(piece);
        }
        data = concat(...pieces);
      }
      partitions.push({ topic, partition, records, bytes: data?.length ?? 0, entries, data });
      partitionData.push({ Index: partition, Records: data });
    }
    topicData.push({ [version >= 13 ? 'TopicId' : 'Name']: topic, PartitionData: partitionData });
  }
  const clientId = rand() < 0.1 ? null : rand() < 0.2 ? 'c'.repeat(int(200, 600)) : `client-${int(0, 99)}`;
  const body = {
    TransactionalId: rand() < 0.5 ? null : `txn-${int(0, 9999)}`,
    Acks: [0, 1, -1][int(0, 2)]!,
    TimeoutMs: 30_000,
    TopicData: topicData,
  };
  const frame = requestFrame(0, version, correlationId, clientId, body);
  return { version, correlationId, frame, partitions };
}

/** Byte ranges [from, to) of a frame the capture must not copy: record data past each entry's head. */
function uncopied(req: RequestTruth): [number, number][] {
  if (req.frame.length <= WALK) return [];
  const frame = Buffer.from(req.frame);
  const out: [number, number][] = [];
  let searchFrom = 0;
  for (const p of req.partitions) {
    if (!p.data || p.data.length === 0) continue;
    const at = frame.indexOf(Buffer.from(p.data), searchFrom);
    searchFrom = at + p.data.length;
    for (const [start, len] of p.entries) if (len > BATCH_HEADER) out.push([at + start + BATCH_HEADER, at + start + len]);
  }
  return out;
}

/** Cuts n bytes into random pieces, each written by a random syscall. */
function plan(rand: () => number, n: number): string {
  const ops: string[] = [];
  let left = n;
  while (left > 0) {
    const r = rand();
    const size = Math.min(left, r < 0.3 ? 1 + Math.floor(rand() * 13) : r < 0.8 ? 1 + Math.floor(rand() * 5000) : 1 + Math.floor(rand() * 300_000));
    left -= size;
    const kind = 'wtvmM'[Math.floor(rand() * 5)]!;
    if (kind === 'w' || kind === 't' || size < 4) {
      ops.push(`${kind === 't' ? 't' : 'w'}${size}`);
      continue;
    }
    const k = 2 + Math.floor(rand() * 3);
    const cuts = [...new Set(Array.from({ length: k - 1 }, () => 1 + Math.floor(rand() * (size - 1))))].sort((a, b) => a - b);
    const lens = [...cuts, size].map((c, i, all) => c - (i === 0 ? 0 : all[i - 1]!));
    ops.push(`${kind}${lens.join('.')}`);
  }
  return ops.join(',');
}

function reads(rand: () => number): string {
  return Array.from({ length: 64 }, () => (rand() < 0.3 ? 1 + Math.floor(rand() * 16) : 1 + Math.floor(rand() * 200_000))).join(',');
}

/** Bytes of one direction's stream that the records copied, as a bitmap over [0, length). */
function copiedMap(records: CaptureRecord[], length: number): Uint8Array {
  const map = new Uint8Array(length);
  for (const r of records) {
    const from = Number(r.offset);
    map.fill(1, from, Math.min(length, from + r.data.length));
  }
  return map;
}

function decode(records: CaptureRecord[]): { exchanges: KafkaExchange[]; failed: object } {
  const exchanges: KafkaExchange[] = [];
  const decoder = new KafkaDecoder({ onExchange: (e) => exchanges.push(e) });
  for (const r of records) {
    if (r.close) decoder.close(r);
    else decoder.push(r);
  }
  decoder.closeAll();
  return { exchanges: exchanges.filter((e) => e.api === 'Produce' || e.api === 'Fetch'), failed: decoder.counters().framesFailed };
}

const SEEDS = Number(process.env['KT_PRODUCE_WALK_SEEDS'] ?? 4);

describe('kafka capture: Produce requests walked in the kernel', () => {
  let dir: string;
  let replay: string;

  beforeAll(() => {
    if (!runnable) return;
    dir = mkdtempSync(join(tmpdir(), 'kt-produce-walk-'));
    writeFileSync(join(dir, 'produce-replay.c'), REPLAY_SOURCE);
    replay = join(dir, 'produce-replay');
    execFileSync('cc', ['-O2', '-Wall', '-o', replay, join(dir, 'produce-replay.c')]);
  });

  afterAll(() => {
    if (!runnable) return;
    if (dir) rmSync(dir, { recursive: true, force: true });
    expect(heldBpf().fds).toBe(0);
  });

  /** Sends `stream` from the C client to the C sink under a capture; the records of each end. */
  async function run(stream: Uint8Array, rand: () => number): Promise<{ client: CaptureRecord[]; broker: CaptureRecord[]; lost: number }> {
    const file = join(dir, 'requests');
    writeFileSync(file, stream);
    const sink = spawn(replay, ['sink', reads(rand)], { stdio: ['pipe', 'pipe', 'inherit'] });
    const sinkExit = new Promise<number | null>((resolve) => sink.once('exit', resolve));
    try {
      const port = await new Promise<number>((resolve, reject) => {
        sink.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
        sink.once('error', reject);
      });
      const records: CaptureRecord[] = [];
      const capture = startCapture({ ports: [port] }, (batch) => records.push(...captureRecords(batch)));
      sink.stdin!.end('go');
      let lost: number;
      let senderPid: number;
      try {
        const sender = spawn(replay, ['send', String(port), file, plan(rand, stream.length)], { stdio: 'inherit' });
        senderPid = sender.pid!;
        const sent = await new Promise<number | null>((resolve) => sender.once('exit', resolve));
        expect(sent).toBe(0);
        expect(await sinkExit).toBe(0);
        await new Promise((resolve) => setTimeout(resolve, 50));
        records.push(...captureRecords(capture.poll()));
        lost = capture.lost();
      } finally {
        capture.close();
      }
      return {
        client: records.filter((r) => r.pid === senderPid && !r.close),
        broker: records.filter((r) => r.pid === sink.pid && !r.close),
        lost,
      };
    } finally {
      sink.kill('SIGKILL');
    }
  }

  for (let seed = 1; seed <= SEEDS; seed++) {
    it(`seed ${seed}: every partition of every request, on both ends; record data never copied`, async () => {
      if (!runnable) return;
      const rand = rng(seed * 7919);
      const requests: RequestTruth[] = [];
      for (let i = 0; i < 12; i++) requests.push(rand() < 0.25 ? makeFetch(rand, 1000 + i) : makeRequest(rand, Math.floor(rand() * 14), 1000 + i, 4 << 20));
      const stream = concat(...requests.map((r) => r.frame));
      const { client, broker, lost } = await run(stream, rand);
      expect(lost).toBe(0);
      let walked = 0;
      let frameAt = 0;
      const mustSkip: [number, number][] = [];
      for (const req of requests) {
        for (const [from, to] of uncopied(req)) mustSkip.push([frameAt + from, frameAt + to]);
        frameAt += req.frame.length;
      }
      for (const [side, dirOf] of [[client, 'out'], [broker, 'in']] as const) {
        const records = side.filter((r) => r.dir === dirOf);
        expect(records.every((r) => !r.resync), `seed ${seed}: no resync`).toBe(true);
        // Bytes: everything but the record data past each batch's head.
        const map = copiedMap(records, stream.length);
        const expected = new Uint8Array(stream.length).fill(1);
        for (const [from, to] of mustSkip) expected.fill(0, from, to);
        const firstDiff = map.findIndex((b, i) => b !== expected[i]);
        expect(firstDiff, `seed ${seed} ${dirOf}: copied bytes differ from the request structure first at stream offset ${firstDiff}`).toBe(-1);
        const { exchanges, failed } = decode(side);
        expect(failed).toEqual({});
        const byCorrelation = new Map(exchanges.map((e) => [e.correlation_id, e]));
        for (const req of requests) {
          const ex = byCorrelation.get(req.correlationId);
          expect(ex, `seed ${seed} ${dirOf}: request ${req.correlationId} v${req.version} decoded`).toBeDefined();
          if (req.fetch) {
            expect(ex!.truncated, `seed ${seed} ${dirOf}: Fetch request ${req.correlationId} of ${req.frame.length} bytes copied whole`).toBe(false);
            expect(ex!.items.map((i) => ({ topic: i.topic, partition: i.partition, fetch_offset: i.fetch_offset }))).toEqual(req.fetch);
            continue;
          }
          walked++;
          const got = ex!.items.map((i) => ({ topic: i.topic, partition: i.partition, records: i.records, bytes: i.bytes }));
          const want = req.partitions.map((p) => ({ topic: p.topic, partition: p.partition, records: p.records, bytes: p.bytes }));
          expect(got, `seed ${seed} ${dirOf}: request ${req.correlationId} v${req.version}`).toEqual(want);
        }
      }
      expect(walked).toBeGreaterThan(0);
    });
  }

  it('copies about as much of a request of 4 MiB batches as of one of 1 KiB batches', async () => {
    if (!runnable) return;
    const copiedFor = async (payload: number): Promise<{ copied: number; total: number }> => {
      const partitions = Array.from({ length: 8 }, (_, i) => ({ Index: i, Records: recordBatch({ records: 100, payload }) }));
      const frame = requestFrame(0, 9, 1, 'ratio', { TransactionalId: null, Acks: 1, TimeoutMs: 1000, TopicData: [{ Name: 'ratio', PartitionData: partitions }] });
      const { client, broker } = await run(frame, rng(payload));
      const copied = (records: CaptureRecord[]): number => records.reduce((n, r) => n + r.data.length, 0);
      expect(copied(client)).toBe(copied(broker));
      return { copied: copied(client), total: frame.length };
    };
    const small = await copiedFor(KiB);
    const big = await copiedFor(4 << 20);
    // Only the wider varint of each records length differs.
    expect(big.copied).toBeGreaterThanOrEqual(small.copied);
    expect(big.copied / small.copied).toBeLessThanOrEqual(1.1);
    expect(big.copied / big.total).toBeLessThan(0.0001);
  });
});
