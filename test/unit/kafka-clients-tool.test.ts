// The stdlib's kafka-clients tool over hand-made firings: one row per client and API version, the
// client's own end of the connection whichever side was traced, and the versions flagged as removed
// in Kafka 4.x exactly those below the oldest that the installed Kafka release's own message schemas
// (the validVersions in its kafka-clients jar) accept.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { planScript } from '../../src/compiler.js';
import { compileUserProbes } from '../../src/runtime/interpreter.js';
import { createOutput } from '../../src/runtime/output.js';
import { userMapsOf } from '../../src/runtime/user-maps.js';
import { FakeSystem } from '../fixtures/analysis/fake-system.js';
import { ROOT } from '../helpers/cli.js';
import { kafkaVersion } from '../helpers/real-kafka.js';

type Args = Record<string, bigint | string>;

function clientsTool() {
  const source = readFileSync(join(ROOT, 'stdlib', 'kafka-clients.ktr'), 'utf8');
  const r = planScript(source, 'kafka-clients.ktr', { positional: [], unsafe: false, system: new FakeSystem() });
  if (!r.ok) throw new Error(r.diagnostics.map((d) => `${d.loc.line}:${d.loc.col}: ${d.message}`).join('\n'));
  const maps = userMapsOf(r.compiled.plan);
  const output = createOutput({ format: 'text', write: () => undefined, writeError: () => undefined });
  const probes = compileUserProbes(r.compiled.plan, { maps, output, positional: [], startNs: 0n });
  const fire = (probe: string, args: Args, pid = 42, comm = 'java'): void => {
    for (const p of probes.filter((x) => x.names.includes(probe))) p.run({ probe: `kafka:${probe}`, args, pid, tid: pid, comm, nsecs: 1n });
  };
  const rows = (map: string): string[] => maps.snapshot(map).entries.map((e) => [...e.keys, e.value].join(' ')).sort();
  return { fire, rows };
}

const conn = { role: 'client', laddr: '10.0.0.7', lport: 40000n, raddr: '10.0.0.1', rport: 9092n, client_id: 'billing' };

/** Each request schema of the installed Kafka release: API name, key and validVersions range. */
function releaseSchemas(): { api: string; apiKey: number; min: number; max: number }[] {
  const jar = join(ROOT, 'build', 'kafka', 'libs', `kafka-clients-${kafkaVersion()}.jar`);
  const entries = execFileSync('unzip', ['-Z1', jar], { encoding: 'utf8' }).split('\n').filter((e) => /^common\/message\/\w+Request\.json$/.test(e));
  expect(entries.length).toBeGreaterThan(50);
  return entries.map((e) => {
    // The schemas are JSON with // comment lines.
    const text = execFileSync('unzip', ['-p', jar, e], { encoding: 'utf8' }).replace(/^\s*\/\/.*$/gm, '');
    const s = JSON.parse(text) as { name: string; apiKey: number; validVersions: string };
    const api = s.name.replace(/Request$/, '');
    if (s.validVersions === 'none') return { api, apiKey: s.apiKey, min: Infinity, max: 20 };
    const [min, max] = s.validVersions.split('-').map(Number);
    return { api, apiKey: s.apiKey, min: min!, max: max ?? min! };
  });
}

describe('stdlib kafka-clients', () => {
  it('flags exactly the API versions the installed Kafka release no longer accepts', () => {
    const t = clientsTool();
    const expected: string[] = [];
    for (const s of releaseSchemas()) {
      for (let version = 0; version <= s.max + 1; version++) {
        t.fire('request', { ...conn, api: s.api, api_key: BigInt(s.apiKey), version: BigInt(version) });
        if (version < s.min) expected.push(`${s.api} v${version}`);
      }
    }
    // Rows end "API VERSION REQUESTS".
    const flagged = t.rows('@removed_in_kafka_4').map((r) => r.split(' ').slice(-3, -1).join(' v'));
    expect(flagged.sort()).toEqual(expected.sort());
    // KIP-896's removals in Kafka 4.0 are among them.
    expect(flagged).toEqual(expect.arrayContaining(['Produce v0', 'Produce v2', 'Fetch v3', 'ListOffsets v0', 'OffsetCommit v1', 'OffsetFetch v0']));
    expect(flagged).not.toContain('Produce v3');
    expect(flagged).not.toContain('Metadata v0');
  });

  it('lists each client once per process, client id and software, at its own end of the connection, and names each process', () => {
    const t = clientsTool();
    const hello = { api: 'ApiVersions', version: 3n, client_software_name: 'apache-kafka-java', client_software_version: '4.4.0' };
    // Two connections of one producer (bootstrap and partition leader), traced at the client.
    t.fire('apiversions', { ...conn, ...hello });
    t.fire('apiversions', { ...conn, lport: 40001n, ...hello });
    // The same client seen by the broker serving it: its address is the remote end there.
    t.fire('apiversions', { ...conn, role: 'broker', laddr: '10.0.0.1', raddr: '10.0.0.7', ...hello }, 7, 'data-plane-kafk');
    // An older client's ApiVersions v2 carries no software name or version.
    t.fire('apiversions', { ...conn, client_id: 'legacy', api: 'ApiVersions', version: 2n, client_software_name: '', client_software_version: '' }, 43, 'node');
    expect(t.rows('@clients')).toEqual([
      'broker 7 10.0.0.7 billing apache-kafka-java 4.4.0 1',
      'client 42 10.0.0.7 billing apache-kafka-java 4.4.0 2',
      'client 43 10.0.0.7 legacy unknown unknown 1',
    ]);
    t.fire('request', { ...conn, api: 'Produce', version: 11n });
    t.fire('request', { ...conn, api: 'Produce', version: 11n });
    t.fire('request', { ...conn, role: 'broker', laddr: '10.0.0.1', raddr: '10.0.0.7', api: 'Produce', version: 2n }, 7, 'data-plane-kafk');
    expect(t.rows('@api_versions')).toEqual([
      'broker 7 10.0.0.7 billing Produce 2 1',
      'client 42 10.0.0.7 billing Produce 11 2',
    ]);
    expect(t.rows('@removed_in_kafka_4')).toEqual(['broker 7 10.0.0.7 billing Produce 2 1']);
    expect(t.rows('@process')).toEqual(['42 java', '7 data-plane-kafk']);
  });
});
