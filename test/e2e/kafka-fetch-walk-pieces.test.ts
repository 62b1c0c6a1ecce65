// The Fetch-response walk on known bytes, for the versions the mock broker does not speak (flexible
// v12+, topic ids v13+, NodeEndpoints v16+) and for the awkward ways a broker writes: a small C
// "broker" (compiled here with cc) reads one Fetch request and writes a prepared response following
// a plan: headers split across many write(2)s and writev(2)s, record data by write(2) or
// sendfile(2), one partition's whole records field by sendfile. A Node client in this process
// sends the request and reads the response. Both ends' records go through the KafkaDecoder.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureRecords, type CaptureRecord } from '../../src/kafka/capture/record.js';
import { startCapture } from '../../src/kafka/capture/loader.js';
import { KafkaDecoder, type KafkaExchange } from '../../src/kafka/index.js';
import { privilegeProblem } from '../../src/runtime/privileges.js';
import { concat, recordBatch, requestFrame, responseFrame } from '../fixtures/kafka/encoder.js';
import { heldBpf } from '../helpers/bpf-held.js';

const problem = privilegeProblem();
if (problem && process.env['CI'] === 'true') throw new Error(problem);
if (problem) console.log(`kafka-fetch-walk pieces tests not run: ${problem}`);
const runnable = problem === undefined;

const BROKER_SOURCE = String.raw`/*
 * fetch-replay FILE PLAN [N]: listens on 127.0.0.1 (its port on stdout) and, once a byte arrives on
 * its standard input, accepts one connection (so that a capture started meanwhile sees it begin, as
 * a broker's), reads N Kafka frames (the requests, default 1), then sends FILE (the responses)
 * following PLAN, ops separated by commas, each on the next bytes:
 *   wN    write(2) N bytes      vN.M  writev(2) of N and M bytes      sN  sendfile(2) N bytes
 * Exits 0 when every op moved all its bytes.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

static int readn(int fd, unsigned char *b, size_t n) {
  while (n) {
    ssize_t r = read(fd, b, n);
    if (r <= 0) return -1;
    b += r;
    n -= r;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 3 && argc != 4) return 2;
  int requests = argc == 4 ? atoi(argv[3]) : 1;
  int file = open(argv[1], O_RDONLY);
  struct stat st;
  if (file < 0 || fstat(file, &st)) return 3;
  unsigned char *data = malloc(st.st_size);
  if (!data || pread(file, data, st.st_size, 0) != st.st_size) return 3;
  int l = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof a;
  if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1) || getsockname(l, (struct sockaddr *)&a, &alen)) return 4;
  printf("%d\n", ntohs(a.sin_port));
  fflush(stdout);
  char go;
  if (read(0, &go, 1) != 1) return 4;
  int s = accept(l, NULL, NULL);
  if (s < 0) return 4;
  for (int i = 0; i < requests; i++) {
    unsigned char size[4];
    if (readn(s, size, 4)) return 5;
    size_t n = ((size_t)size[0] << 24) | (size[1] << 16) | (size[2] << 8) | size[3];
    unsigned char *req = malloc(n);
    if (!req || readn(s, req, n)) return 5;
    free(req);
  }
  off_t pos = 0;
  for (char *op = strtok(argv[2], ","); op; op = strtok(NULL, ",")) {
    char kind = op[0];
    size_t len = strtoul(op + 1, NULL, 10);
    if (kind == 'w') {
      if (write(s, data + pos, len) != (ssize_t)len) return 6;
      pos += len;
    } else if (kind == 'v') {
      size_t len2 = strtoul(strchr(op, '.') + 1, NULL, 10);
      struct iovec iov[2] = {{data + pos, len}, {data + pos + len, len2}};
      if (writev(s, iov, 2) != (ssize_t)(len + len2)) return 7;
      pos += len + len2;
    } else if (kind == 's') {
      off_t at = pos;
      size_t left = len;
      while (left) {
        ssize_t r = sendfile(s, file, &at, left);
        if (r <= 0) return 8;
        left -= r;
      }
      pos += len;
    }
    usleep(200);
  }
  if (pos != st.st_size) return 9;
  shutdown(s, SHUT_WR);
  char c;
  while (read(s, &c, 1) > 0) {}
  return 0;
}
`;

