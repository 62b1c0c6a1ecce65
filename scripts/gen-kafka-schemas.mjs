#!/usr/bin/env node
// Writes src/kafka/wire/schemas/generated.ts from the message schemas (common/message/*.json) inside
// the kafka-clients jars that scripts/install-kafka.sh installs:
//   node scripts/gen-kafka-schemas.mjs            write the file
//   node scripts/gen-kafka-schemas.mjs --print    print it instead (test/unit/kafka-schemas.test.ts
//                                                 compares the two)
//
// Versions: each API's bodies are those of Kafka 4.4.0 (its stable versions: a version the schema marks
// latestVersionUnstable is not offered by a broker unless configured to, and may still change).
// Kafka 4.0 removed old versions (KIP-896: Produce v0-2, Fetch v0-3, ...), but old clients and brokers
// still send them and an operator wants them seen before an upgrade, so the ranges reach down to
// Kafka 3.9.2's minimum for the APIs in KEEP_REMOVED. 4.4.0's schemas dropped some fields only those
// versions had (ListOffsets v0's MaxNumOffsets, ...): they are taken from 3.9.2's schemas, limited to
// the removed versions. The converter checks that every removed version reads exactly as in 3.9.2's
// schemas and every other version exactly as in 4.4.0's, and fails otherwise. API names come from both releases (3.9.2 for keys 4.x dropped, such as the
// ZooKeeper-era LeaderAndIsr).
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inflateRawSync } from 'node:zlib';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const JARS = {
  current: join(ROOT, 'build', 'kafka', 'libs', 'kafka-clients-4.4.0.jar'),
  previous: join(ROOT, 'build', 'peers', 'java-3.9.2', 'libs', 'kafka-clients-3.9.2.jar'),
};
const OPEN = 32767;

/** The APIs whose request and response bodies kafkatrace decodes. */
const DECODED = [
  // Clients' data path, groups and transactions.
  'Produce', 'Fetch', 'ListOffsets', 'Metadata', 'OffsetCommit', 'OffsetFetch', 'FindCoordinator', 'JoinGroup',
  'Heartbeat', 'LeaveGroup', 'SyncGroup', 'DescribeGroups', 'ListGroups', 'ApiVersions', 'CreateTopics',
  'DeleteTopics', 'InitProducerId', 'AddPartitionsToTxn', 'EndTxn',
  // KIP-848 consumer groups and KIP-932 share groups.
  'ConsumerGroupHeartbeat', 'ConsumerGroupDescribe', 'ShareGroupHeartbeat', 'ShareGroupDescribe', 'ShareFetch',
  'ShareAcknowledge',
  // KRaft quorum and controller (a Fetch of __cluster_metadata is a plain Fetch).
  'Vote', 'BeginQuorumEpoch', 'EndQuorumEpoch', 'DescribeQuorum', 'FetchSnapshot', 'AddRaftVoter',
  'RemoveRaftVoter', 'UpdateRaftVoter', 'BrokerRegistration', 'BrokerHeartbeat', 'ControllerRegistration',
  'AlterPartition', 'AllocateProducerIds', 'AssignReplicasToDirs',
];

/** APIs whose versions removed in Kafka 4.x stay decodable (taken down to Kafka 3.9.2's minimum). */
const KEEP_REMOVED = new Set([
  'Produce', 'Fetch', 'ListOffsets', 'OffsetCommit', 'OffsetFetch', 'CreateTopics', 'DeleteTopics', 'AlterPartition',
]);

