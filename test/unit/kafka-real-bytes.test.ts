// Real bytes: librdkafka (kcat 1.7.1, librdkafka 2.0.2) against its built-in mock cluster, captured
// with dumpcap on loopback (test/fixtures/kafka/kcat-mock-cluster.json, one entry per TCP segment).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { KafkaDecoder, type KafkaExchange } from '../../src/kafka/index.js';

interface Segment { stream: number; dir: 'out' | 'in'; clientPort: number; brokerPort: number; tsNs: string; hex: string }
const fixture = JSON.parse(readFileSync(new URL('../fixtures/kafka/kcat-mock-cluster.json', import.meta.url), 'utf8')) as { segments: Segment[] };

function replay(split: (data: Uint8Array) => Uint8Array[]): { events: KafkaExchange[]; decoder: KafkaDecoder } {
  const events: KafkaExchange[] = [];
  const decoder = new KafkaDecoder({ onExchange: (e) => events.push(e) });
  for (const s of fixture.segments) {
    for (const data of split(Buffer.from(s.hex, 'hex'))) {
      decoder.push({ pid: 1, tid: 1, comm: 'kcat', fd: s.stream, laddr: '127.0.0.1', lport: s.clientPort, raddr: '127.0.0.1', rport: s.brokerPort, dir: s.dir, ts: BigInt(s.tsNs), skipped: 0, data });
    }
  }
  decoder.closeAll();
  return { events, decoder };
}

describe('librdkafka traffic', () => {
  const full = replay((d) => [d]);
  const { events, decoder } = full;

  it('decodes every frame, with no failure', () => {
    expect(decoder.counters()).toMatchObject({ framesDecoded: 67, framesFailed: {}, resyncs: 0, exchanges: 34, unanswered: 1 });
    expect(events.every((e) => e.role === 'client' && !e.truncated)).toBe(true);
  });

  it('ApiVersions v3 answered in v0 by a broker without it', () => {
    const [first, second] = events;
    expect(first).toMatchObject({ api: 'ApiVersions', version: 3, error_name: 'UNSUPPORTED_VERSION', client_id: 'kt-producer' });
    expect(first!.details).toMatchObject({ client_software_name: 'librdkafka', client_software_version: '2.0.2' });
    expect(second).toMatchObject({ api: 'ApiVersions', version: 0, error: 0 });
    expect(second!.details.api_count).toBe(17);
  });

  it('Produce of 3 messages to orders/0', () => {
    const produce = events.find((e) => e.api === 'Produce')!;
    expect(produce).toMatchObject({ version: 7, status: 'complete', error_name: 'NONE' });
    expect(produce.latency).toBeGreaterThan(0n);
    expect(produce.items).toEqual([{ topic: 'orders', partition: 0, acks: -1, records: 3, offsets: 3, bytes: 97, incomplete: false, base_offset: 0n, error: 0, error_name: 'NONE' }]);
  });

  it('consumer group: coordinator, join, sync, heartbeats, offsets, fetches with the group, leave', () => {
    const consumer = events.filter((e) => e.client_id === 'kt-consumer').map((e) => e.api);
    for (const api of ['FindCoordinator', 'JoinGroup', 'SyncGroup', 'Heartbeat', 'OffsetFetch', 'ListOffsets', 'Fetch', 'LeaveGroup']) {
      expect(consumer).toContain(api);
    }
    const join = events.find((e) => e.api === 'JoinGroup')!;
    expect(join.details).toMatchObject({ group: 'grp1', generation: 2, protocol: 'range', protocol_type: 'consumer', members: 1, is_leader: true });
    const sync = events.find((e) => e.api === 'SyncGroup')!;
    expect(sync.derived?.find((d) => d.probe === 'rebalance')?.fields).toMatchObject({ group: 'grp1', generation: 2, members: 1, complete: 1 });
    const fetch = events.find((e) => e.api === 'Fetch' && e.status === 'complete')!;
    expect(fetch.version).toBe(11);
    expect(fetch.items.map((i) => i.partition)).toEqual([2, 3]);
    expect(fetch.items[0]).toMatchObject({ topic: 'orders', partition: 2, group: 'grp1', fetch_offset: 0n, high_watermark: 0n, lag: 0n });
    // The last Fetch was cut off by SIGINT: reported as closed.
    expect(events.at(-1)).toMatchObject({ api: 'Fetch', status: 'closed', latency: null });
  });

  it('gives the same exchanges when every segment arrives byte by byte', () => {
    const split = replay((d) => [...d].map((b) => Uint8Array.of(b)));
    const key = (e: KafkaExchange) => [e.api, e.version, e.correlation_id, e.status, e.error, e.items.length].join(' ');
    expect(split.events.map(key)).toEqual(events.map(key));
  });

  it('with only the first 40 bytes of each frame copied (as the capture does), every exchange is still reported', () => {
    const HEAD = 40;
    // What the kernel capture does per direction: copy a frame's size and head, skip the rest.
    const trackers = new Map<string, { left: number; sizeBytes: number[]; copy: number; skipped: number }>();
    const cut = (key: string, data: Uint8Array): { data: Uint8Array; skipped: number }[] => {
      let t = trackers.get(key);
      if (!t) trackers.set(key, (t = { left: 0, sizeBytes: [], copy: 0, skipped: 0 }));
      const out: { data: Uint8Array; skipped: number }[] = [];
      let copied: number[] = [];
      const flush = () => {
        if (copied.length > 0) out.push({ data: Uint8Array.from(copied), skipped: t!.skipped });
        if (copied.length > 0) t!.skipped = 0;
        copied = [];
      };
      for (const b of data) {
        if (t.left === 0) {
          copied.push(b);
          t.sizeBytes.push(b);
          if (t.sizeBytes.length === 4) {
            t.left = new DataView(Uint8Array.from(t.sizeBytes).buffer).getInt32(0);
            t.copy = HEAD;
            t.sizeBytes = [];
          }
        } else {
          t.left--;
          if (t.copy > 0) {
            t.copy--;
            copied.push(b);
          } else {
            flush();
            t.skipped++;
          }
        }
      }
      flush();
      return out;
    };
    const events: KafkaExchange[] = [];
    const decoder = new KafkaDecoder({ onExchange: (e) => events.push(e) });
    for (const s of fixture.segments) {
      for (const chunk of cut(`${s.stream}${s.dir}`, Buffer.from(s.hex, 'hex'))) {
        decoder.push({ pid: 1, tid: 1, comm: 'kcat', fd: s.stream, laddr: '127.0.0.1', lport: s.clientPort, raddr: '127.0.0.1', rport: s.brokerPort, dir: s.dir, ts: BigInt(s.tsNs), ...chunk });
      }
    }
    decoder.closeAll();
    const key = (e: KafkaExchange) => [e.api, e.version, e.correlation_id, e.status, e.connection.fd].join(' ');
    // A response whose tail is reported only with the next chunk comes out later, with the same latency.
    expect(events.map(key).sort()).toEqual(full.events.map(key).sort());
    const latency = (list: KafkaExchange[]) => list.map((e) => `${key(e)} ${e.latency}`).sort();
    expect(latency(events)).toEqual(latency(full.events));
    expect(decoder.counters()).toMatchObject({ framesFailed: {}, resyncs: 0, framesDecoded: 67 });
    expect(decoder.counters().bytesSkipped).toBeGreaterThan(2000);
    expect(events.find((e) => e.api === 'Produce')!.items[0]).toMatchObject({ topic: 'orders', partition: 0, base_offset: 0n });
    expect(events.find((e) => e.api === 'JoinGroup')!.details).toMatchObject({ group: 'grp1' });
  });
});
