// The pure parts of the capture: record decoding, address text, load-time configuration and the
// program → tracepoint table. No root or kernel needed (kept here, beside the capture's e2e tests).
import { readFileSync, existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { captureObjectPath } from '../../src/kafka/capture/build.js';
import {
  CAPTURE_FLAGS,
  CAPTURE_HEADER_SIZE,
  CaptureDecodeError,
  captureRecords,
  decodeCaptureRecord,
  encodeCaptureRecord,
  formatIpv6,
} from '../../src/kafka/capture/record.js';
import { ringRecords } from '../../src/native/ring-records.js';
import { CaptureConfigError, captureGlobals, captureTracepoints } from '../../src/kafka/capture/loader.js';

interface Fields {
  ts?: bigint;
  conn?: bigint;
  offset?: bigint;
  skipped?: bigint;
  pid?: number;
  tid?: number;
  fd?: number;
  dir?: number;
  flags?: number;
  family?: number;
  lport?: number;
  rport?: number;
  laddr?: number[];
  raddr?: number[];
  comm?: string;
  data?: number[];
}

/** A record laid out as struct kc_event (bpf-templates/kafka-capture.h). */
function record(f: Fields): Uint8Array {
  const data = f.data ?? [];
  const b = Buffer.alloc(CAPTURE_HEADER_SIZE + data.length);
  b.writeBigUInt64LE(f.ts ?? 1n, 0);
  b.writeBigUInt64LE(f.conn ?? 2n, 8);
  b.writeBigUInt64LE(f.offset ?? 0n, 16);
  b.writeBigUInt64LE(f.skipped ?? 0n, 24);
  b.writeUInt32LE(f.pid ?? 100, 32);
  b.writeUInt32LE(f.tid ?? 101, 36);
  b.writeUInt32LE(f.fd ?? 7, 40);
  b.writeUInt16LE(data.length, 44);
  b.writeUInt8(f.dir ?? 0, 46);
  b.writeUInt8(f.flags ?? 0, 47);
  b.writeUInt16LE(f.family ?? 2, 48);
  b.writeUInt16LE(f.lport ?? 5000, 50);
  b.writeUInt16LE(f.rport ?? 9092, 52);
  Buffer.from(f.laddr ?? [127, 0, 0, 1]).copy(b, 56);
  Buffer.from(f.raddr ?? [10, 1, 2, 3]).copy(b, 72);
  Buffer.from(f.comm ?? 'kcat').copy(b, 88);
  Buffer.from(data).copy(b, CAPTURE_HEADER_SIZE);
  return b;
}

describe('capture records', () => {
  it('decodes every header field and the data', () => {
    const r = decodeCaptureRecord(
      record({ ts: 123456789012n, conn: 42n, offset: 4096n, skipped: 300n, pid: 7, tid: 8, fd: 9, dir: 1, flags: 1, data: [0, 0, 0, 4, 1, 2, 3, 4] }),
    );
    expect(r).toMatchObject({
      ts: 123456789012n,
      conn: 42n,
      offset: 4096n,
      skipped: 300,
      pid: 7,
      tid: 8,
      fd: 9,
      dir: 'in',
      resync: true,
      loss: false,
      close: false,
      family: 4,
      laddr: '127.0.0.1',
      lport: 5000,
      raddr: '10.1.2.3',
      rport: 9092,
      comm: 'kcat',
    });
    expect([...r.data]).toEqual([0, 0, 0, 4, 1, 2, 3, 4]);
  });

  it('reads close records and full 15-byte comms', () => {
    const r = decodeCaptureRecord(record({ flags: 2, dir: 0, comm: 'kafkatrace-mock' }));
    expect(r.close).toBe(true);
    expect(r.resync).toBe(false);
    expect(r.dir).toBe('out');
    expect(r.comm).toBe('kafkatrace-mock');
    expect(r.data.length).toBe(0);
  });

  it('reads the loss flag apart from resync, and has the flags of kafka-capture.h', () => {
    expect(decodeCaptureRecord(record({ flags: 4 }))).toMatchObject({ resync: false, loss: true, close: false });
    expect(decodeCaptureRecord(record({ flags: 5 }))).toMatchObject({ resync: true, loss: true, close: false });
    const header = readFileSync(new URL('../../bpf-templates/kafka-capture.h', import.meta.url), 'utf8');
    const defined = Object.fromEntries([...header.matchAll(/^#define KC_F_(\w+) (\d+)$/gm)].map((m) => [m[1]!.toLowerCase(), Number(m[2])]));
    expect(defined).toEqual(CAPTURE_FLAGS);
  });

  it('formats IPv6 addresses as RFC 5952 text', () => {
    const v6 = (hex: string): Uint8Array => Buffer.from(hex.replace(/:/g, ''), 'hex');
    expect(formatIpv6(v6('0000:0000:0000:0000:0000:0000:0000:0001'))).toBe('::1');
    expect(formatIpv6(v6('2001:0db8:0000:0000:0001:0000:0000:0001'))).toBe('2001:db8::1:0:0:1');
    expect(formatIpv6(v6('2001:0db8:0000:0001:0001:0001:0001:0001'))).toBe('2001:db8:0:1:1:1:1:1');
    expect(formatIpv6(v6('0000:0000:0000:0000:0000:ffff:7f00:0001'))).toBe('::ffff:127.0.0.1');
    expect(formatIpv6(new Uint8Array(16))).toBe('::');
    const r = decodeCaptureRecord(
      record({ family: 10, laddr: [...v6('fe80:0000:0000:0000:0000:0000:0000:00aa')], raddr: [...v6('0000:0000:0000:0000:0000:0000:0000:0001')] }),
    );
    expect(r.family).toBe(6);
    expect(r.laddr).toBe('fe80::aa');
    expect(r.raddr).toBe('::1');
  });

  it('rejects short or inconsistent records with a CaptureDecodeError', () => {
    expect(() => decodeCaptureRecord(new Uint8Array(50))).toThrow(CaptureDecodeError);
    const lying = record({ data: [1, 2, 3] });
    lying[44] = 200;
    expect(() => decodeCaptureRecord(lying)).toThrow(/says 200 data bytes but holds 3/);
    expect(() => decodeCaptureRecord(record({ family: 1 }))).toThrow(/unknown address family 1/);
  });
});

/** Records packed as the addon delivers a ring buffer's batch: each a little-endian size, then its bytes. */
function pack(...records: Uint8Array[]): Buffer {
  return Buffer.concat(records.flatMap((r) => {
    const size = Buffer.alloc(4);
    size.writeUInt32LE(r.length);
    return [size, Buffer.from(r)];
  }));
}

describe('packed batches', () => {
  it('list their records as views, in order', () => {
    const a = record({ pid: 1, data: [1, 2] });
    const b = record({ pid: 2, flags: 2 });
    const batch = pack(a, b);
    const views = ringRecords(batch);
    expect(views.map((v) => [...v])).toEqual([[...a], [...b]]);
    expect(views[0]!.buffer).toBe(batch.buffer);
    expect(captureRecords(batch).map((r) => [r.pid, r.close, [...r.data]])).toEqual([[1, false, [1, 2]], [2, true, []]]);
    expect(ringRecords(Buffer.alloc(0))).toEqual([]);
  });

  it('reject a record that overruns its batch', () => {
    const batch = pack(record({}), record({ data: [1, 2, 3] })).subarray(0, -1);
    expect(() => ringRecords(batch)).toThrow(/overruns its \d+-byte batch/);
    expect(() => captureRecords(batch)).toThrow(/overruns/);
    expect(() => captureRecords(pack(record({ family: 1 })))).toThrow(CaptureDecodeError);
  });

  it('are what encodeCaptureRecord writes, for IPv4, IPv6 and IPv4-mapped addresses', () => {
    const base = { ts: 2n ** 60n + 5n, conn: 2n ** 40n + 3n, offset: 77n, skipped: 12, pid: 4_000_000, tid: 4_000_001, fd: 300, dir: 'in' as const, lport: 40000, rport: 9092, comm: 'kafkatrace-mock', data: new Uint8Array([9, 8, 7]) };
    const records = [
      { ...base, family: 4 as const, laddr: '127.0.0.1', raddr: '10.1.2.3', resync: true, loss: true, close: false },
      { ...base, family: 6 as const, laddr: '2001:db8::1:0:0:1', raddr: '::1', resync: false, loss: false, close: true },
      { ...base, family: 6 as const, laddr: '::ffff:127.0.0.1', raddr: 'fe80::aa', resync: false, loss: true, close: false },
    ];
    const decoded = captureRecords(Buffer.concat(records.map((r) => encodeCaptureRecord(r))));
    expect(decoded.map((r) => ({ ...r, data: [...r.data] }))).toEqual(records.map((r) => ({ ...r, data: [...r.data] })));
  });
});

describe('capture configuration', () => {
  it('encodes filters and sizes as the object expects', () => {
    const g = captureGlobals({ pid: 4242, comm: 'java', cgroupId: 77n, netns: 4026532281, ports: [9092, 19092], headBytes: 1024, maxFrameSize: 1 << 20 });
    expect(g.get('kt_target_pid')!.readUInt32LE(0)).toBe(4242);
    expect(g.get('kt_cgroup_id')!.readBigUInt64LE(0)).toBe(77n);
    expect(g.get('kt_netns')!.readUInt32LE(0)).toBe(4026532281);
    expect(g.get('kt_comm')!.subarray(0, 5).toString('latin1')).toBe('java\0');
    expect(g.get('kt_comm')!.length).toBe(16);
    expect(g.get('kt_nports')!.readUInt32LE(0)).toBe(2);
    expect(g.get('kt_ports')!.length).toBe(16);
    expect([g.get('kt_ports')!.readUInt16LE(0), g.get('kt_ports')!.readUInt16LE(2)]).toEqual([9092, 19092]);
    expect(g.get('kt_head_bytes')!.readUInt32LE(0)).toBe(1024);
    expect(g.get('kt_max_frame')!.readUInt32LE(0)).toBe(1 << 20);
  });

  it('defaults to no filter, 64 KiB heads, Produce requests walked past 512 bytes and 100 MiB frames', () => {
    const g = captureGlobals({});
    expect(g.get('kt_target_pid')!.readUInt32LE(0)).toBe(0);
    expect(g.get('kt_netns')!.readUInt32LE(0)).toBe(0);
    expect(g.get('kt_comm')!.every((b) => b === 0)).toBe(true);
    expect(g.get('kt_nports')!.readUInt32LE(0)).toBe(0);
    expect(g.get('kt_head_bytes')!.readUInt32LE(0)).toBe(64 << 10);
    expect(g.get('kt_walk_bytes')!.readUInt32LE(0)).toBe(512);
    expect(g.get('kt_max_frame')!.readUInt32LE(0)).toBe(100 << 20);
  });

  it('rejects what the kernel side cannot do, with one clear message', () => {
    expect(() => captureGlobals({ comm: 'a-very-long-command-name' })).toThrow(/1 to 15 bytes/);
    expect(() => captureGlobals({ comm: '' })).toThrow(CaptureConfigError);
    expect(() => captureGlobals({ ports: [1, 2, 3, 4, 5, 6, 7, 8, 9] })).toThrow(/at most 8 ports/);
    expect(() => captureGlobals({ ports: [0] })).toThrow(/invalid port 0/);
    expect(() => captureGlobals({ headBytes: 2 })).toThrow(/head size 2/);
    expect(() => captureGlobals({ walkBytes: 2 })).toThrow(/walk size 2/);
    expect(() => captureGlobals({ pid: -1 })).toThrow(/invalid pid/);
    expect(() => captureGlobals({ netns: 2 ** 32 })).toThrow(/invalid network namespace inode/);
  });

  it('maps programs to syscall tracepoints', () => {
    expect(captureTracepoints(['kt_ce_write', 'kt_cx_sendfile64', 'other'])).toEqual([
      { program: 'kt_ce_write', category: 'syscalls', name: 'sys_enter_write' },
      { program: 'kt_cx_sendfile64', category: 'syscalls', name: 'sys_exit_sendfile64' },
    ]);
  });

  it('the built object names a program for each enter and exit it needs', () => {
    const path = captureObjectPath();
    expect(existsSync(path), 'run `node scripts/build-kafka.mjs` first').toBe(true);
    const elf = readFileSync(path).toString('latin1');
    const syscalls = ['write', 'writev', 'sendto', 'sendmsg', 'sendmmsg', 'sendfile64', 'read', 'readv', 'recvfrom', 'recvmsg', 'recvmmsg', 'connect', 'accept', 'accept4'];
    for (const s of syscalls) {
      expect(elf).toContain(`tracepoint/syscalls/sys_enter_${s}\0`);
      expect(elf).toContain(`tracepoint/syscalls/sys_exit_${s}\0`);
    }
    expect(elf).toContain('tracepoint/syscalls/sys_enter_close\0');
  });
});