/** Entries of a zip file (a jar) whose names match `want`, as name → contents. */
function unzip(path, want) {
  const zip = readFileSync(path);
  let eocd = zip.length - 22;
  while (eocd >= 0 && zip.readUInt32LE(eocd) !== 0x06054b50) eocd--;
  if (eocd < 0) throw new Error(`${path}: not a zip file`);
  const count = zip.readUInt16LE(eocd + 10);
  let at = zip.readUInt32LE(eocd + 16);
  const out = new Map();
  for (let i = 0; i < count; i++) {
    if (zip.readUInt32LE(at) !== 0x02014b50) throw new Error(`${path}: bad central directory`);
    const method = zip.readUInt16LE(at + 10);
    const size = zip.readUInt32LE(at + 20);
    const nameLen = zip.readUInt16LE(at + 28);
    const local = zip.readUInt32LE(at + 42);
    const name = zip.toString('utf8', at + 46, at + 46 + nameLen);
    at += 46 + nameLen + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
    if (!want.test(name)) continue;
    const data = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const raw = zip.subarray(data, data + size);
    if (method !== 0 && method !== 8) throw new Error(`${path}: ${name}: compression method ${method}`);
    out.set(name, (method === 8 ? inflateRawSync(raw) : raw).toString('utf8'));
  }
  return out;
}

/** Kafka's schema files are JSON with // comments. */
function parseSchema(text) {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      const start = i;
      for (i++; text[i] !== '"'; i++) if (text[i] === '\\') i++;
      out += text.slice(start, i + 1);
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
      out += '\n';
    } else out += c;
  }
  return JSON.parse(out);
}

/** "3+", "3-13", "5", "none" → [min, max] or null. */
function range(s) {
  if (s === undefined || s === 'none') return null;
  const m = /^(\d+)(?:(\+)|-(\d+))?$/.exec(s);
  if (!m) throw new Error(`bad version range "${s}"`);
  return [Number(m[1]), m[2] ? OPEN : Number(m[3] ?? m[1])];
}

