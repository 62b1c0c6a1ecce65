// Topic names for topic ids, read from a broker's own log directories. Produce v13 and Fetch v13+
// name topics by id, and Metadata answers are what names them; but a broker's agent sees only the
// Metadata answers its own broker gives, and a client may have asked another broker. The broker
// itself keeps each partition's topic id beside its segments, in `<topic>-<partition>/
// partition.metadata` ("version: 0" and "topic_id: <base64>"), and holds its segments open: the
// directories behind the open `.log` files of the process are its partitions.
import { closeSync, constants, fstatSync, openSync, readdirSync, readlinkSync, readSync } from 'node:fs';

/** Names a topic id from what process `pid` keeps on disk: the seam between the decoder and /proc. */
export interface TopicIdSource {
  /** The topic of `id` (UUID text) among the partitions process `pid` holds open; undefined when none is. Never throws. */
  name(pid: number, id: string): string | undefined;
}

/** How long a process that named no unknown id is left alone before its files are looked at again. */
const RESCAN_MS = 10_000;
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

/**
 * TopicIdSource through /proc/PID/fd (the files the process has open) and /proc/PID/root (paths as
 * the process sees them, in its own mount namespace). Only root runs a capture; what is read is a
 * topic name, checked to be a legal one, and an id.
 */
export class ProcTopicIds implements TopicIdSource {
  private readonly names = new Map<number, { byId: Map<string, string>; dirs: Set<string>; scanned: number }>();

  constructor(
    private readonly proc = '/proc',
    private readonly now: () => number = () => performance.now(),
  ) {}

  name(pid: number, id: string): string | undefined {
    let known = this.names.get(pid);
    const found = known?.byId.get(id);
    if (found !== undefined) return found;
    if (known && this.now() - known.scanned < RESCAN_MS) return undefined;
    if (!known) {
      if (this.names.size >= MAX_PROCESSES) this.names.delete(this.names.keys().next().value!);
      this.names.set(pid, (known = { byId: new Map(), dirs: new Set(), scanned: 0 }));
    }
    known.scanned = this.now();
    this.scan(pid, known);
    return known.byId.get(id);
  }

  private scan(pid: number, known: { byId: Map<string, string>; dirs: Set<string> }): void {
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
    closeSync(fd);
  }
}
