// Which kernel filters a plan's kafka predicates push into the capture (kafkaPushdown): only what
// every kafka probe requires, and only filters that cannot drop a record a firing needs.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { planScript } from '../../src/compiler.js';
import { realSystem, type SystemInfo } from '../../src/frontend/system.js';
import { kafkaPushdown, type KafkaPushdown } from '../../src/runtime/kafka-source.js';
import { FakeSystem } from '../fixtures/analysis/fake-system.js';

const system = new FakeSystem();

function pushdown(source: string, on: SystemInfo = system): KafkaPushdown {
  const r = planScript(source, 't.ktr', { positional: [], unsafe: false, system: on });
  if (!r.ok) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  return kafkaPushdown(r.compiled.plan);
}

describe('kafka pushdown: ports', () => {
  it('filters the port every probe requires, on either side of the connection', () => {
    expect(pushdown('kafka:produce /args.rport == 9092/ { @ = count(); }')).toEqual({ ports: [9092] });
    expect(pushdown('kafka:produce /9092 == args.lport && args.error == 0/ { @ = count(); }')).toEqual({ ports: [9092] });
  });

  it('takes an || of port comparisons as a set of ports', () => {
    expect(pushdown('kafka:request /args.lport == 9093 || args.rport == 9092/ { @ = count(); }')).toEqual({ ports: [9092, 9093] });
  });

  it('merges the ports of different probes', () => {
    expect(pushdown('kafka:produce /args.rport == 9092/ { @p = count(); } kafka:fetch /args.rport == 9094/ { @f = count(); }'))
      .toEqual({ ports: [9092, 9094] });
  });

  it('pushes no port when one probe could fire on any port, or the ports do not fit', () => {
    expect(pushdown('kafka:produce /args.rport == 9092/ { @p = count(); } kafka:fetch { @f = count(); }')).toEqual({});
    expect(pushdown('kafka:produce /args.rport == 9092 || args.error != 0/ { @ = count(); }')).toEqual({});
    expect(pushdown('kafka:produce /args.rport != 9092/ { @ = count(); }')).toEqual({});
    expect(pushdown('kafka:produce /args.rport == 0/ { @ = count(); }')).toEqual({});
    const nine = Array.from({ length: 9 }, (_, i) => `args.rport == ${9000 + i}`).join(' || ');
    expect(pushdown(`kafka:produce /${nine}/ { @ = count(); }`)).toEqual({});
  });
});

describe('kafka pushdown: comm', () => {
  it('keeps comm predicates in user space: a connection\'s I/O may change thread names', () => {
    expect(pushdown('kafka:produce /comm == "rdk:broker1"/ { @ = count(); }')).toEqual({});
    expect(pushdown('kafka:request /comm == "node" && args.rport == 9092/ { @ = count(); }')).toEqual({ ports: [9092] });
  });
});

describe('kafka pushdown: pid and cgroup', () => {
  it('combines every filter the predicates require', () => {
    expect(pushdown('kafka:produce /pid == 42 && args.rport == 9092 && cgroup == 77/ { @ = count(); }'))
      .toEqual({ pid: 42, ports: [9092], cgroupId: 77n });
  });

  it('resolves cgroupid() as the interpreter does', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kt-cgroup-'));
    try {
      const id = statSync(dir, { bigint: true }).ino;
      expect(pushdown(`kafka:request /cgroup == cgroupid("${dir}")/ { @ = count(); }`, realSystem())).toEqual({ cgroupId: id });
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it('pushes no port when a probe reads args another connection may supply', () => {
    expect(pushdown('kafka:produce /pid == 42 && args.rport == 9092/ { @[args.topic] = sum(args.records); }')).toEqual({ pid: 42 });
    expect(pushdown('kafka:fetch /args.rport == 9092 && args.group == "g"/ { @ = count(); }')).toEqual({});
  });

  it('pushes nothing for probes whose args come from other processes\' exchanges', () => {
    expect(pushdown('kafka:fetch /pid == 42/ { @ = hist(args.time_lag); }')).toEqual({});
    expect(pushdown('kafka:offsetcommit /pid == 42/ { @ = max(args.committed_lag); }')).toEqual({});
    expect(pushdown('kafka:member /pid == 42/ { @ = count(); }')).toEqual({});
    expect(pushdown('kafka:lag /pid == 42 && args.rport == 9092/ { @ = max(args.lag); }')).toEqual({});
    expect(pushdown('kafka:produce /pid == 42/ { @ = count(); } kafka:rebalance /pid == 42/ { @r = count(); }')).toEqual({});
  });

  it('pushes nothing without kafka probes', () => {
    expect(pushdown('tracepoint:syscalls:sys_enter_openat /pid == 42/ { @ = count(); }')).toEqual({});
  });
});
