// A day of an agent's life compressed: four Kafka stdlib tools run as the agent runs them (sessions
// on one shared feed), fed 24 simulated hours of Kafka traffic (14,400 short-lived connections of
// 50 clients, 10 groups and 20 topics: Produce, OffsetCommit and Fetch) and scraped every simulated
// hour. Once every key has been seen, the heap must stay where it is.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { AgentMetrics } from '../../src/agent/metrics.js';
import { sessionFactory, SharedFeed, type AgentRun } from '../../src/agent/runner.js';
import type { AgentScript } from '../../src/agent/config.js';
import type { Capture } from '../../src/kafka/capture/loader.js';
import { encodeCaptureRecord } from '../../src/kafka/capture/record.js';
import { startKafkaFeed } from '../../src/runtime/kafka-source.js';
import { createOutput } from '../../src/runtime/output.js';
import { recordBatch, requestFrame, responseFrame } from '../fixtures/kafka/encoder.js';
import { ROOT } from '../helpers/cli.js';
import { canRun } from './runtime-helpers.js';

const run = canRun();

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const HOURS = 24;
const CONNECTIONS_PER_HOUR = 600;
const ROUNDS_PER_CONNECTION = 3;
/** Every client, group, topic and partition has been seen by then; from this hour on, nothing may grow. */
const SETTLED_HOUR = 2;

/** Heap in use after a full collection, in bytes. */
function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

