import { describe, expect, it } from 'vitest';
import { parseExportTarget, formatAddress } from '../../src/export/address.js';
import { familyNames, familyType, labelNames, mapBase, snakeCase } from '../../src/export/naming.js';
import { frontend } from '../../src/frontend/index.js';
import { buildPlan } from '../../src/plan/build.js';
import { FakeSystem } from '../fixtures/analysis/fake-system.js';

describe('metric names', () => {
  it('snake-cases map names and prefixes them', () => {
    expect(snakeCase('bytesByTopic')).toBe('bytes_by_topic');
    expect(snakeCase('HTTPRequests')).toBe('http_requests');
    expect(snakeCase('lat_ns')).toBe('lat_ns');
    expect(mapBase('@')).toBe('map');
    expect(mapBase('@_')).toBe('map');
    expect(mapBase('@9lives')).toBe('map_9lives');
    expect(familyNames([
      { name: '@bytes_by_topic', type: 'counter' },
      { name: '@', type: 'gauge' },
      { name: '@lat_ns', type: 'histogram' },
      { name: '@calls_total', type: 'counter' },
    ])).toEqual(['kafkatrace_bytes_by_topic_total', 'kafkatrace_map', 'kafkatrace_lat_ns', 'kafkatrace_calls_total']);
  });

  it('keeps names unique, apart from the health metrics too', () => {
    expect(familyNames([
      { name: '@fooBar', type: 'gauge' },
      { name: '@foo_bar', type: 'gauge' },
      { name: '@events_lost', type: 'counter' },
      { name: '@probes_attached', type: 'gauge' },
    ])).toEqual(['kafkatrace_foo_bar', 'kafkatrace_foo_bar_2', 'kafkatrace_events_lost_2_total', 'kafkatrace_probes_attached_2']);
  });

  it('types each kind of map', () => {
    expect(familyType({ kind: 'count' })).toBe('counter');
    expect(familyType({ kind: 'sum', signed: false })).toBe('counter');
    expect(familyType({ kind: 'sum', signed: true })).toBe('gauge');
    expect(familyType({ kind: 'avg', signed: true })).toBe('summary');
    expect(familyType({ kind: 'stats', signed: false })).toBe('summary');
    expect(familyType({ kind: 'min', signed: true })).toBe('gauge');
    expect(familyType({ kind: 'max', signed: false })).toBe('gauge');
    expect(familyType({ kind: 'hist' })).toBe('histogram');
    expect(familyType({ kind: 'lhist', min: 0, max: 10, step: 1 })).toBe('histogram');
    expect(familyType({ kind: 'scalar', type: { kind: 'int', bits: 64, signed: true } })).toBe('gauge');
    expect(familyType({ kind: 'scalar', type: { kind: 'str', size: 16 } })).toBeUndefined();
  });
});

describe('label names', () => {
  it('uses key names where they are valid labels, positions otherwise', () => {
    expect(labelNames(2, ['topic', 'partition'], 'counter')).toEqual(['topic', 'partition']);
    expect(labelNames(3, ['comm', '', 'comm'], 'gauge')).toEqual(['comm', 'key1', 'key2']);
    expect(labelNames(2, undefined, 'gauge')).toEqual(['key0', 'key1']);
    expect(labelNames(2, ['key1', 'x'], 'gauge')).toEqual(['key0', 'x']);
    expect(labelNames(1, ['__name__'], 'gauge')).toEqual(['key0']);
    expect(labelNames(1, ['le'], 'histogram')).toEqual(['key0']);
    expect(labelNames(1, ['le'], 'gauge')).toEqual(['le']);
    expect(labelNames(1, ['quantile'], 'summary')).toEqual(['key0']);
  });

  it('takes key names from the script into the plan', () => {
    const r = frontend(
      `tracepoint:syscalls:sys_enter_openat { @[comm] = count(); @files[str(args.filename), pid] = count(); $f = args.flags; @flags[$f] = max(args.mode); @mixed[pid] = count(); }
       tracepoint:syscalls:sys_enter_read { @mixed[tid] = count(); @files[str(args.buf), pid] = count(); @one = count(); @sum[(uint32)args.count, 1] = sum(1); }`,
      't.ktr',
      { positional: [], unsafe: false, system: new FakeSystem() },
    );
    expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const plan = buildPlan(r.script!, r.analysis!, 't.ktr');
    const names = Object.fromEntries(plan.maps.map((m) => [m.name, m.keyNames]));
    expect(names).toEqual({
      '@': ['comm'],
      '@files': ['', 'pid'],
      '@flags': ['f'],
      '@mixed': [''],
      '@one': undefined,
      '@sum': ['count', ''],
    });
  });
});

describe('--export values', () => {
  it('parses the exporter and its address', () => {
    expect(parseExportTarget('prometheus')).toEqual({ kind: 'prometheus', host: '127.0.0.1', port: 9464 });
    expect(parseExportTarget('prometheus=0.0.0.0:9100')).toEqual({ kind: 'prometheus', host: '0.0.0.0', port: 9100 });
    expect(parseExportTarget('prometheus=[::1]:9464')).toEqual({ kind: 'prometheus', host: '::1', port: 9464 });
    expect(parseExportTarget('prometheus=localhost:80')).toEqual({ kind: 'prometheus', host: 'localhost', port: 80 });
    expect(parseExportTarget('prometheus=:9200')).toEqual({ kind: 'prometheus', host: '127.0.0.1', port: 9200 });
    expect(parseExportTarget('prometheus=9300')).toEqual({ kind: 'prometheus', host: '127.0.0.1', port: 9300 });
  });

  it('rejects bad values with one message each', () => {
    const error = (s: string) => {
      const r = parseExportTarget(s);
      return 'error' in r ? r.error : undefined;
    };
    expect(error('statsd')).toMatch(/^unknown exporter 'statsd': use --export prometheus/);
    expect(error('prometheus=127.0.0.1:99999')).toMatch(/^'99999' is not a port \(1-65535\)/);
    expect(error('prometheus=127.0.0.1:0')).toMatch(/^'0' is not a port/);
    expect(error('prometheus=127.0.0.1:')).toMatch(/^'' is not a port/);
    expect(error('prometheus=::1:9464')).toMatch(/^an IPv6 address goes in brackets/);
    expect(error('prometheus=[zz]:9464')).toMatch(/^'zz' is not an IPv6 address/);
    expect(error('prometheus=a_b:1')).toMatch(/^'a_b' is not an address/);
  });

  it('formats addresses for messages', () => {
    expect(formatAddress({ host: '::1', port: 9464 })).toBe('[::1]:9464');
    expect(formatAddress({ host: '127.0.0.1', port: 1 })).toBe('127.0.0.1:1');
  });
});
