// tshark as an outside witness of Kafka traffic: a loopback capture of given broker ports while a
// workload runs, then Wireshark's Kafka dissector's reading of each Produce and Fetch exchange,
// per topic and partition (record counts and sizes from the batch headers it parsed, offsets, errors),
// and of each consumer-group exchange (JoinGroup, Heartbeat, LeaveGroup, SyncGroup).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Why tshark cannot be used here, or undefined when it can. */
export function tsharkProblem(): string | undefined {
  const r = spawnSync('tshark', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return 'tshark is not installed (apt-get install tshark)';
  return undefined;
}

interface Capture {
  /** Stops the capture once every packet is written; resolves to the pcapng file. */
  stop(): Promise<string>;
  /**
   * Removes the capture's directory, and ends tshark first if it still runs (a test that failed
   * before stop()); SIGTERM, so that tshark stops its dumpcap too.
   */
  remove(): void;
  /** What tshark printed (its packet counts once stopped). */
  log(): string;
}

const CAPTURE_START_MS = 20_000;
const STOP_AFTER_MS = 1500;

/** Starts capturing TCP traffic to and from `ports` on lo; resolves once the capture runs. */
export async function startCapture(ports: number[]): Promise<Capture> {
  const dir = mkdtempSync(join(tmpdir(), 'kafkatrace-pcap-'));
  const file = join(dir, 'capture.pcapng');
  const filter = ports.map((p) => `tcp port ${p}`).join(' or ');
  // -B: a kernel buffer of 256 MiB, so that bursts of several MiB on lo are not dropped.
  const child = spawn('tshark', ['-i', 'lo', '-B', '256', '-f', filter, '-w', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tshark did not start capturing: ${stderr}`)), CAPTURE_START_MS);
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
      if (stderr.includes('Capture started')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`tshark exited: ${stderr}`));
    });
  });
  return {
    async stop() {
      // The capture hands packets over in blocks, after a timeout when a block is not full; a
      // block not handed over when tshark stops is lost, so wait out that timeout first.
      await new Promise((r) => setTimeout(r, STOP_AFTER_MS));
      child.kill('SIGINT');
      await exited;
      const dropped = /(\d+) packets? dropped/.exec(stderr);
      if (dropped && dropped[1] !== '0') throw new Error(`tshark dropped packets: ${stderr}`);
      return file;
    },
    remove: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
    log: () => stderr,
  };
}

/** One record batch as the dissector read it. */
export interface TsharkBatch {
  baseOffset: number;
  /** The batch's record count field. */
  records: number;
  /** Bytes of the batch including its offset and length fields. */
  bytes: number;
}

/** One topic-partition of a request or response. */
export interface TsharkPartition {
  topic: string;
  partition: number;
  /** Record batches (Produce requests, Fetch responses). */
  batches: TsharkBatch[];
  /** Produce response: base offset; Fetch request: fetch offset. */
  offset?: number;
  /** Fetch response: high watermark. */
  highWatermark?: number;
  error?: number;
}

export interface TsharkMessage {
  /** The client's port and the broker's port of the connection. */
  clientPort: number;
  brokerPort: number;
  apiKey: number;
  /** Requests only (a response carries none on the wire; the dissector pairs them). */
  version?: number;
  correlationId: number;
  /** Requests only. */
  clientId?: string;
  acks?: number;
  partitions: TsharkPartition[];
}

export interface TsharkExchange {
  clientPort: number;
  brokerPort: number;
  correlationId: number;
  apiKey: number;
  request?: TsharkMessage;
  response?: TsharkMessage;
}

type Tree = { [key: string]: Tree | Tree[] | string | string[] };

function all(v: Tree | Tree[] | string | string[] | undefined): Tree[] {
  if (v === undefined || typeof v === 'string') return [];
  if (Array.isArray(v)) return v.filter((x): x is Tree => typeof x === 'object');
  return [v];
}

function field(t: Tree, name: string): string | undefined {
  const v = t[name];
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && typeof v[0] === 'string') return v[0];
  return undefined;
}

function num(t: Tree, name: string): number | undefined {
  const v = field(t, name);
  return v === undefined ? undefined : Number(v);
}

/** Subtrees whose key starts with `prefix` ("Topic (", "Partition (", ...), at any depth below `t` but not inside one another. */
function subtrees(t: Tree, prefix: string): Tree[] {
  const out: Tree[] = [];
  for (const [k, v] of Object.entries(t)) {
    if (typeof v === 'string') continue;
    for (const child of all(v)) {
      if (k.startsWith(prefix)) out.push(child);
      else out.push(...subtrees(child, prefix));
    }
  }
  return out;
}

function partitionOf(topic: string, p: Tree, isRequest: boolean, apiKey: number): TsharkPartition {
  const part: TsharkPartition = { topic, partition: num(p, 'kafka.partition_id') ?? -1, batches: [] };
  for (const b of subtrees(p, 'Record Batch')) {
    part.batches.push({ baseOffset: num(b, 'kafka.offset') ?? -1, records: num(b, 'kafka.batch_size') ?? -1, bytes: (num(b, 'kafka.message_size') ?? -12) + 12 });
  }
  const error = num(p, 'kafka.error');
  if (error !== undefined) part.error = error;
  const offset = num(p, 'kafka.offset');
  if (apiKey === 0 && !isRequest && offset !== undefined) part.offset = offset;
  if (apiKey === 1 && isRequest && offset !== undefined) part.offset = offset;
  if (apiKey === 1 && !isRequest) {
    const hw = num(p, 'kafka.offset');
    if (hw !== undefined) part.highWatermark = hw;
  }
  return part;
}

function messageOf(k: Tree, srcPort: number, dstPort: number, brokerPorts: Set<number>): TsharkMessage | undefined {
  const isRequest = field(k, 'kafka.request_key') !== undefined;
  const apiKey = num(k, 'kafka.api_key') ?? Number(field(k, 'kafka.response_key'));
  const correlationId = num(k, 'kafka.correlation_id');
  if (correlationId === undefined || !(apiKey === 0 || apiKey === 1)) return undefined;
  const brokerPort = brokerPorts.has(dstPort) ? dstPort : srcPort;
  const msg: TsharkMessage = {
    clientPort: brokerPort === dstPort ? srcPort : dstPort,
    brokerPort,
    apiKey,
    correlationId,
    partitions: [],
  };
  if (isRequest) {
    msg.version = num(k, 'kafka.api_version') ?? -1;
    msg.clientId = field(k, 'kafka.client_id') ?? '';
  }
  const acks = num(k, 'kafka.required_acks');
  if (acks !== undefined) msg.acks = acks;
  for (const t of subtrees(k, 'Topic')) {
    const topic = field(t, 'kafka.topic_name') ?? '';
    for (const p of subtrees(t, 'Partition (')) msg.partitions.push(partitionOf(topic, p, isRequest, apiKey));
  }
  return msg;
}

/** tshark's JSON reading of the Kafka packets `filter` selects in `pcap`, with `brokerPorts` decoded as Kafka. */
async function dissect(pcap: string, brokerPorts: number[], filter: string): Promise<{ _source: { layers: Tree } }[]> {
  const args = ['-r', pcap, ...brokerPorts.flatMap((p) => ['-d', `tcp.port==${p},kafka`]),
    '-Y', filter, '-T', 'json', '--no-duplicate-keys', '-J', 'frame tcp kafka'];
  const child = spawn('tshark', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => chunks.push(d));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  if (code !== 0) throw new Error(`tshark -r failed (${code}): ${stderr}`);
  const text = Buffer.concat(chunks).toString('utf8');
  return (text.trim() === '' ? [] : JSON.parse(text)) as { _source: { layers: Tree } }[];
}

function apiKeysFilter(apiKeys: number[]): string {
  return apiKeys.map((k) => `kafka.api_key == ${k}`).join(' || ');
}

/** Each Kafka message of the dissected packets, with its TCP ports, its segment and its capture time (seconds since the epoch). */
function* kafkaMessages(packets: { _source: { layers: Tree } }[]): Iterable<{ k: Tree; src: number; dst: number; tcp: Tree; time: number }> {
  for (const packet of packets) {
    const layers = packet._source.layers;
    const tcp = all(layers.tcp)[0];
    if (!tcp) continue;
    const src = num(tcp, 'tcp.srcport')!;
    const dst = num(tcp, 'tcp.dstport')!;
    const time = num(all(layers.frame)[0] ?? {}, 'frame.time_epoch') ?? 0;
    for (const k of all(layers.kafka)) yield { k, src, dst, tcp, time };
  }
}

/**
 * The Produce and Fetch exchanges in `pcap`, read by tshark's Kafka dissector with `brokerPorts`
 * decoded as Kafka, keyed "clientPort/brokerPort/correlationId".
 */
export async function tsharkExchanges(pcap: string, brokerPorts: number[]): Promise<Map<string, TsharkExchange>> {
  const ports = new Set(brokerPorts);
  const exchanges = new Map<string, TsharkExchange>();
  for (const { k, src, dst } of kafkaMessages(await dissect(pcap, brokerPorts, apiKeysFilter([0, 1])))) {
    const msg = messageOf(k, src, dst, ports);
    if (!msg) continue;
    const key = `${msg.clientPort}/${msg.brokerPort}/${msg.correlationId}`;
    const ex = exchanges.get(key) ?? { clientPort: msg.clientPort, brokerPort: msg.brokerPort, correlationId: msg.correlationId, apiKey: msg.apiKey };
    if (ports.has(dst)) ex.request = msg;
    else ex.response = msg;
    exchanges.set(key, ex);
  }
  return exchanges;
}

/** A request's header as the dissector read it, and the software an ApiVersions v3+ request names. */
export interface TsharkRequest {
  clientPort: number;
  brokerPort: number;
  apiKey: number;
  version: number;
  correlationId: number;
  /** "" when null. */
  clientId: string;
  softwareName?: string;
  softwareVersion?: string;
}

/** Every request in `pcap` (any API), read by tshark's Kafka dissector with `brokerPorts` decoded as Kafka. */
export async function tsharkRequests(pcap: string, brokerPorts: number[]): Promise<TsharkRequest[]> {
  const ports = new Set(brokerPorts);
  const out: TsharkRequest[] = [];
  for (const { k, src, dst } of kafkaMessages(await dissect(pcap, brokerPorts, 'kafka.request_key'))) {
    const apiKey = num(k, 'kafka.request_key');
    if (apiKey === undefined || !ports.has(dst)) continue;
    const r: TsharkRequest = {
      clientPort: src,
      brokerPort: dst,
      apiKey,
      version: num(k, 'kafka.api_version') ?? -1,
      correlationId: num(k, 'kafka.correlation_id') ?? -1,
      clientId: field(k, 'kafka.client_id') ?? '',
    };
    const name = field(k, 'kafka.client_software_name');
    if (name !== undefined) r.softwareName = name;
    const version = field(k, 'kafka.client_software_version');
    if (version !== undefined) r.softwareVersion = version;
    out.push(r);
  }
  return out;
}

/**
 * TCP connections in `pcap` (as "clientPort/brokerPort") not seen to end: no FIN or RST. When every
 * client has disconnected before the capture stopped, a connection here means lost packets.
 */
export async function unfinishedConnections(pcap: string, brokerPorts: number[]): Promise<string[]> {
  const r = spawnSync('tshark', ['-r', pcap, '-T', 'fields', '-e', 'tcp.srcport', '-e', 'tcp.dstport', '-e', 'tcp.flags.fin', '-e', 'tcp.flags.reset'], { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`tshark -r failed (${r.status}): ${r.stderr}`);
  const ports = new Set(brokerPorts);
  const ended = new Map<string, boolean>();
  for (const line of r.stdout.split('\n')) {
    const [src, dst, fin, rst] = line.split('\t');
    if (src === undefined || dst === undefined || src === '') continue;
    const key = ports.has(Number(dst)) ? `${src}/${dst}` : `${dst}/${src}`;
    const end = fin === '1' || fin === 'True' || rst === '1' || rst === 'True';
    ended.set(key, (ended.get(key) ?? false) || end);
  }
  return [...ended].filter(([, e]) => !e).map(([k]) => k);
}

/**
 * One consumer-group exchange as the dissector read it: only the fields before any array in each
 * message, since tshark 4.0 misreads the member arrays of newer JoinGroup versions (it flags those
 * packets malformed); LeaveGroup v3+ names its members in an array, read when the dissector could.
 */
export interface TsharkGroupExchange {
  apiKey: 11 | 12 | 13 | 14;
  /** Order of the request in the capture. */
  frame: number;
  clientPort: number;
  brokerPort: number;
  correlationId: number;
  clientId: string;
  group: string;
  /** The request's member id (empty on a first JoinGroup); LeaveGroup v3+: its first member. */
  memberId: string;
  /** SyncGroup and Heartbeat requests: the generation; JoinGroup and LeaveGroup: -1. */
  requestGeneration: number;
  /** Undefined when the response was not seen. */
  error?: number;
  /** When the response was captured, in seconds since the epoch. */
  answeredAt?: number;
  /** JoinGroup responses: the generation, the leader and the member id given. */
  generation?: number;
  leader?: string;
  assignedMemberId?: string;
  /**
   * JoinGroup responses: how many members the answer lists (the leader's lists them all; others
   * none). The count is the dissector's; the ids in the list are not read (see above).
   */
  listedMembers?: number;
  /**
   * JoinGroup responses up to v5 (not flexible) that list members: the ids listed, read from the
   * TCP payload by the test itself following the schema (tshark 4.0 misreads them).
   */
  listedIds?: string[];
}

/** The member ids a JoinGroup v2-v5 response lists, from the frame of `correlationId` in `payload`. */
export function joinGroupListedIds(payload: Buffer, correlationId: number, version: number): string[] | undefined {
  for (let at = 0; at + 8 <= payload.length;) {
    const size = payload.readInt32BE(at);
    const end = at + 4 + size;
    if (size < 4 || end > payload.length) return undefined;
    if (payload.readInt32BE(at + 4) === correlationId) {
      let p = at + 8;
      const str = (nullable: boolean): string | null => {
        const n = payload.readInt16BE(p);
        p += 2;
        if (n < 0) {
          if (!nullable) throw new RangeError('null string');
          return null;
        }
        const v = payload.toString('utf8', p, p + n);
        p += n;
        return v;
      };
      try {
        p += 4 + 2 + 4; // throttle_time_ms, error_code, generation_id
        str(false); // protocol_name
        str(false); // leader
        str(false); // member_id
        const count = payload.readInt32BE(p);
        p += 4;
        const ids: string[] = [];
        for (let i = 0; i < count; i++) {
          ids.push(str(false)!);
          if (version >= 5) str(true); // group_instance_id
          p += 4 + payload.readInt32BE(p); // metadata
        }
        return p === end ? ids : undefined;
      } catch {
        return undefined;
      }
    }
    at = end;
  }
  return undefined;
}

/** The JoinGroup, Heartbeat, LeaveGroup and SyncGroup exchanges in `pcap`, in request order. */
export async function tsharkGroupExchanges(pcap: string, brokerPorts: number[]): Promise<TsharkGroupExchange[]> {
  const ports = new Set(brokerPorts);
  const byKey = new Map<string, TsharkGroupExchange>();
  let frame = 0;
  for (const { k, src, dst, tcp, time } of kafkaMessages(await dissect(pcap, brokerPorts, apiKeysFilter([11, 12, 13, 14])))) {
    const correlationId = num(k, 'kafka.correlation_id');
    const apiKey = num(k, 'kafka.api_key');
    if (correlationId === undefined || apiKey === undefined || apiKey < 11 || apiKey > 14) continue;
    const toBroker = ports.has(dst);
    const clientPort = toBroker ? src : dst;
    const brokerPort = toBroker ? dst : src;
    const key = `${clientPort}/${brokerPort}/${correlationId}`;
    if (toBroker) {
      const member = field(k, 'kafka.member_id') ?? subtrees(k, 'Member (').map((m) => field(m, 'kafka.member_id')).find((m) => m !== undefined) ?? '';
      byKey.set(key, {
        apiKey: apiKey as TsharkGroupExchange['apiKey'], frame: frame++, clientPort, brokerPort, correlationId,
        clientId: field(k, 'kafka.client_id') ?? '', group: field(k, 'kafka.consumer_group') ?? '', memberId: member,
        requestGeneration: apiKey === 12 || apiKey === 14 ? num(k, 'kafka.generation_id') ?? -1 : -1,
      });
      continue;
    }
    const ex = byKey.get(key);
    if (!ex) continue;
    ex.error = num(k, 'kafka.error') ?? 0;
    ex.answeredAt = time;
    if (apiKey === 11) {
      const generation = num(k, 'kafka.generation_id');
      if (generation !== undefined) ex.generation = generation;
      const leader = field(k, 'kafka.group_leader_id');
      if (leader !== undefined) ex.leader = leader;
      const assigned = field(k, 'kafka.member_id');
      if (assigned !== undefined) ex.assignedMemberId = assigned;
      const list = k['Members'];
      // Members of the same label are one key holding an array (--no-duplicate-keys).
      const version = num(k, 'kafka.response.version') ?? -1;
      const payload = field(tcp, 'tcp.payload');
      if (version >= 2 && version <= 5 && payload !== undefined) {
        const ids = joinGroupListedIds(Buffer.from(payload.replaceAll(':', ''), 'hex'), correlationId, version);
        if (ids) ex.listedIds = ids;
      }
      ex.listedMembers = list !== undefined && typeof list === 'object' && !Array.isArray(list)
        ? Object.entries(list).filter(([key]) => key.startsWith('Member (')).reduce((n, [, v]) => n + (Array.isArray(v) ? v.length : 1), 0)
        : 0;
    }
  }
  return [...byKey.values()].sort((a, b) => a.frame - b.frame);
}
