// Loads build/kafka-capture.bpf.o through the libbpf addon, configures it (its `const volatile`
// globals: the kernel-side filters pushed down from kafka:* predicates, and the copied head size),
// attaches every program to its syscall tracepoint and delivers decoded records.
import { existsSync, readFileSync } from 'node:fs';
import { ensureTracefs } from '../../frontend/system.js';
import { openObject, type BpfObject } from '../../native/index.js';
import { BUILD_HINT, captureObjectPath } from './build.js';
import { KtError } from '../../errors.js';

export interface CaptureOptions {
  /** Only this process (tgid). */
  pid?: number;
  /** Only threads with exactly this comm (at most 15 bytes). */
  comm?: string;
  /** Only this cgroup v2 id. */
  cgroupId?: bigint;
  /** Only sockets of the network namespace with this inode number (netnsInode in ./netns.ts). */
  netns?: number;
  /** Only connections whose local or remote port is one of these (at most 8). */
  ports?: number[];
  /**
   * Bytes copied of a frame that is not walked, its size field included (default 64 KiB): requests
   * and answers other than record data are copied whole below it.
   */
  headBytes?: number;
  /**
   * Produce requests larger than this, size field included, are walked (default 512): their topic,
   * partition and record batch headers are copied, not their records. Fetch responses to a Fetch
   * request the capture saw are always walked.
   */
  walkBytes?: number;
  /** Larger frame sizes mean lost sync (default 100 MiB, as src/kafka/wire/stream.ts). */
  maxFrameSize?: number;
  /** Ring buffer bytes: a power of two, at least 4096 (default 8 MiB). */
  ringBytes?: number;
  /** The object (default build/kafka-capture.bpf.o). */
  objectPath?: string;
}

export class CaptureConfigError extends KtError {
  override name = 'CaptureConfigError';
  constructor(message: string) {
    super('capture-config', message);
  }
}

const MAX_PORTS = 8;
const COMM_BYTES = 16;

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

/** The object's read-only globals for these options (validated; throws CaptureConfigError). */
export function captureGlobals(o: CaptureOptions): Map<string, Buffer> {
  const g = new Map<string, Buffer>();
  const pid = o.pid ?? 0;
  if (!Number.isInteger(pid) || pid < 0 || pid > 0xffffffff) throw new CaptureConfigError(`invalid pid ${o.pid}`);
  g.set('kt_target_pid', u32(pid));

  const cg = o.cgroupId ?? 0n;
  if (cg < 0n || cg > 0xffffffffffffffffn) throw new CaptureConfigError(`invalid cgroup id ${o.cgroupId}`);
  const cgBuf = Buffer.alloc(8);
  cgBuf.writeBigUInt64LE(cg);
  g.set('kt_cgroup_id', cgBuf);

  const netns = o.netns ?? 0;
  if (!Number.isInteger(netns) || netns < 0 || netns > 0xffffffff) throw new CaptureConfigError(`invalid network namespace inode ${o.netns}`);
  g.set('kt_netns', u32(netns));

  const comm = Buffer.alloc(COMM_BYTES);
  if (o.comm !== undefined) {
    const bytes = Buffer.from(o.comm, 'utf8');
    if (bytes.length === 0 || bytes.length >= COMM_BYTES || bytes.includes(0)) {
      throw new CaptureConfigError(`comm filter ${JSON.stringify(o.comm)} must be 1 to 15 bytes (the kernel truncates comm to 15)`);
    }
    bytes.copy(comm);
  }
  g.set('kt_comm', comm);

  const ports = o.ports ?? [];
  if (ports.length > MAX_PORTS) throw new CaptureConfigError(`at most ${MAX_PORTS} ports can be filtered in the kernel`);
  const portBuf = Buffer.alloc(2 * MAX_PORTS);
  ports.forEach((p, i) => {
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw new CaptureConfigError(`invalid port ${p}`);
    portBuf.writeUInt16LE(p, 2 * i);
  });
  g.set('kt_ports', portBuf);
  g.set('kt_nports', u32(ports.length));

  const head = o.headBytes ?? 64 << 10;
  if (!Number.isInteger(head) || head < 4 || head > 16 << 20) {
    throw new CaptureConfigError(`head size ${o.headBytes} must be from 4 bytes to 16 MiB`);
  }
  g.set('kt_head_bytes', u32(head));
  const walk = o.walkBytes ?? 512;
  if (!Number.isInteger(walk) || walk < 4 || walk > 16 << 20) {
    throw new CaptureConfigError(`walk size ${o.walkBytes} must be from 4 bytes to 16 MiB`);
  }
  g.set('kt_walk_bytes', u32(walk));

  const maxFrame = o.maxFrameSize ?? 100 << 20;
  if (!Number.isInteger(maxFrame) || maxFrame < 4 || maxFrame > 0x7fffffff) {
    throw new CaptureConfigError(`maximum frame size ${o.maxFrameSize} must be from 4 to 2^31-1`);
  }
  g.set('kt_max_frame', u32(maxFrame));
  return g;
}

export interface CaptureTracepoint {
  program: string;
  category: 'syscalls';
  name: string;
}

