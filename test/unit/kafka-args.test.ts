// The arg table (src/kafka/probes/args.ts) is the one place a kafka arg is declared: the catalogue the front
// end reads is generated from it, and every entry must reach a firing end to end: decoded by the full
// path (an item path, extractor, getter or tracker gives it a value other than its unknown sentinel), decoded
// alike under a demand for it alone (demand.ts decodes the fields it comes from), and made alike by
// the fast lane for Produce and Fetch (its lane code), or declined by the lane when it has none. A
// half-declared arg fails here.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodedVersions } from '../../src/kafka/wire/schemas/index.js';
import { catalogueJson, COMMON_ARGS, PROBES, type ArgSpec, type CommonArg } from '../../src/kafka/probes/args.js';
import { DecodePlan } from '../../src/kafka/probes/demand.js';
import { derivedFiring, KafkaDecoder, type CaptureChunk, type DerivedEvent, type KafkaDemand } from '../../src/kafka/index.js';
import { FastLane } from '../../src/kafka/lane/fast-lane.js';
import { MESSAGE_SPECS } from '../../src/kafka/wire/schemas/generated.js';
import type { FieldSpec, MessageSpec } from '../../src/kafka/wire/schemas/spec.js';
import { API_KEYS } from '../../src/kafka/wire/api-names.js';
import { parseKafkaCatalogue } from '../../src/frontend/kafka-catalogue.js';
import { ROOT } from '../helpers/cli.js';
import { chunk, corpus, lagFlow } from '../fixtures/kafka/corpus.js';
import { requestFrame, responseFrame } from '../fixtures/kafka/encoder.js';

const CATALOGUE = join(ROOT, 'stdlib', 'kafka-probes.json');

/**
 * A group's traffic seen by its one member: two classic generations (JoinGroup v8 with a reason, then
 * SyncGroup), and a KIP-848 member that joins and moves to a new epoch.
 */
function groupRounds(): CaptureChunk[] {
  const c = { pid: 300, tid: 300, comm: 'member', fd: 9, laddr: '127.0.0.1', lport: 41000, raddr: '127.0.0.1', rport: 9092 };
  const ms = 1_000_000n;
  let id = 0;
  let ts = 0n;
  const out: CaptureChunk[] = [];
  const exchange = (api: number, version: number, req: Parameters<typeof requestFrame>[4], resp: Parameters<typeof responseFrame>[3]): void => {
    id++;
    out.push(chunk('out', requestFrame(api, version, id, 'c9', req), (ts += 10n * ms), 0, c), chunk('in', responseFrame(api, version, id, resp), (ts += 10n * ms), 0, c));
  };
  const member = { MemberId: 'm1', GroupInstanceId: null, Metadata: new Uint8Array(4) };
  for (const generation of [1, 2]) {
    exchange(11, 8, { GroupId: 'g', SessionTimeoutMs: 10_000, RebalanceTimeoutMs: 30_000, MemberId: 'm1', GroupInstanceId: null, ProtocolType: 'consumer', Protocols: [{ Name: 'range', Metadata: new Uint8Array(4) }], Reason: `round ${generation}` },
      { ErrorCode: 0, GenerationId: generation, ProtocolType: 'consumer', ProtocolName: 'range', Leader: 'm1', SkipAssignment: false, MemberId: 'm1', Members: [member] });
    exchange(14, 3, { GroupId: 'g', GenerationId: generation, MemberId: 'm1', GroupInstanceId: null, Assignments: [{ MemberId: 'm1', Assignment: new Uint8Array(8) }] }, { ErrorCode: 0, Assignment: new Uint8Array(8) });
  }
  const heartbeat = (memberId: string, epoch: number) => ({
    GroupId: 'k', MemberId: memberId, MemberEpoch: epoch, InstanceId: null, RackId: null, RebalanceTimeoutMs: 30_000,
    SubscribedTopicNames: epoch === 0 ? ['orders'] : null, ServerAssignor: epoch === 0 ? 'uniform' : null, TopicPartitions: null,
  });
  const answer = (memberId: string | null, epoch: number, partitions: number[] | null) => ({
    ErrorCode: 0, ErrorMessage: null, MemberId: memberId, MemberEpoch: epoch, HeartbeatIntervalMs: 5000,
    Assignment: partitions === null ? null : { TopicPartitions: [{ TopicId: '00000000-0000-4000-8000-000000000001', Partitions: partitions }] },
  });
  exchange(68, 0, heartbeat('', 0), answer('k1', 1, [0, 1]));
  exchange(68, 0, heartbeat('k1', 1), answer(null, 2, [0]));
  return out;
}