const KiB = 1024;
const PARTITIONS = 8;
const PAYLOAD = 64 * KiB;
const BATCH_HEADER = 61;
const TOPIC_ID = '00000000-0000-4000-8000-0000000000aa';
/** Its whole records field goes by sendfile: the broker's capture cannot see its batch headers. */
const SENT_FROM_FILE = 5;

interface Partition {
  index: number;
  fetchOffset: bigint;
  highWatermark: bigint;
  batches: Uint8Array[];
}

function partitions(): Partition[] {
  return Array.from({ length: PARTITIONS }, (_, i) => {
    const fetchOffset = BigInt(10 * i);
    const batches = [0, 1].map((b) => recordBatch({ baseOffset: fetchOffset + BigInt(2 * b), records: 2, payload: PAYLOAD }));
    return { index: i, fetchOffset, highWatermark: fetchOffset + 50n + BigInt(i), batches };
  });
}

function topicOf(version: number): Record<string, string> {
  return version >= 13 ? { TopicId: TOPIC_ID } : { Topic: 'pieces' };
}

function fetchRequest(version: number, parts: Partition[], correlationId = 77): Uint8Array {
  return requestFrame(1, version, correlationId, 'pieces-client', {
    ReplicaId: -1, MaxWaitMs: 100, MinBytes: 1, MaxBytes: 1 << 26, IsolationLevel: 1, SessionId: 0, SessionEpoch: -1,
    Topics: [{ ...topicOf(version), Partitions: parts.map((p) => ({ Partition: p.index, CurrentLeaderEpoch: -1, FetchOffset: p.fetchOffset, LogStartOffset: -1n, PartitionMaxBytes: 1 << 20 })) }],
    ForgottenTopicsData: [],
    RackId: '',
  });
}

function fetchResponse(version: number, parts: Partition[], correlationId = 77): Uint8Array {
  const body: Record<string, unknown> = {
    ThrottleTimeMs: 0, ErrorCode: 0, SessionId: 3,
    Responses: [{
      ...topicOf(version),
      Partitions: parts.map((p) => ({
        PartitionIndex: p.index, ErrorCode: 0, HighWatermark: p.highWatermark, LastStableOffset: p.highWatermark, LogStartOffset: 0n,
        AbortedTransactions: p.index === 1 ? [{ ProducerId: 5n, FirstOffset: 11n }, { ProducerId: 6n, FirstOffset: 12n }] : null,
        PreferredReadReplica: -1,
        Records: concat(...p.batches),
        ...(version >= 12 && p.index === 2 ? { CurrentLeader: { LeaderId: 1, LeaderEpoch: 9 }, DivergingEpoch: { Epoch: 1, EndOffset: 4n } } : {}),
      })),
    }],
  };
  if (version >= 16) body.NodeEndpoints = [{ NodeId: 1, Host: 'broker-with-a-longish-host-name.example', Port: 9092, Rack: 'r1' }];
  return responseFrame(1, version, correlationId, body as never);
}

/** ShareFetch: the share group's member asks the partitions' records; no acknowledgements. */
function shareFetchRequest(version: number, parts: Partition[], correlationId = 77): Uint8Array {
  return requestFrame(78, version, correlationId, 'pieces-share', {
    GroupId: 'pieces-share-group', MemberId: 'member-1', ShareSessionEpoch: 0, MaxWaitMs: 100, MinBytes: 1, MaxBytes: 1 << 26,
    MaxRecords: 500, BatchSize: 500, ShareAcquireMode: 0, IsRenewAck: false,
    Topics: [{ TopicId: TOPIC_ID, Partitions: parts.map((p) => ({ PartitionIndex: p.index, AcknowledgementBatches: [] })) }],
    ForgottenTopicsData: [],
  });
}

