// Topic names for topic ids, read from a broker's own log directories. Produce v13 and Fetch v13+
// name topics by id, and Metadata answers are what names them; but a broker's agent sees only the
// Metadata answers its own broker gives, and a client may have asked another broker. The broker
// itself keeps each partition's topic id beside its segments, in `<topic>-<partition>/
// partition.metadata` ("version: 0" and "topic_id: <base64>"), and holds its segments open: the
// directories behind the open `.log` files of the process are its partitions.
import { constants, fstatSync, openSync, readdirSync, readlinkSync, readSync } from 'node:fs';
import { closeQuietly } from './files.js';

/** Names a topic id from what process `pid` keeps on disk: the seam between the decoder and /proc. */
export interface TopicIdSource {
  /** The topic of `id` (UUID text) among the partitions process `pid` holds open; undefined when none is. Never throws. */
  name(pid: number, id: string): string | undefined;
}

/** How long an id the process's files did not name waits before they are looked at again for it. */
const RESCAN_MS = 10_000;
/** Scans for ids never looked for: a burst of this many at once, then one per NEW_ID_MS (ids read from a corrupt frame must not make a scan each). */
const NEW_ID_BURST = 20;
const NEW_ID_MS = 10;
/** Ids remembered as not found, per process. */
const MAX_MISSED = 10_000;
/** Open files looked at per scan: a broker holds a few per partition. */
const MAX_FDS = 100_000;
/** Processes remembered; the oldest is forgotten past this. */
const MAX_PROCESSES = 4_096;
/** Kafka's legal topic names. */
const TOPIC = /^[a-zA-Z0-9._-]{1,249}$/;
const PARTITION_DIR = /^(.+)-(\d+)$/;

/** The UUID text (8-4-4-4-12 hex) of Kafka's base64url id text, or undefined when it is not one. */
export function kafkaIdToUuid(text: string): string | undefined {
  if (!/^[A-Za-z0-9_-]{22}$/.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  if (bytes.length !== 16) return undefined;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The topic id a partition.metadata file's text holds (version 0), or undefined. */
export function partitionMetadataId(text: string): string | undefined {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (lines.length !== 2 || lines[0]!.trim() !== 'version: 0') return undefined;
  const m = /^topic_id: (\S+)$/.exec(lines[1]!.trim());
  return m ? kafkaIdToUuid(m[1]!) : undefined;
}

interface Known {
  byId: Map<string, string>;
  /** Partition directories whose metadata was read. */
  dirs: Set<string>;
  /** Ids not found, and when they were last looked for. */
  missed: Map<string, number>;
  /** The new-id scans allowed now, and when that was last worked out. */
  tokens: number;
  refilled: number;
}

/**
 * TopicIdSource through /proc/PID/fd (the files the process has open) and /proc/PID/root (paths as
 * the process sees them, in its own mount namespace). Only root runs a capture; what is read is a
 * topic name, checked to be a legal one, and an id.
 */
export class ProcTopicIds implements TopicIdSource {
  private readonly names = new Map<number, Known>();

  constructor(
    private readonly proc = '/proc',
    private readonly now: () => number = () => performance.now(),
  ) {}

  name(pid: number, id: string): string | undefined {
    let known = this.names.get(pid);
    const found = known?.byId.get(id);
    if (found !== undefined) return found;
    const now = this.now();
    if (!known) {
      if (this.names.size >= MAX_PROCESSES) this.names.delete(this.names.keys().next().value!);
      this.names.set(pid, (known = { byId: new Map(), dirs: new Set(), missed: new Map(), tokens: NEW_ID_BURST, refilled: now }));
    }
    // A new topic's first exchanges come right after its partitions are made: an id never looked
    // for is looked for at once; one not found, again only after a while.
    const missed = known.missed.get(id);
    if (missed !== undefined) {
      if (now - missed < RESCAN_MS) return undefined;
    } else {
      known.tokens = Math.min(NEW_ID_BURST, known.tokens + (now - known.refilled) / NEW_ID_MS);
      known.refilled = now;
      if (known.tokens < 1) return undefined;
      known.tokens -= 1;
    }
    this.scan(pid, known);
    const name = known.byId.get(id);
    if (name === undefined) {
      if (known.missed.size >= MAX_MISSED) known.missed.delete(known.missed.keys().next().value!);
      known.missed.set(id, now);
    }
    return name;
  }

  private scan(pid: number, known: Known): void {
    let fds: string[];
    try {
      fds = readdirSync(`${this.proc}/${pid}/fd`);
    } catch {
      return;
    }
    for (const fd of fds.slice(0, MAX_FDS)) {
      let path: string;
      try {
        path = readlinkSync(`${this.proc}/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      if (!path.startsWith('/') || !path.endsWith('.log')) continue;
      const dir = path.slice(0, path.lastIndexOf('/'));
      const m = PARTITION_DIR.exec(dir.slice(dir.lastIndexOf('/') + 1));
      if (known.dirs.has(dir) || !m || !TOPIC.test(m[1]!)) continue;
      const text = smallFile(`${this.proc}/${pid}/root${dir}/partition.metadata`);
      // Not written yet (a partition just created): looked at again at the next scan.
      if (text === undefined) continue;
      known.dirs.add(dir);
      const uuid = partitionMetadataId(text);
      if (uuid !== undefined) known.byId.set(uuid, m[1]!);
    }
  }
}

/** The first 4 KiB of a regular file (never a FIFO or a device, which could block), or undefined. */
function smallFile(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch {
    return undefined;
  }
  try {
    if (!fstatSync(fd).isFile()) return undefined;
    const buf = Buffer.alloc(4096);
    return buf.toString('utf8', 0, readSync(fd, buf, 0, buf.length, 0));
  } catch {
    return undefined;
  } finally {
    closeQuietly(fd);
  }
}