describe.runIf(run)('the agent over a compressed day', () => {
  let onBatch: ((b: Buffer) => void) | undefined;
  const zero = { handed: 0, ring: 0, afterLoss: 0, tooMany: 0, desyncs: 0 };
  const output = createOutput({ format: 'text', write: () => {} });
  const feed = new SharedFeed(output, (opts) =>
    startKafkaFeed({
      ...opts,
      startCapture: (_o, cb): Capture => {
        onBatch = cb;
        return { probes: 0, lost: () => 0, frames: () => ({ out: zero, in: zero }), poll: () => Buffer.alloc(0), pause: () => {}, close: () => {} };
      },
    }),
  );
  const runs: AgentRun[] = [];
  afterAll(async () => {
    for (const r of runs) await r.stop();
    feed.close();
  });

  it('keeps its heap steady over 24 hours of short-lived connections', async () => {
    const factory = sessionFactory({ feed, write: () => {}, writeError: () => {} });
    const scripts: AgentScript[] = ['kafka-overview', 'kafka-lag', 'kafka-clients', 'kafka-errors'].map((tool) => {
      const path = join(ROOT, 'stdlib', `${tool}.ktr`);
      return { name: tool.replace('-', '_'), path, text: readFileSync(path, 'utf8'), args: [], labels: { node: 'n1' }, print: false };
    });
    for (const s of scripts) runs.push(await factory(s));
    const metrics = new AgentMetrics(500);
    const view = () => ({ labels: { node: 'n1' }, scripts, states: scripts.map((s) => ({ name: s.name, state: 'running' as const, restarts: 0 })), running: runs.map((r, i) => ({ script: scripts[i]!, run: r })) });

    let conn = 0n;
    // Timestamps near the clock the decoder expires unanswered requests by, a microsecond apart.
    let ts = process.hrtime.bigint();
    const offsets = new Map<string, bigint>();
    const heaps: number[] = [];
    let scrapeBytes = 0;
    for (let hour = 0; hour < HOURS; hour++) {
      for (let c = 0; c < CONNECTIONS_PER_HOUR; c++) {
        conn++;
        const port = 20000 + Number(conn % 40000n);
        const client = `app-${c % 50}`;
        const group = `group-${c % 10}`;
        const at = { out: 0n, in: 0n };
        const records: Uint8Array[] = [];
        const piece = (dir: 'out' | 'in', data: Uint8Array, close = false): void => {
          records.push(
            encodeCaptureRecord({ pid: 4000 + (c % 50), tid: 4000, comm: 'app', fd: 9, conn, family: 4, laddr: '127.0.0.1', lport: port, raddr: '127.0.0.1', rport: 9092, dir, ts: (ts += 1000n), offset: at[dir], skipped: 0, data, close }),
          );
          at[dir] += BigInt(data.length);
        };
        for (let r = 0; r < ROUNDS_PER_CONNECTION; r++) {
          const topic = `topic-${(c + r) % 20}`;
          const partition = r % 4;
          const key = `${topic}/${partition}`;
          const base = offsets.get(key) ?? 0n;
          const n = 1 + ((r * 7 + c) % 9);
          offsets.set(key, base + BigInt(n));
          const cid = r * 3;
          piece('out', requestFrame(0, 9, cid, client, { TransactionalId: null, Acks: -1, TimeoutMs: 1000, TopicData: [{ Name: topic, PartitionData: [{ Index: partition, Records: recordBatch({ records: n }) }] }] }));
          piece('in', responseFrame(0, 9, cid, { Responses: [{ Name: topic, PartitionResponses: [{ Index: partition, ErrorCode: r % 10 === 9 ? 6 : 0, BaseOffset: base }] }] }));
          piece('out', requestFrame(8, 2, cid + 1, client, { GroupId: group, GenerationIdOrMemberEpoch: 1, MemberId: 'm', RetentionTimeMs: -1n, Topics: [{ Name: topic, Partitions: [{ PartitionIndex: partition, CommittedOffset: base, CommittedMetadata: null }] }] }));
          piece('in', responseFrame(8, 2, cid + 1, { Topics: [{ Name: topic, Partitions: [{ PartitionIndex: partition, ErrorCode: 0 }] }] }));
          const hw = base + BigInt(n);
          piece('out', requestFrame(1, 12, cid + 2, client, { ReplicaId: -1, MaxWaitMs: 500, MinBytes: 1, MaxBytes: 1 << 20, IsolationLevel: 0, SessionId: 0, SessionEpoch: -1, Topics: [{ Topic: topic, Partitions: [{ Partition: partition, CurrentLeaderEpoch: -1, FetchOffset: base, LogStartOffset: -1n, PartitionMaxBytes: 1 << 20 }] }], ForgottenTopicsData: [], RackId: '' }));
          piece('in', responseFrame(1, 12, cid + 2, { ThrottleTimeMs: 0, ErrorCode: 0, SessionId: 0, Responses: [{ Topic: topic, Partitions: [{ PartitionIndex: 0 + partition, ErrorCode: 0, HighWatermark: hw, LastStableOffset: hw, LogStartOffset: 0n, AbortedTransactions: null, PreferredReadReplica: -1, Records: recordBatch({ records: n, baseOffset: base }) }] }] }));
        }
        piece('out', new Uint8Array(0), true);
        onBatch!(Buffer.concat(records));
        // The feed decodes in slices between turns of the event loop.
        await new Promise((r) => setImmediate(r));
      }
      // The hour is decoded before it is scraped: nothing is left waiting to be mistaken for growth.
      const expected = (hour + 1) * CONNECTIONS_PER_HOUR * ROUNDS_PER_CONNECTION * 3;
      for (let waited = 0; feed.current()!.counters().exchanges < expected && waited < 30_000; waited += 10) await new Promise((r) => setTimeout(r, 10));
      scrapeBytes = (await metrics.scrape(view())).length;
      heaps.push(heapAfterGc());
    }
    const counters = feed.current()!.counters();
    // The traffic was decoded, not dropped: every exchange of the day.
    expect(counters.exchanges).toBe(HOURS * CONNECTIONS_PER_HOUR * ROUNDS_PER_CONNECTION * 3);
    expect(Object.values(counters.framesFailed).reduce((a, b) => a + (b ?? 0), 0), JSON.stringify(counters.framesFailed)).toBe(0);
    // Nothing grows once every key is known: the heap stays within 4 MiB of where it was then.
    const settled = heaps[SETTLED_HOUR]!;
    const mib = (n: number) => Math.round(n / 2 ** 20);
    expect(Math.max(...heaps.slice(SETTLED_HOUR)) - settled, `heap (MiB) per hour: ${heaps.map(mib).join(' ')}`).toBeLessThan(4 * 2 ** 20);
    expect(scrapeBytes).toBeLessThan(4 * 2 ** 20);
  });
});