/** The offsets partition `p` acquires: two ranges of its records, so 1 + 2 + (p % 2) of its 4. */
const acquiredOf = (p: Partition) => [
  { FirstOffset: p.fetchOffset, LastOffset: p.fetchOffset, DeliveryCount: 1 },
  { FirstOffset: p.fetchOffset + 2n, LastOffset: p.fetchOffset + 3n - BigInt(1 - (p.index % 2)), DeliveryCount: 2 },
];
const acquiredCount = (p: Partition) => acquiredOf(p).reduce((n, r) => n + Number(r.LastOffset - r.FirstOffset) + 1, 0);

function shareFetchResponse(version: number, parts: Partition[], correlationId = 77): Uint8Array {
  return responseFrame(78, version, correlationId, {
    ThrottleTimeMs: 0, ErrorCode: 0, ErrorMessage: null, AcquisitionLockTimeoutMs: 30000,
    Responses: [{
      TopicId: TOPIC_ID,
      Partitions: parts.map((p) => ({
        PartitionIndex: p.index, ErrorCode: 0, ErrorMessage: p.index === 3 ? 'a message the walk must step over' : null,
        AcknowledgeErrorCode: 0, AcknowledgeErrorMessage: p.index === 4 ? 'and another' : null,
        CurrentLeader: { LeaderId: 1, LeaderEpoch: 9 },
        Records: concat(...p.batches),
        AcquiredRecords: acquiredOf(p),
      })),
    }],
    NodeEndpoints: [{ NodeId: 1, Host: 'broker-with-a-longish-host-name.example', Port: 9092, Rack: 'r1' }],
  } as never);
}

/** Headers in pieces of 1 to 13 bytes (some by writev), record data by sendfile or write. */
function plan(frame: Uint8Array, parts: Partition[]): string {
  const buf = Buffer.from(frame);
  const payloads: [number, number, 'w' | 's'][] = [];
  for (const p of parts) {
    const starts = p.batches.map((b) => buf.indexOf(Buffer.from(b)));
    if (p.index === SENT_FROM_FILE) {
      payloads.push([starts[0]!, starts[0]! + p.batches.reduce((n, b) => n + b.length, 0), 's']);
      continue;
    }
    p.batches.forEach((b, i) => payloads.push([starts[i]! + BATCH_HEADER, starts[i]! + b.length, p.index % 2 ? 'w' : 's']));
  }
  const ops: string[] = [];
  const sizes = [1, 3, 2, 7, 5, 13, 4, 11];
  let k = 0;
  const pieces = (from: number, to: number): void => {
    while (from < to) {
      const n = Math.min(sizes[k++ % sizes.length]!, to - from);
      const m = Math.min(sizes[k % sizes.length]!, to - from - n);
      if (k % 5 === 0 && m > 0) {
        ops.push(`v${n}.${m}`);
        from += n + m;
      } else {
        ops.push(`w${n}`);
        from += n;
      }
    }
  };
  let pos = 0;
  for (const [from, to, how] of payloads) {
    pieces(pos, from);
    ops.push(`${how}${to - from}`);
    pos = to;
  }
  pieces(pos, frame.length);
  return ops.join(',');
}

function decode(records: CaptureRecord[]): { fetches: KafkaExchange[]; failed: object; unread: number } {
  const exchanges: KafkaExchange[] = [];
  const decoder = new KafkaDecoder({ onExchange: (e) => exchanges.push(e) });
  for (const r of records) {
    if (r.close) decoder.close(r);
    else decoder.push(r);
  }
  const { framesFailed, sendfileUnread } = decoder.counters();
  decoder.closeFiles();
  return { fetches: exchanges.filter((e) => e.api === 'Fetch'), failed: framesFailed, unread: sendfileUnread };
}