const FLOW = [...corpus({ ends: true }), ...lagFlow(), ...groupRounds()];

type Args = Record<string, bigint | string>;

/** The args of each firing, by probe: the full path's (no demand), or under `demand`. */
function firings(demand?: KafkaDemand, lane = true): Map<string, Args[]> {
  const out = new Map<string, Args[]>();
  const take = (probe: string, args: Args): void => {
    let list = out.get(probe);
    if (!list) out.set(probe, (list = []));
    list.push(args);
  };
  const onDerived = (ev: DerivedEvent): void => take(ev.probe, derivedFiring(ev).args);
  const decoder: KafkaDecoder = demand
    ? new KafkaDecoder({ demand, lane, onFiring: take, onDerived })
    : new KafkaDecoder({ onExchange: (ex) => decoder.firings(ex).forEach((f) => take(f.probe, f.args)), onDerived });
  for (const c of FLOW) decoder.push(c);
  decoder.closeAll();
  return out;
}

const FULL = firings();

/** The values of `arg` on the firings of `probe`, as JSON (bigints marked, absent args shown). */
function values(all: Map<string, Args[]>, probe: string, arg: string): string {
  return JSON.stringify((all.get(probe) ?? []).map((args) => args[arg]), (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v === undefined ? '(absent)' : v));
}

