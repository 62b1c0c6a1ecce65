// Topic ids named from a broker's log directories (src/kafka/capture/topic-ids.ts), over a /proc of
// the test's making: a process's fds link to segments as the process sees them, its root to the
// files, and each partition directory holds partition.metadata as Kafka writes it.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { kafkaIdToUuid, partitionMetadataId, ProcTopicIds } from '../../src/kafka/capture/topic-ids.js';

/** A topic id as Kafka prints it (base64url, no padding) and as kafkatrace shows it (UUID text). */
function topicId(): { kafka: string; uuid: string } {
  const bytes = randomBytes(16);
  const hex = bytes.toString('hex');
  return { kafka: bytes.toString('base64url'), uuid: `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}` };
}

describe('topic ids from log directories', () => {
  let dir: string;
  let fds = 0;
  let clock = 0;
  const PID = 4242;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kt-topic-ids-'));
    mkdirSync(join(dir, 'proc', String(PID), 'fd'), { recursive: true });
    mkdirSync(join(dir, 'rootfs'));
    symlinkSync(join(dir, 'rootfs'), join(dir, 'proc', String(PID), 'root'));
    fds = 0;
    clock = 0;
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** A partition directory with its metadata (`metadata` as written, or none) and a segment the process holds open. */
  const partition = (name: string, metadata: string | undefined): void => {
    const at = join(dir, 'rootfs', 'kafka-logs', name);
    mkdirSync(at, { recursive: true });
    if (metadata !== undefined) writeFileSync(join(at, 'partition.metadata'), metadata);
    writeFileSync(join(at, '00000000000000000000.log'), '');
    symlinkSync(`/kafka-logs/${name}/00000000000000000000.log`, join(dir, 'proc', String(PID), 'fd', String(3 + fds++)));
  };
  const source = () => new ProcTopicIds(join(dir, 'proc'), () => clock);

  it('names an id by the directory whose partition.metadata holds it', () => {
    const orders = topicId();
    const pay = topicId();
    partition('orders-0', `version: 0\ntopic_id: ${orders.kafka}\n`);
    partition('orders-1', `version: 0\ntopic_id: ${orders.kafka}\n`);
    partition('pay.v2_x-11', `version: 0\ntopic_id: ${pay.kafka}\n`);
    const ids = source();
    expect(ids.name(PID, orders.uuid)).toBe('orders');
    expect(ids.name(PID, pay.uuid)).toBe('pay.v2_x');
    expect(ids.name(PID, topicId().uuid)).toBeUndefined();
    expect(ids.name(PID + 1, orders.uuid)).toBeUndefined();
  });

  it('looks for a new id at once, and again for one it could not name only after a while', () => {
    const ids = source();
    const first = topicId();
    expect(ids.name(PID, first.uuid)).toBeUndefined();
    // A topic made since: its id, never looked for, is looked for at once.
    const made = topicId();
    partition('made-0', `version: 0\ntopic_id: ${made.kafka}\n`);
    expect(ids.name(PID, made.uuid)).toBe('made');
    // The metadata written after the segment: the directory is read again, when the id is due.
    partition('later-0', undefined);
    writeFileSync(join(dir, 'rootfs', 'kafka-logs', 'later-0', 'partition.metadata'), `version: 0\ntopic_id: ${first.kafka}\n`);
    clock += 5_000;
    expect(ids.name(PID, first.uuid)).toBeUndefined();
    clock += 5_000;
    expect(ids.name(PID, first.uuid)).toBe('later');
  });

  it('makes no more than a burst of scans for ids read from corrupt frames, then one per 10 ms', () => {
    const ids = source();
    for (let i = 0; i < 20; i++) expect(ids.name(PID, topicId().uuid)).toBeUndefined();
    const made = topicId();
    partition('made-0', `version: 0\ntopic_id: ${made.kafka}\n`);
    expect(ids.name(PID, made.uuid)).toBeUndefined();
    clock += 10;
    expect(ids.name(PID, made.uuid)).toBe('made');
  });

  it('takes nothing from what is not a partition directory of Kafka or its metadata', () => {
    const id = topicId();
    partition('no-partition', `version: 0\ntopic_id: ${id.kafka}\n`);
    partition('bad name!-0', `version: 0\ntopic_id: ${id.kafka}\n`);
    partition('v1-0', `version: 1\ntopic_id: ${id.kafka}\n`);
    partition('short-0', `version: 0\ntopic_id: ${id.kafka.slice(1)}\n`);
    partition('extra-0', `version: 0\ntopic_id: ${id.kafka}\nmore: 1\n`);
    expect(source().name(PID, id.uuid)).toBeUndefined();
  });

  it('never blocks on a FIFO where the metadata should be', () => {
    const id = topicId();
    partition('fifo-0', undefined);
    execFileSync('mkfifo', [join(dir, 'rootfs', 'kafka-logs', 'fifo-0', 'partition.metadata')]);
    partition('ok-0', `version: 0\ntopic_id: ${id.kafka}\n`);
    expect(source().name(PID, id.uuid)).toBe('ok');
  });

  it('reads Kafka\'s id text as the UUID kafkatrace shows', () => {
    for (let i = 0; i < 50; i++) {
      const id = topicId();
      expect(kafkaIdToUuid(id.kafka)).toBe(id.uuid);
      expect(partitionMetadataId(`version: 0\ntopic_id: ${id.kafka}`)).toBe(id.uuid);
    }
    expect(kafkaIdToUuid('AAAAAAAAAAAAAAAAAAAAAA')).toBe('00000000-0000-0000-0000-000000000000');
    expect(kafkaIdToUuid('AAAAAAAAAAAAAAAAAAAAA=')).toBeUndefined();
    expect(kafkaIdToUuid('AAAAAAAAAAAAAAAAAAAAA+')).toBeUndefined();
  });
});