describe('kafka capture: Fetch responses in awkward pieces', () => {
  let dir: string;
  let broker: string;

  beforeAll(() => {
    if (!runnable) return;
    dir = mkdtempSync(join(tmpdir(), 'kt-fetch-walk-'));
    writeFileSync(join(dir, 'fetch-replay.c'), BROKER_SOURCE);
    broker = join(dir, 'fetch-replay');
    execFileSync('cc', ['-O2', '-Wall', '-o', broker, join(dir, 'fetch-replay.c')]);
  });

  afterAll(() => {
    if (!runnable) return;
    if (dir) rmSync(dir, { recursive: true, force: true });
    expect(heldBpf().fds).toBe(0);
  });

  /** Runs the C broker on `file` with `plan` under a capture; the client connects and sends `requests` first. */
  async function exchange(file: string, plan: string, requests: Uint8Array[]): Promise<{ records: CaptureRecord[]; pid: number; received: number }> {
    const records: CaptureRecord[] = [];
    const child = spawn(broker, [file, plan, String(requests.length)], { stdio: ['pipe', 'pipe', 'inherit'] });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
      child.once('error', reject);
    });
    const capture = startCapture({ ports: [port] }, (batch) => records.push(...captureRecords(batch)));
    let received = 0;
    try {
      const done = new Promise<number>((resolve, reject) => {
        const s = connect(port, '127.0.0.1', () => s.write(concat(...requests)));
        let got = 0;
        s.on('data', (d: Buffer) => (got += d.length));
        s.on('end', () => {
          s.end();
          resolve(got);
        });
        s.on('error', reject);
      });
      child.stdin!.end('go');
      received = await done;
      expect(await exited).toBe(0);
      await new Promise((resolve) => setTimeout(resolve, 50));
      records.push(...captureRecords(capture.poll()));
      expect(capture.lost()).toBe(0);
    } finally {
      capture.close();
      if (child.exitCode === null) child.kill();
    }
    return { records, pid: child.pid!, received };
  }

  it('a response that does not parse is cut at its head; the next one is walked again', async () => {
    if (!runnable) return;
    const parts = partitions();
    const bad = fetchResponse(11, parts, 77);
    // The topic count (after size, correlation id, throttle, error and session) claims 2^31-1 topics.
    new DataView(bad.buffer, bad.byteOffset).setInt32(18, 0x7fffffff);
    const good = fetchResponse(11, parts, 78);
    const file = join(dir, 'response-bad-good');
    writeFileSync(file, concat(bad, good));
    const { records, pid, received } = await exchange(file, `${plan(bad, parts)},${plan(good, parts)}`, [fetchRequest(11, parts, 77), fetchRequest(11, parts, 78)]);
    expect(received).toBe(bad.length + good.length);
    // The head rule takes over: the 64 KiB head copied where the client reads it; the broker sent part
    // of it by sendfile (unseen). Neither side loses sync.
    const copiedOfBad = (side: CaptureRecord[]): number => {
      expect(side.every((r) => !r.resync)).toBe(true);
      return side.filter((r) => r.offset < BigInt(bad.length)).reduce((n, r) => n + r.data.length, 0);
    };
    expect(copiedOfBad(records.filter((r) => r.pid === process.pid && r.dir === 'in'))).toBe(64 << 10);
    expect(copiedOfBad(records.filter((r) => r.pid === pid && r.dir === 'out'))).toBeLessThanOrEqual(64 << 10);
    for (const [side, unseen] of [[records.filter((r) => r.pid === process.pid), -1], [records.filter((r) => r.pid === pid), SENT_FROM_FILE]] as const) {
      const { fetches, failed } = decode(side);
      expect(fetches.map((f) => f.correlation_id)).toEqual([77, 78]);
      expect(fetches[0]!.items).toEqual([]);
      expect(failed).toEqual({ overrun: 1 });
      // A partition whose batch headers went by sendfile has an unknown record count (never 0).
      expect(fetches[1]!.items.map((i) => [i.partition, i.lag, i.records, i.incomplete])).toEqual(
        parts.map((p) => [p.index, p.highWatermark - p.fetchOffset, p.index === unseen ? undefined : 4, p.index === unseen]),
      );
    }
  });

  for (const version of [1, 2]) {
    it(`ShareFetch v${version}: acquired records of every partition on both ends, record data never copied`, async () => {
      if (!runnable) return;
      const parts = partitions();
      const response = shareFetchResponse(version, parts);
      const file = join(dir, `share-response-${version}`);
      writeFileSync(file, response);
      const { records, pid, received } = await exchange(file, plan(response, parts), [shareFetchRequest(version, parts)]);
      expect(received).toBe(response.length);
      // The broker sends partition 5's records by sendfile: its bytes come from the records length, its count from the acquired ranges.
      for (const side of [records.filter((r) => r.pid === process.pid), records.filter((r) => r.pid === pid)]) {
        const exchanges: KafkaExchange[] = [];
        const decoder = new KafkaDecoder({ onExchange: (e) => exchanges.push(e) });
        for (const r of side) {
          if (r.close) decoder.close(r);
          else decoder.push(r);
        }
        expect(decoder.counters().framesFailed).toEqual({});
        decoder.closeFiles();
        const fetches = exchanges.filter((e) => e.api === 'ShareFetch');
        expect(fetches).toHaveLength(1);
        expect(fetches[0]!.incomplete).toBe(false);
        // The acquired ranges come after each partition's records: the walk copies them, whatever it skipped.
        expect(fetches[0]!.items.map((i) => [i.partition, i.records, i.acquired_ranges, i.max_delivery_count, i.error])).toEqual(
          parts.map((p) => [p.index, acquiredCount(p), 2, 2, 0]),
        );
        expect(fetches[0]!.items.map((i) => i.bytes)).toEqual(parts.map(() => 2 * (PAYLOAD + BATCH_HEADER)));
        const response = side.filter((r) => r.dir === (side[0]!.pid === pid ? 'out' : 'in'));
        expect(response.reduce((n, r) => n + r.data.length, 0)).toBeLessThan(PARTITIONS * 300);
      }
    });
  }

  for (const version of [0, 3, 4, 5, 7, 11, 12, 13, 16, 17, 18]) {
    it(`v${version}: every partition decoded on both ends, record data never copied`, async () => {
      if (!runnable) return;
      const parts = partitions();
      const response = fetchResponse(version, parts);
      const file = join(dir, `response-${version}`);
      writeFileSync(file, response);
      const { records, pid, received } = await exchange(file, plan(response, parts), [fetchRequest(version, parts)]);
      expect(received).toBe(response.length);
      const topic = version >= 13 ? TOPIC_ID : 'pieces';
      for (const side of [records.filter((r) => r.pid === process.pid), records.filter((r) => r.pid === pid)]) {
        const { fetches, failed } = decode(side);
        expect(failed).toEqual({});
        expect(fetches).toHaveLength(1);
        const items = fetches[0]!.items;
        expect(items.map((i) => i.partition)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
        for (const p of parts) {
          expect(items[p.index]).toMatchObject({
            topic, fetch_offset: p.fetchOffset, high_watermark: p.highWatermark, lag: p.highWatermark - p.fetchOffset,
            bytes: 2 * (PAYLOAD + BATCH_HEADER), error: 0,
          });
        }
        const response = side.filter((r) => r.dir === (side[0]!.pid === pid ? 'out' : 'in'));
        const copied = response.reduce((n, r) => n + r.data.length, 0);
        expect(copied).toBeLessThan(PARTITIONS * 300);
      }
      // The client read every batch header; the broker sent partition 5's from a file, and had exited
      // (its file closed) before they were decoded: that record count is unknown, and counted.
      const client = decode(records.filter((r) => r.pid === process.pid)).fetches[0]!.items;
      const broker = decode(records.filter((r) => r.pid === pid));
      const served = broker.fetches[0]!.items;
      expect(broker.unread).toBeGreaterThanOrEqual(1);
      for (const p of parts) expect(client[p.index]!.records).toBe(4);
      for (const p of parts) expect(served[p.index]!.records).toBe(p.index === SENT_FROM_FILE ? undefined : 4);
      for (const p of parts) expect(served[p.index]!.incomplete).toBe(p.index === SENT_FROM_FILE);
    });
  }
});
