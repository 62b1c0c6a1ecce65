// The Kafka oracle's workloads (test/helpers/kafka-oracle.ts): a seed gives the same workload every
// time, and the seeds a development run goes through cover what the oracle is for.
import { describe, expect, it } from 'vitest';
import { CODECS, parseSeeds, workloadOf, type Client } from '../helpers/kafka-oracle.js';

const SEEDS = parseSeeds('1-200');
const MiB = 1024 * 1024;

describe('kafka oracle workloads', () => {
  it('are a function of the seed', () => {
    for (const seed of [1, 2, 77, 4096]) expect(workloadOf(seed)).toEqual(workloadOf(seed));
    expect(workloadOf(1)).not.toEqual(workloadOf(2));
  });

  it('cover every client with each of its codecs, every acks, idempotence, both consumers and several brokers over 200 seeds', () => {
    const seen = new Set<string>();
    for (const seed of SEEDS) {
      const w = workloadOf(seed);
      seen.add(`consumer ${w.consumer}`);
      if (w.brokers > 1) seen.add('brokers>1');
      for (const s of w.steps) {
        seen.add(`${s.client} ${s.codec}`);
        seen.add(`acks ${s.acks}`);
        if (s.idempotent) seen.add(`idempotent ${s.client}`);
        const perPartition = new Map<string, number>();
        for (const m of s.messages) perPartition.set(`${m.topic}/${m.partition}`, (perPartition.get(`${m.topic}/${m.partition}`) ?? 0) + m.valueSize);
        if (perPartition.size >= 8) seen.add('8+ partitions in a request');
        if (Math.max(...perPartition.values()) >= 2 * MiB) seen.add('a batch of 2 MiB+');
        if (s.messages.length === 1) seen.add('a single record');
        if (s.messages.some((m) => m.key === null)) seen.add('null keys');
        if (s.messages.some((m) => Object.keys(m.headers).length > 0)) seen.add('headers');
      }
    }
    const want = [
      ...(Object.entries(CODECS) as [Client, string[]][]).flatMap(([client, codecs]) => codecs.map((c) => `${client} ${c}`)),
      'acks 0', 'acks 1', 'acks -1', 'idempotent confluent', 'idempotent kcat', 'consumer kcat', 'consumer kafkajs',
      'brokers>1', '8+ partitions in a request', 'a batch of 2 MiB+', 'a single record', 'null keys', 'headers',
    ];
    expect(want.filter((x) => !seen.has(x))).toEqual([]);
  });

  it('stay within 8 MiB of values per seed, and read back with kafkajs only what kafkajs can decompress', () => {
    for (const seed of SEEDS) {
      const w = workloadOf(seed);
      const bytes = w.steps.flatMap((s) => s.messages).reduce((n, m) => n + m.valueSize, 0);
      expect(bytes).toBeLessThanOrEqual(8 * MiB);
      if (w.consumer === 'kafkajs') for (const s of w.steps) expect(CODECS.kafkajs).toContain(s.codec);
      for (const s of w.steps) {
        expect(CODECS[s.client]).toContain(s.codec);
        if (s.idempotent) expect(s.acks).toBe(-1);
        if (s.client === 'kcat') expect(new Set(s.messages.map((m) => `${m.topic}/${m.partition}`)).size).toBe(1);
      }
    }
  });

  it('reads seed lists', () => {
    expect(parseSeeds('1,5,9-12')).toEqual([1, 5, 9, 10, 11, 12]);
    expect(parseSeeds(' 3 ')).toEqual([3]);
    expect(() => parseSeeds('1-x')).toThrow(/bad seed list/);
  });
});