/** Each capture program's tracepoint: kt_ce_X → syscalls:sys_enter_X, kt_cx_X → syscalls:sys_exit_X. */
export function captureTracepoints(programNames: string[]): CaptureTracepoint[] {
  const out: CaptureTracepoint[] = [];
  for (const program of programNames) {
    const m = /^kt_c([ex])_(\w+)$/.exec(program);
    if (!m) continue;
    out.push({ program, category: 'syscalls', name: `sys_${m[1] === 'e' ? 'enter' : 'exit'}_${m[2]}` });
  }
  return out;
}

export interface Capture {
  /** Tracepoints attached. */
  readonly probes: number;
  /** Records the kernel could not put on the ring buffer (sum over CPUs of kafka_lost). */
  lost(): number;
  /** What became of the frames each direction carried, by the kernel's count (kafka_frames). */
  frames(): CaptureFrames;
  /**
   * Every record available now, synchronously (to drain before reading results or closing), packed
   * as onBatch gets them.
   */
  poll(): Buffer;
  /** While paused, onBatch is not called (the reader has a backlog); the ring fills meanwhile. */
  pause(paused: boolean): void;
  /** Detaches and frees everything; safe to call twice. */
  close(): void;
}

/** One direction's frames (KC_FR_* in bpf-templates/kafka-capture.h), each counted once. */
export interface DirectionFrames {
  /** Frames whose size field went out in a record: only these can reach user space. */
  handed: number;
  /** In a record the ring buffer refused. */
  ring: number;
  /** Whose size field passed uncopied right after a refused record (copying resumes at the next frame). */
  afterLoss: number;
  /** Passed uncopied because one syscall carried more frames than the capture walks. */
  tooMany: number;
  /** Not frames: syscall remainders skipped unread after an impossible size (their frames are unknown). */
  desyncs: number;
}

export interface CaptureFrames {
  /** Sent by the traced process (requests of a client, responses of a broker). */
  out: DirectionFrames;
  /** Received by it. */
  in: DirectionFrames;
}

const FRAME_SLOTS = 8; // KC_FR_SLOTS

/** Sums kafka_frames' per-CPU values (entries keyed by u32 index, u64 per CPU). */
function captureFrames(entries: Iterable<{ key: Buffer; values: Buffer[] }>): CaptureFrames {
  const slots = new Array<bigint>(2 * FRAME_SLOTS).fill(0n);
  for (const e of entries) {
    const i = e.key.readUInt32LE(0);
    if (i < slots.length) for (const v of e.values) slots[i]! += v.readBigUInt64LE(0);
  }
  const dir = (d: number): DirectionFrames => {
    const at = (reason: number): number => Number(slots[d * FRAME_SLOTS + reason]);
    return { handed: at(0), ring: at(1), afterLoss: at(2), tooMany: at(3), desyncs: at(4) };
  };
  return { out: dir(0), in: dir(1) };
}

/**
 * How often the ring is drained: the capture wakes the reader only once a quarter of the ring waits
 * (ring_wakeup() in bpf-templates/kafka-capture.bpf.c), so records wait at most this long. Each
 * drain wakes the tracer on a machine busy with Kafka: at 10 ms its CPU per record was a quarter
 * higher than at 50 (bpftrace polls its buffers every 100 ms).
 */
const DRAIN_MS = 50;

function ringSize(bytes: number | undefined): number {
  const n = bytes ?? 8 << 20;
  if (!Number.isInteger(n) || n < 4096 || (n & (n - 1)) !== 0) {
    throw new CaptureConfigError(`ring buffer size ${bytes} must be a power of two of at least 4096 bytes`);
  }
  return n;
}

/**
 * Loads and attaches the capture; records arrive on Node's loop in batches through `onBatch`,
 * packed (src/native/ring-records.ts: KafkaDecoder.pushCapture reads them, captureRecords lists
 * them). Needs root (or CAP_BPF + CAP_PERFMON); mounts tracefs when it is missing.
 */
export function startCapture(options: CaptureOptions, onBatch: (batch: Buffer) => void): Capture {
  const globals = captureGlobals(options);
  const ring = ringSize(options.ringBytes);
  const path = options.objectPath ?? captureObjectPath();
  if (!existsSync(path)) throw new CaptureConfigError(`the Kafka capture program is not built (${path}): ${BUILD_HINT}`);
  // libbpf finds syscall tracepoints' ids in tracefs.
  const tracefs = ensureTracefs();
  if (tracefs.error) throw new CaptureConfigError(tracefs.error);

  const obj: BpfObject = openObject(readFileSync(path), 'kafka_capture');
  let probes = 0;
  try {
    for (const [name, bytes] of globals) obj.setGlobal(name, bytes);
    obj.setMaxEntries('kafka_events', ring);
    obj.load();
    for (const tp of captureTracepoints(obj.programNames())) {
      obj.attachTracepoint(tp.program, tp.category, tp.name);
      probes++;
    }
    obj.ringStart('kafka_events', onBatch, DRAIN_MS);
  } catch (e) {
    obj.close();
    throw e;
  }
  let closed = false;
  return {
    probes,
    lost: () => {
      let n = 0n;
      for (const e of obj.mapDump('kafka_lost')) for (const v of e.values) n += v.readBigUInt64LE(0);
      return Number(n);
    },
    frames: () => captureFrames(obj.mapDump('kafka_frames')),
    poll: () => obj.ringConsume(),
    pause: (paused) => {
      if (!closed) obj.ringPause(paused);
    },
    close: () => {
      if (closed) return;
      closed = true;
      obj.close();
    },
  };
}
