// tshark as an outside witness of Kafka traffic: a loopback capture of given broker ports while a
// workload runs, then Wireshark's Kafka dissector's reading of each Produce and Fetch exchange,
// per topic and partition (record counts and sizes from the batch headers it parsed, offsets, errors).
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
  /** Removes the capture's directory. */
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
    remove: () => rmSync(dir, { recursive: true, force: true }),
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

/**
 * The Produce and Fetch exchanges in `pcap`, read by tshark's Kafka dissector with `brokerPorts`
 * decoded as Kafka, keyed "clientPort/brokerPort/correlationId".
 */
export async function tsharkExchanges(pcap: string, brokerPorts: number[]): Promise<Map<string, TsharkExchange>> {
  const args = ['-r', pcap, ...brokerPorts.flatMap((p) => ['-d', `tcp.port==${p},kafka`]),
    '-Y', 'kafka.api_key == 0 || kafka.api_key == 1', '-T', 'json', '--no-duplicate-keys', '-J', 'tcp kafka'];
  const child = spawn('tshark', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => chunks.push(d));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  if (code !== 0) throw new Error(`tshark -r failed (${code}): ${stderr}`);
  const text = Buffer.concat(chunks).toString('utf8');
  const packets = (text.trim() === '' ? [] : JSON.parse(text)) as { _source: { layers: Tree } }[];
  const ports = new Set(brokerPorts);
  const exchanges = new Map<string, TsharkExchange>();
  for (const packet of packets) {
    const layers = packet._source.layers;
    const tcp = all(layers.tcp)[0];
    if (!tcp) continue;
    const src = num(tcp, 'tcp.srcport')!;
    const dst = num(tcp, 'tcp.dstport')!;
    for (const k of all(layers.kafka)) {
      const msg = messageOf(k, src, dst, ports);
      if (!msg) continue;
      const key = `${msg.clientPort}/${msg.brokerPort}/${msg.correlationId}`;
      const ex = exchanges.get(key) ?? { clientPort: msg.clientPort, brokerPort: msg.brokerPort, correlationId: msg.correlationId, apiKey: msg.apiKey };
      if (ports.has(dst)) ex.request = msg;
      else ex.response = msg;
      exchanges.set(key, ex);
    }
  }
  return exchanges;
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