/** Why an item path (args.ts's ItemFields) names no field of `spec` as the path says, if it does not. */
function itemPathProblem(spec: MessageSpec, path: string): string | undefined {
  const [, head, mark] = /^(.*?)(\[\]|\[0\]|#topic)?$/.exec(path)!;
  const names = head!.split('.');
  let fields: readonly FieldSpec[] = spec.fields;
  for (let i = 0; i < names.length; i++) {
    const f = fields.find((x) => x.n === names[i]);
    if (!f) return `no field ${names[i]}`;
    if (i < names.length - 1) {
      if (!(f.a && f.t === 'struct')) return `${f.n} is not an array of structs`;
      fields = f.f!;
    } else if (mark === '[]' || mark === '[0]') {
      if (!f.a || f.t === 'struct') return `${f.n} is not an array of values`;
    } else if (mark === '#topic') {
      if (f.a || f.t !== 'uuid') return `${f.n} is not a topic id`;
    } else if (names.length === 1) return `${f.n} is in no array`;
  }
  return undefined;
}

/** Every (probe, arg) pair of the table: each probe's common args, then its own. */
const PAIRS: [string, ArgSpec][] = PROBES.flatMap((p) => [...COMMON_ARGS, ...p.args].map((a): [string, ArgSpec] => [p.name, a]));

describe('the kafka arg table', () => {
  it('generates stdlib/kafka-probes.json as it is (regenerate: npm run build && node scripts/gen-kafka-catalogue.mjs)', () => {
    expect(readFileSync(CATALOGUE, 'utf8')).toBe(catalogueJson(decodedVersions));
  });

  it("puts every arg scripts may name in the front end's catalogue, with its type, and no other", () => {
    const catalogue = parseKafkaCatalogue(JSON.parse(catalogueJson(decodedVersions)));
    expect(catalogue.probes.map((p) => p.name)).toEqual(PROBES.map((p) => p.name));
    for (const p of PROBES) {
      const listed = catalogue.probes.find((c) => c.name === p.name)!.args;
      const want = [...COMMON_ARGS, ...p.args].filter((a) => !a.internal);
      expect(listed.map((a) => [a.name, a.type.kind, 'size' in a.type ? a.type.size : undefined]), p.name)
        .toEqual(want.map((a) => [a.name, a.type === 'int' ? 'int' : 'str', a.size]));
    }
  });

  it('copies one schema field for each arg details.ts copies as is, per item only from Produce and Fetch responses', () => {
    for (const p of PROBES) {
      for (const a of p.args.filter((x) => x.body?.copy)) {
        expect([...(a.body!.request ?? []), ...(a.body!.response ?? [])], `${p.name}.${a.name}`).toHaveLength(1);
        if (a.body!.copy === 'item') expect([p.name, a.body!.request], a.name).toEqual([expect.stringMatching(/^(produce|fetch)$/), undefined]);
      }
    }
  });

  it('names, in each item path of an API other than Produce and Fetch, arrays of its schema down to the item and then a field', () => {
    const wrong: string[] = [];
    let checked = 0;
    for (const p of PROBES) {
      const key = API_KEYS[p.api as keyof typeof API_KEYS];
      const paths = [
        ...p.args.flatMap((a) => (['request', 'response'] as const).flatMap((kind) => (a.item?.[kind] ?? []).map((path) => [kind, path, a.name] as const))),
        ...(p.itemError ?? []).map((path) => ['response', path, 'error'] as const),
      ];
      for (const [kind, path, arg] of paths) {
        const why = itemPathProblem(MESSAGE_SPECS.find((s) => s.key === key && s.kind === kind)!, path);
        if (why !== undefined) wrong.push(`${p.name}.${arg}: ${kind} ${path}: ${why}`);
        checked++;
      }
    }
    expect(wrong).toEqual([]);
    expect(checked).toBeGreaterThan(0);
  });

  // Produce's and Fetch's items, and the share APIs' (acquired offsets and acknowledgements counted
  // from ranges), are made by details.ts's extractors.
  it('declares the items of every probe firing per item, other than Produce, Fetch and the share APIs, in the table', () => {
    const extracted = ['produce', 'fetch', 'sharefetch', 'shareacknowledge'];
    const undeclared = PROBES.filter((p) => p.api !== undefined && /, once per /.test(p.doc) && !extracted.includes(p.name));
    expect(undeclared.filter((p) => !p.args.some((a) => a.item?.key) && p.itemError === undefined).map((p) => p.name)).toEqual([]);
    expect(undeclared.length).toBeGreaterThan(0);
  });

  it('gives every arg a value seen on some firing of its probe, not only its unknown sentinel', () => {
    const unseen: string[] = [];
    for (const [probe, a] of PAIRS) {
      const unknown = a.unknown === undefined ? (a.type === 'str' ? '' : undefined) : typeof a.unknown === 'number' ? BigInt(a.unknown) : a.unknown;
      if (!(FULL.get(probe) ?? []).some((args) => args[a.name] !== undefined && args[a.name] !== unknown)) unseen.push(`${probe}.${a.name}`);
    }
    expect(unseen).toEqual([]);
  });

  it("gives each arg demanded alone the full path's values, and the lane the schema decoder's", () => {
    const wrong: string[] = [];
    for (const [probe, a] of PAIRS) {
      // Every probe's common args come from the same getters: they are demanded alone on kafka:request,
      // and on Produce and Fetch, whose items and lane make some of them per partition.
      if (COMMON_ARGS.includes(a as CommonArg) && !['request', 'produce', 'fetch'].includes(probe)) continue;
      const demand = { probes: [probe], args: [a.name] };
      const full = values(FULL, probe, a.name);
      if (values(firings(demand, false), probe, a.name) !== full) wrong.push(`${probe}.${a.name}: demand`);
      if (probe !== 'produce' && probe !== 'fetch') continue;
      const common = COMMON_ARGS.find((c) => c.name === a.name);
      const laneCode = a.lane ?? common?.[probe]?.lane ?? common?.lane;
      if ((FastLane.of(new DecodePlan(demand), () => undefined) !== undefined) !== (laneCode !== undefined)) wrong.push(`${probe}.${a.name}: lane taken`);
      if (values(firings(demand, true), probe, a.name) !== full) wrong.push(`${probe}.${a.name}: lane`);
    }
    expect(wrong).toEqual([]);
  });
});