const PRIMITIVES = new Set(['bool', 'int8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'float64', 'string', 'bytes', 'records', 'uuid']);

function convertFields(fields, common, where) {
  return fields.map((f) => {
    const array = f.type.startsWith('[]');
    const type = array ? f.type.slice(2) : f.type;
    const out = { n: f.name };
    let sub = null;
    if (PRIMITIVES.has(type)) out.t = type;
    else {
      out.t = 'struct';
      sub = f.fields ?? common.get(type);
      if (!sub) throw new Error(`${where}.${f.name}: unknown type ${f.type}`);
    }
    if (array) out.a = 1;
    out.v = range(f.versions);
    if (!out.v) throw new Error(`${where}.${f.name}: no versions`);
    if (f.nullableVersions !== undefined) out.nv = range(f.nullableVersions);
    if (f.taggedVersions !== undefined) {
      out.tv = range(f.taggedVersions);
      out.tag = f.tag;
    }
    if (f.flexibleVersions !== undefined) out.fx = range(f.flexibleVersions);
    if (sub) out.f = convertFields(sub, common, `${where}.${f.name}`);
    return out;
  });
}

/** Every schema of a jar, by API name and kind, converted; plus names by key. */
function readJar(path) {
  const specs = new Map();
  const names = {};
  for (const [file, text] of unzip(path, /^common\/message\/\w+(Request|Response)\.json$/)) {
    const s = parseSchema(text);
    if (s.type !== 'request' && s.type !== 'response') continue;
    const name = s.name.replace(/(Request|Response)$/, '');
    const common = new Map((s.commonStructs ?? []).map((c) => [c.name, c.fields]));
    const valid = range(s.validVersions);
    if (s.type === 'request' && valid) names[s.apiKey] = name;
    specs.set(`${s.type} ${name}`, {
      key: s.apiKey, kind: s.type, name, valid,
      flexible: range(s.flexibleVersions),
      fields: convertFields(s.fields ?? [], common, file),
      unstable: s.latestVersionUnstable === true,
    });
  }
  // The flag is on the request's schema; the response's versions follow the request's.
  for (const spec of specs.values()) {
    if (spec.kind === 'request' && spec.unstable && spec.valid) {
      spec.valid[1]--;
      const resp = specs.get(`response ${spec.name}`);
      if (resp?.valid) resp.valid[1] = spec.valid[1];
    }
  }
  for (const spec of specs.values()) delete spec.unstable;
  return { specs, names };
}

const within = (r, v) => r != null && v >= r[0] && v <= r[1];

/** What a body looks like on the wire at one version: the fields present, in order, and how each is coded. */
function layout(fields, version, flexible) {
  return fields.filter((f) => within(f.v, version)).map((f) => {
    const fx = f.fx === undefined ? flexible : f.fx !== null && within(f.fx, version);
    return [f.n, f.t, f.a ?? 0, within(f.nv, version), within(f.tv, version) ? f.tag : -1, fx,
      f.f ? layout(f.f, version, flexible) : null];
  });
}

/**
 * 4.4.0's fields plus 3.9.2's fields that 4.4.0 dropped, limited to versions below `min` and put after
 * the field that precedes them in 3.9.2.
 */
function mergeRemoved(fields, old, min) {
  const out = fields.map((f) => {
    const o = old.find((x) => x.n === f.n);
    return o?.f && f.f ? { ...f, f: mergeRemoved(f.f, o.f, min) } : f;
  });
  let after = -1;
  for (const o of old) {
    const at = out.findIndex((f) => f.n === o.n);
    if (at >= 0) after = at;
    else if (o.v[0] < min) out.splice(++after, 0, clip(o, min - 1));
  }
  return out;
}

function clip(f, max) {
  const c = { ...f, v: [f.v[0], Math.min(f.v[1], max)] };
  if (f.f) c.f = f.f.map((x) => clip(x, max));
  return c;
}

function sameLayout(a, b, v) {
  return JSON.stringify(layout(a.fields, v, within(a.flexible, v))) === JSON.stringify(layout(b.fields, v, within(b.flexible, v)));
}

export function generate(jars = JARS) {
  const current = readJar(jars.current);
  const previous = readJar(jars.previous);
  const specs = [];
  for (const name of DECODED) {
    for (const kind of ['request', 'response']) {
      const spec = current.specs.get(`${kind} ${name}`);
      if (!spec?.valid) throw new Error(`Kafka 4.4.0 defines no ${kind} ${name}`);
      const old = previous.specs.get(`${kind} ${name}`);
      if (KEEP_REMOVED.has(name) && old?.valid && old.valid[0] < spec.valid[0]) {
        const merged = { ...spec, valid: [old.valid[0], spec.valid[1]], fields: mergeRemoved(spec.fields, old.fields, spec.valid[0]) };
        for (let v = merged.valid[0]; v <= merged.valid[1]; v++) {
          if (!sameLayout(merged, v < spec.valid[0] ? old : spec, v)) {
            throw new Error(`${kind} ${name} v${v}: the merged schema does not read as Kafka ${v < spec.valid[0] ? '3.9.2' : '4.4.0'}'s`);
          }
        }
        specs.push(merged);
      } else specs.push(spec);
    }
  }
  specs.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.kind < b.kind ? -1 : 1));
  const names = { ...previous.names, ...current.names };
  return [
    "// GENERATED by scripts/gen-kafka-schemas.mjs from Apache Kafka 4.4.0's message schemas (and 3.9.2's for",
    '// the versions 4.x removed), which are licensed under the Apache License, Version 2.0 (see',
    '// LICENSE-APACHE-2.0 next to this file). Do not edit by hand. Ranges are [min, max] inclusive, 32767 = open ended.',
    "import type { MessageSpec } from './spec.js';",
    '',
    '/** API key → name, for every API key Kafka 4.4.0 defines and those 4.x removed. */',
    `export const SCHEMA_API_NAMES: Readonly<Record<number, string>> = ${JSON.stringify(names)};`,
    '',
    '/** Request and response bodies of the APIs kafkatrace decodes, every version. */',
    'export const MESSAGE_SPECS: readonly MessageSpec[] = [',
    ...specs.map((s) => `  ${JSON.stringify(s)},`),
    '];',
    '',
  ].join('\n');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  let text;
  try {
    text = generate();
  } catch (e) {
    process.stderr.write(`gen-kafka-schemas: ${e.message}\n`);
    process.exit(1);
  }
  if (process.argv.includes('--print')) process.stdout.write(text);
  else {
    const out = join(ROOT, 'src', 'kafka', 'wire', 'schemas', 'generated.ts');
    writeFileSync(out, text);
    process.stdout.write(`wrote ${out}\n`);
  }
}
