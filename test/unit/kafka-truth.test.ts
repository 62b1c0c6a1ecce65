// Reading Kafka's own account (test/helpers/kafka-truth.ts) from what its tools print: the fixtures
// under test/fixtures/kafka-tools/ are the real output of Apache Kafka 4.4.0's tools and of the Java
// peer's Jmx command against a test broker.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { jmxDelta, parseGetOffsets, parseJmx, parseToolTables } from '../helpers/kafka-truth.js';

const fixture = (name: string) => readFileSync(join(ROOT, 'test', 'fixtures', 'kafka-tools', name), 'utf8');

describe('kafka-truth', () => {
  it('sums JMX counters over brokers per topic and per request and version', () => {
    const lines = fixture('jmx.jsonl')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l));
    const c = parseJmx(lines);
    expect(c.topics.get('orders')).toEqual({ messagesIn: 150, bytesIn: expect.any(Number), bytesOut: expect.any(Number) });
    expect(c.requests.get('Produce,11')).toBeGreaterThan(0);
    // A follower's Fetch counts as Fetch and FetchFollower, a consumer's as Fetch and FetchConsumer.
    const fetches = [...c.requests].filter(([k]) => k.startsWith('Fetch,')).reduce((a, [, n]) => a + n, 0);
    const split = [...c.requests].filter(([k]) => k.startsWith('FetchFollower,') || k.startsWith('FetchConsumer,')).reduce((a, [, n]) => a + n, 0);
    expect(fetches).toBe(split);
    expect(c.totalTimeMs.get('Produce')!.count).toBe([...c.requests].filter(([k]) => k.startsWith('Produce,')).reduce((a, [, n]) => a + n, 0));
  });

  it('takes deltas of counters, leaving unchanged ones out', () => {
    const one = (count: number, topic = 't') => ({ event: 'metric', jmx: 'x', type: 'BrokerTopicMetrics', name: 'MessagesInPerSec', topic, count });
    const req = (count: number) => ({ event: 'metric', jmx: 'x', type: 'RequestMetrics', name: 'RequestsPerSec', request: 'Produce', version: '11', count });
    const time = (count: number, mean: number) => ({ event: 'metric', jmx: 'x', type: 'RequestMetrics', name: 'TotalTimeMs', request: 'Produce', count, mean });
    const d = jmxDelta(parseJmx([one(5), one(2, 'u'), req(3), time(3, 2)]), parseJmx([one(9), one(2, 'u'), req(7), time(7, 3)]));
    expect([...d.topics]).toEqual([['t', { messagesIn: 4, bytesIn: 0, bytesOut: 0 }]]);
    expect([...d.requests]).toEqual([['Produce,11', 4]]);
    expect(d.totalTimeMs.get('Produce')).toEqual({ count: 4, sumMs: 21 - 6 });
  });

  it('refuses a JMX line it does not know', () => {
    expect(() => parseJmx([{ event: 'metric', jmx: 'x', type: 'Other', name: 'X', count: 1 }])).toThrow(/unexpected JMX metric/);
  });

  it('reads kafka-consumer-groups --describe tables, "-" as unknown', () => {
    const alive = parseToolTables(fixture('describe-consumer-alive.txt'));
    expect(alive.map((r) => [r['PARTITION'], r['CURRENT-OFFSET'], r['LOG-END-OFFSET'], r['LAG'], r['CLIENT-ID']])).toEqual([
      ['0', '31', '46', '15', 'billing-1'],
      ['1', '39', '56', '17', 'billing-1'],
      ['2', '30', '48', '18', 'billing-1'],
    ]);
    // The same group once its member left: offsets stay, the member columns read "-".
    const empty = parseToolTables(fixture('describe-consumer-empty.txt'));
    expect(empty.map((r) => [r['LAG'], r['CONSUMER-ID'], r['HOST'], r['CLIENT-ID']])).toEqual([
      ['15', undefined, undefined, undefined],
      ['17', undefined, undefined, undefined],
      ['18', undefined, undefined, undefined],
    ]);
    expect(parseToolTables(fixture('describe-classic-members.txt'))).toEqual([
      { GROUP: 'audit', 'CONSUMER-ID': 'audit-1-0bdd32a3-5df1-4914-b6bb-0e44b60aa8e2', HOST: '/127.0.0.1', 'CLIENT-ID': 'audit-1', '#PARTITIONS': '3' },
    ]);
  });

  it('reads --state, whose coordinator column and values hold a space', () => {
    expect(parseToolTables(fixture('describe-classic-state.txt'))).toEqual([
      { GROUP: 'audit', COORDINATOR: '127.0.0.1:46615', '(ID)': '(2)', 'ASSIGNMENT-STRATEGY': 'range', STATE: 'Stable', '#MEMBERS': '1' },
    ]);
    expect(parseToolTables(fixture('describe-consumer-state.txt'))[0]).toMatchObject({ 'ASSIGNMENT-STRATEGY': 'uniform', STATE: 'Stable', '#MEMBERS': '1' });
    expect(parseToolTables(fixture('describe-classic-empty-state.txt'))[0]).toMatchObject({ 'ASSIGNMENT-STRATEGY': undefined, STATE: 'Empty', '#MEMBERS': '0' });
  });

  it('refuses a row that does not fit its header', () => {
    expect(() => parseToolTables('GROUP TOPIC PARTITION\ng t 0 extra\n')).toThrow(/4 values under 3 columns/);
    expect(parseToolTables('Consumer group g has no active members.\n\nGROUP TOPIC\ng t\n')).toEqual([{ GROUP: 'g', TOPIC: 't' }]);
  });

  it('reads kafka-get-offsets', () => {
    const ends = parseGetOffsets(fixture('get-offsets.txt'));
    expect([...ends.keys()]).toEqual(['orders,0', 'orders,1', 'orders,2']);
    expect([...ends.values()].reduce((a, b) => a + b, 0)).toBe(150);
    expect(() => parseGetOffsets('orders:0\n')).toThrow(/not a kafka-get-offsets line/);
  });
});
