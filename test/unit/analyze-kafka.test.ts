import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { findCataloguePath, kafkaCatalogue, parseKafkaCatalogue } from '../../src/frontend/kafka-catalogue.js';

const REQUIRED = [
  'request', 'produce', 'fetch', 'listoffsets', 'metadata', 'offsetcommit', 'offsetfetch', 'findcoordinator', 'joingroup',
  'heartbeat', 'leavegroup', 'syncgroup', 'describegroups', 'listgroups', 'apiversions', 'initproducerid',
  'addpartitionstotxn', 'endtxn', 'createtopics', 'deletetopics', 'consumergroupheartbeat', 'consumergroupdescribe',
  'sharegroupheartbeat', 'sharefetch', 'shareacknowledge', 'rebalance', 'lag', 'member',
];

describe('kafka probe catalogue', () => {
  const catalogue = kafkaCatalogue();

  it('is found at the package root and lists every probe', () => {
    expect(findCataloguePath()).toMatch(/stdlib\/kafka-probes\.json$/);
    expect(catalogue.probes.map((p) => p.name).sort()).toEqual([...REQUIRED].sort());
  });

  it('gives every probe the common args first, then its own', () => {
    const common = ['api', 'version', 'correlation_id', 'client_id', 'latency', 'error', 'error_name', 'role', 'laddr', 'lport', 'raddr', 'rport', 'request_bytes', 'response_bytes'];
    for (const p of catalogue.probes) {
      expect(p.args.map((a) => a.name)).toEqual(expect.arrayContaining(common));
      expect(p.description.length).toBeGreaterThan(10);
    }
    const fetch = catalogue.probes.find((p) => p.name === 'fetch')!;
    expect(fetch.api).toBe('Fetch');
    const arg = (n: string) => fetch.args.find((a) => a.name === n)?.type;
    expect(arg('topic')).toEqual({ kind: 'str', size: 256 });
    expect(arg('group')).toEqual({ kind: 'str', size: 256 });
    expect(arg('lag')).toEqual({ kind: 'int', bits: 64, signed: true });
    const rebalance = catalogue.probes.find((p) => p.name === 'rebalance')!;
    expect(rebalance.api).toBeUndefined();
    expect(rebalance.args.map((a) => a.name)).toEqual(expect.arrayContaining(['group', 'generation', 'members', 'duration', 'reason']));
  });

  it('accepts a new probe as data alone', () => {
    const json = JSON.parse(readFileSync(findCataloguePath()!, 'utf8'));
    json.probes.push({ name: 'saslhandshake', api: 'SaslHandshake', description: 'A SaslHandshake exchange.', args: [{ name: 'mechanism', type: 'str', size: 32, description: 'SASL mechanism' }] });
    const c = parseKafkaCatalogue(json);
    expect(c.probes.at(-1)!.args.at(-1)).toEqual({ name: 'mechanism', type: { kind: 'str', size: 32 }, description: 'SASL mechanism' });
  });

  it('rejects invalid entries with a message naming them', () => {
    const base = { common: [], probes: [] as unknown[] };
    expect(() => parseKafkaCatalogue({ ...base, probes: [{ name: 'x', description: 'd', args: [{ name: 'a', type: 'float', description: 'd' }] }] })).toThrow(
      /probes\.x\.args\[0\]\.a: "type" must be "int" or "str"/,
    );
    expect(() => parseKafkaCatalogue({ ...base, probes: [{ name: 'x', description: 'd', args: [] }, { name: 'x', description: 'd', args: [] }] })).toThrow(/duplicate probe x/);
    expect(() => parseKafkaCatalogue({ common: [{ name: 'topic', type: 'str', description: 'd' }], probes: [] })).toThrow(/positive integer "size"/);
  });
});
