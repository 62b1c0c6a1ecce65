// The Output object: banners, records, map printing details, errors.
import { describe, expect, it } from 'vitest';
import { decodeHealth, newCounters } from '../../src/kafka/exchange/counters.js';
import type { MapSnapshot } from '../../src/runtime/values.js';
import { collect, event, i64, printfEvent, str, u64, valueEvent } from './format-helpers.js';

describe('banners', () => {
  it('prints attach and lost-event lines in text and json', () => {
    const t = collect('text');
    t.out.attached(1);
    t.out.attached(3);
    t.out.lost(5n);
    expect(t.text()).toBe('Attaching 1 probe...\nAttaching 3 probes...\nLost 5 events\n');
    const j = collect('json');
    j.out.attached(2);
    j.out.lost(7);
    expect(j.text()).toBe('{"type": "attached_probes", "data": {"probes": 2}}\n{"type": "lost_events", "data": {"events": 7}}\n');
  });

  it('says a watchpoint is out of debug registers as bpftrace 0.17 does (a lost_events message in json)', () => {
    const t = collect('text');
    t.out.outOfWatchpoints();
    expect(t.text()).toBe('Failed to attach watchpoint probe. You are out of watchpoint registers.\n');
    const j = collect('json');
    j.out.outOfWatchpoints();
    expect(j.text()).toBe('{"type": "lost_events", "data": "Failed to attach watchpoint probe. You are out of watchpoint registers."}\n');
  });
  it("prints the Kafka decoder's health: always a kafka_decode record in json, a line on the error stream with -v in text", () => {
    const c = { ...newCounters(), exchanges: 12, unanswered: 1, framesDecoded: 23, framesTruncated: 2, resyncs: 1, bytesSkipped: 4096, framesFailed: { orphan_response: 3, request_lost: 6, unknown_version: 1 }, framesLost: { ringFull: 40, afterLoss: 2, tooMany: 5 }, captureDesyncs: 1, sendfileUnread: 3 };
    const h = decodeHealth(c);
    const j = collect('json');
    j.out.kafkaHealth(h, false);
    expect(JSON.parse(j.text())).toEqual({
      type: 'kafka_decode',
      data: {
        exchanges: 12, unanswered: 1, frames_decoded: 23, frames_truncated: 2, resyncs: 1, bytes_skipped: 4096, bytes_dropped: 0, bad_records: 0,
        frames_lost_ring_full: 40, frames_lost_after_loss: 2, frames_lost_too_many: 5, capture_desyncs: 1, sendfile_unread: 3,
        frames_failed: { bad_header: 0, overrun: 0, bad_length: 0, bad_varint: 0, trailing: 0, orphan_response: 3, request_lost: 6, truncated_header: 0, acks0_response: 0, unknown_version: 1, sasl_token: 0 },
      },
    });
    const quiet = collect('text');
    quiet.out.kafkaHealth(h, false);
    expect(quiet.text() + quiet.errors()).toBe('');
    const v = collect('text');
    v.out.kafkaHealth(h, true);
    expect(v.text()).toBe('');
    expect(v.errors()).toBe(
      'Kafka decode: 12 exchanges (1 unanswered), 23 frames (2 truncated), 1 resyncs, 4096 bytes skipped, 0 bytes dropped, 0 bad capture records\n' +
        'Kafka frames lost: 40 ring buffer full, 2 after a loss, 5 too many in one syscall; 1 desyncs (frames unknown); 3 sendfile reads failed (batches unknown)\n' +
        'Kafka frames failed: orphan_response 3, request_lost 6, unknown_version 1\n',
    );
  });

  it('says a map is full once while running (error stream), and what it dropped at exit', () => {
    const t = collect('text');
    t.out.mapFull({ name: '@c', maxKeys: 4096, dropped: 1 }, false);
    t.out.mapFull({ name: '@c', maxKeys: 4096, dropped: 518703 }, true);
    expect(t.errors()).toBe('WARNING: map @c is full (4096 keys): updates that add a key are dropped; --map-keys-max or BPFTRACE_MAP_KEYS_MAX raises the limit\n');
    expect(t.text()).toBe('Dropped 518703 updates of @c: the map was full (4096 keys; --map-keys-max or BPFTRACE_MAP_KEYS_MAX raises the limit)\n');
    const j = collect('json');
    j.out.mapFull({ name: '@c', maxKeys: 10, dropped: 3 }, true);
    expect(j.text()).toBe('{"type": "map_full", "data": {"map": "@c", "max_keys": 10, "dropped": 3}}\n');
  });

  it('--no-warnings drops the warning, not what was dropped at exit; -q drops the attach banner', () => {
    const t = collect('text', { noWarnings: true, quiet: true });
    t.out.attached(3);
    t.out.mapFull({ name: '@c', maxKeys: 4096, dropped: 1 }, false);
    t.out.mapFull({ name: '@c', maxKeys: 4096, dropped: 2 }, true);
    expect(t.errors()).toBe('');
    expect(t.text()).toBe('Dropped 2 updates of @c: the map was full (4096 keys; --map-keys-max or BPFTRACE_MAP_KEYS_MAX raises the limit)\n');
    const j = collect('json', { quiet: true });
    j.out.attached(3);
    expect(j.text()).toBe('');
  });
  it("-k: a helper's failure as bpftrace prints it (located, tabs as four spaces), a helper_error record in json", () => {
    const script = { file: 'a.bt', text: 'BEGIN {\n\tdelete(@x[1]);\n}\n' };
    const t = collect('text', { script });
    t.out.helperError('map_delete_elem', -2, { line: 2, col: 2, length: 12 });
    t.out.helperError('probe_read_user', -524, { line: 2, col: 2, length: 12 });
    expect(t.text()).toBe(
      'a.bt:2:2-14: WARNING: Failed to map_delete_elem: No such file or directory (-2)\n    delete(@x[1]);\n    ~~~~~~~~~~~~\n' +
        'a.bt:2:2-14: WARNING: Failed to probe_read_user: Unknown error 524 (-524)\n    delete(@x[1]);\n    ~~~~~~~~~~~~\n',
    );
    const e = collect('text', { script: { file: '-e', text: 'i:ms:1 { @[1]; }' } });
    e.out.helperError('map_lookup_elem', 0, { line: 1, col: 10, length: 4 });
    expect(e.text()).toBe('stdin:1:10-14: WARNING: Failed to map_lookup_elem: 0\ni:ms:1 { @[1]; }\n         ~~~~\n');
    const quiet = collect('text', { script, noWarnings: true });
    quiet.out.helperError('map_delete_elem', -2, { line: 2, col: 2, length: 12 });
    expect(quiet.text() + quiet.errors()).toBe('');
    const j = collect('json', { script, noWarnings: true });
    j.out.helperError('probe_read', -14, { line: 1, col: 37, length: 20 });
    expect(j.text()).toBe('{"type": "helper_error", "helper": "probe_read", "retcode": -14, "line": 1, "col": 37}\n');
  });
  it('sends errors to the error stream and flushes through the callback', () => {
    let flushed = 0;
    const t = collect('text', { flush: () => flushed++ });
    t.out.error('boom');
    t.out.flush();
    expect(t.errors()).toBe('ERROR: boom\n');
    expect(t.text()).toBe('');
    expect(flushed).toBe(1);
  });
});

describe('events', () => {
  const now = () => new Date(2026, 10, 27, 1, 2, 3);
  it('prints time() with strftime and no added newline', () => {
    const t = collect('text', { now });
    expect(t.out.event(event({ id: 1, kind: 'time', format: '%H:%M:%S' }))).toBe(true);
    expect(t.text()).toBe('01:02:03');
    const j = collect('json', { now });
    j.out.event(event({ id: 1, kind: 'time', format: '%H:%M:%S\n' }));
    expect(j.text()).toBe('{"type": "time", "data": "01:02:03\\n"}\n');
  });
  it('prints join() with its separator and a newline', () => {
    const layout = { size: 0, fields: [] };
    const t = collect('text');
    t.out.event(event({ id: 1, kind: 'join', separator: ' ', layout }, ['ls', '-l', '/tmp', '', '']));
    expect(t.text()).toBe('ls -l /tmp\n');
    const j = collect('json');
    j.out.event(event({ id: 1, kind: 'join', separator: ',', layout }, ['a', 'b']));
    expect(j.text()).toBe('{"type": "join", "data": "a,b"}\n');
  });
  it('prints cat() file contents, or an error naming the file', () => {
    const layout = { size: 0, fields: [] };
    const files: Record<string, string> = { '/proc/7/comm': 'bash\n' };
    const readFile = (p: string) => {
      if (!(p in files)) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
      return new TextEncoder().encode(files[p]);
    };
    const t = collect('text', { readFile });
    t.out.event(event({ id: 1, kind: 'cat', format: '/proc/%d/comm', layout }, [7n]));
    t.out.event(event({ id: 1, kind: 'cat', format: '/nope', layout }));
    expect(t.text()).toBe('bash\n');
    expect(t.errors()).toBe("ERROR: failed to open file '/nope': No such file or directory\n");
    const j = collect('json', { readFile });
    j.out.event(event({ id: 1, kind: 'cat', format: '/proc/%d/comm', layout }, [7n]));
    j.out.event(event({ id: 1, kind: 'cat', format: '/nope', layout }));
    expect(j.text()).toBe('{"type": "cat", "data": "bash\\n"}\n{"type": "cat", "data": ""}\n');
  });
  it('prints values given to print()', () => {
    const t = collect('text');
    t.out.event(valueEvent({ kind: 'inet', af: 2, bytes: new Uint8Array([10, 1, 2, 3]) }));
    t.out.event(valueEvent(-4n));
    expect(t.text()).toBe('10.1.2.3\n-4\n');
  });
  it('leaves records the runtime acts on to the runtime', () => {
    const t = collect('text');
    expect(t.out.event(event({ id: 1, kind: 'print', map: '@a', top: 0, div: 0 }))).toBe(false);
    expect(t.out.event(event({ id: 2, kind: 'exit', layout: { size: 0, fields: [] } }))).toBe(false);
    expect(t.out.event(event({ id: 3, kind: 'clear', map: '@a' }))).toBe(false);
    expect(t.text()).toBe('');
  });
  it('reports a bad record as an error and keeps going', () => {
    const t = collect('text');
    expect(t.out.event({ ok: false, id: 9, error: 'ring buffer record with unknown event id 9' })).toBe(true);
    t.out.event(printfEvent('ok\n', []));
    expect(t.errors()).toBe('ERROR: ring buffer record with unknown event id 9\n');
    expect(t.text()).toBe('ok\n');
  });
});

describe('maps', () => {
  const count = (entries: [bigint, bigint][]): MapSnapshot => ({
    name: '@c',
    value: { kind: 'count' },
    keyTypes: [u64],
    entries: entries.map(([k, v]) => ({ keys: [k], value: v })),
  });
  it('orders count maps by value and applies top and div', () => {
    const s = count([[1n, 30n], [2n, 10n], [3n, 20n]]);
    const t = collect('text');
    t.out.printMap(s);
    t.out.printMap(s, 2, 10);
    expect(t.text()).toBe('@c[2]: 10\n@c[3]: 20\n@c[1]: 30\n@c[3]: 2\n@c[1]: 3\n');
  });
  it('prints an empty map as an empty line in text and nothing in json', () => {
    const t = collect('text');
    t.out.printMap(count([]));
    t.out.printMap({ name: '@s', value: { kind: 'stats', signed: true }, keyTypes: [], entries: [] });
    expect(t.text()).toBe('\n\n\n');
    const j = collect('json');
    j.out.printMap(count([]));
    expect(j.text()).toBe('');
  });
  it('orders maps by name at exit, after two newlines; without them on request', () => {
    const a = { ...count([[1n, 1n]]), name: '@a' };
    const anon = { ...count([[1n, 2n]]), name: '@' };
    const t = collect('text');
    t.out.printMaps([a, anon]);
    t.out.printMaps([a], { atExit: false });
    expect(t.text()).toBe('\n\n@[1]: 2\n@a[1]: 1\n@a[1]: 1\n');
  });
  it('orders plain maps by key: integers unsigned, strings bytewise, first key first', () => {
    const s: MapSnapshot = {
      name: '@m',
      value: { kind: 'scalar', type: str },
      keyTypes: [str, i64],
      entries: [
        { keys: ['b', 1n], value: 'x' },
        { keys: ['a', -1n], value: 'y' },
        { keys: ['a', 2n], value: 'z' },
      ],
    };
    const t = collect('text');
    t.out.printMap(s);
    expect(t.text()).toBe('@m[a, 2]: z\n@m[a, -1]: y\n@m[b, 1]: x\n');
  });
  it('prints stack keys indented by four and stack values without separators', () => {
    const stackLookup = (id: number) => (id === 1 ? [0x1001n, 0x1002n] : [0x1003n]);
    const byStack: MapSnapshot = {
      name: '@',
      value: { kind: 'count' },
      keyTypes: [{ kind: 'kstack' }],
      entries: [{ keys: [{ kind: 'kstack', stackId: 1 }], value: 3n }],
    };
    const stackValues: MapSnapshot = {
      name: '@s',
      value: { kind: 'scalar', type: { kind: 'kstack' } },
      keyTypes: [u64],
      entries: [
        { keys: [1n], value: { kind: 'kstack', stackId: 1 } },
        { keys: [2n], value: { kind: 'kstack', stackId: 2 } },
      ],
    };
    const t = collect('text', { stackLookup });
    t.out.printMap(byStack);
    t.out.printMap(stackValues);
    expect(t.text()).toBe('@[\n    kfunc+1\n    kfunc+2\n]: 3\n@s[1]: \n        kfunc+1\n        kfunc+2\n@s[2]: \n        kfunc+3\n\n');
    const j = collect('json', { stackLookup });
    j.out.printMap(byStack);
    expect(j.text()).toBe('{"type": "map", "data": {"@": {"\\n    kfunc+1\\n    kfunc+2\\n": 3}}}\n');
  });
  it('orders avg and stats by average, hist by total count', () => {
    const avg: MapSnapshot = {
      name: '@v',
      value: { kind: 'avg', signed: true },
      keyTypes: [u64],
      entries: [
        { keys: [1n], value: { count: 2n, total: 9n } },
        { keys: [2n], value: { count: 0n, total: 0n } },
        { keys: [3n], value: { count: 1n, total: -3n } },
      ],
    };
    const t = collect('text');
    t.out.printMap(avg);
    expect(t.text()).toBe('@v[3]: -3\n@v[2]: 0\n@v[1]: 4\n\n');
    const hb = (i: number, n: bigint) => Object.assign(new Array<bigint>(66).fill(0n), { [i]: n });
    const hist: MapSnapshot = {
      name: '@h',
      value: { kind: 'hist' },
      keyTypes: [str],
      entries: [
        { keys: ['big'], value: hb(2, 5n) },
        { keys: ['small'], value: hb(1, 1n) },
      ],
    };
    const j = collect('json');
    j.out.printMap(hist);
    expect(j.text()).toBe(
      '{"type": "hist", "data": {"@h": {"small": [{"min": 0, "max": 0, "count": 1}], "big": [{"min": 1, "max": 1, "count": 5}]}}}\n',
    );
  });
});

describe('control characters in text output', () => {
  // A client id, a file name: strings anyone may have chosen, with a title change, a screen clear
  // and a C1 control sequence introducer in them.
  const hostile = 'id\x1b]0;owned\x07\x1b[2J\u009bx';
  const escaped = 'id\\x1b]0;owned\\x07\\x1b[2J\\u009bx';

  it('are escaped in printf arguments, print() and join(), not in the script\'s own format', () => {
    const t = collect('text');
    t.out.event(printfEvent('\x1b[1m%s\x1b[0m|%s|\n', [hostile, 'tab\tand\nnewline stay']));
    t.out.event(valueEvent(hostile));
    t.out.event(valueEvent([hostile, 1n]));
    t.out.event(event({ id: 1, kind: 'join', separator: ' ', layout: { size: 0, fields: [] } }, ['a\x01', 'b']));
    expect(t.text()).toBe(`\x1b[1m${escaped}\x1b[0m|tab\tand\nnewline stay|\n${escaped}\n(${escaped}, 1)\na\\x01 b\n`);
  });

  it('are escaped in map keys and values', () => {
    const t = collect('text');
    const s: MapSnapshot = { name: '@c', value: { kind: 'count' }, keyTypes: [str], entries: [{ keys: [hostile], value: 3n }] };
    t.out.printMap(s);
    const v: MapSnapshot = { name: '@v', value: { kind: 'scalar', type: str }, keyTypes: [u64], entries: [{ keys: [1n], value: hostile }] };
    t.out.printMap(v);
    expect(t.text()).toBe(`@c[${escaped}]: 3\n@v[1]: ${escaped}\n`);
  });

  it('stay as they are in JSON, which escapes them itself', () => {
    const j = collect('json');
    j.out.event(printfEvent('%s\n', [hostile]));
    j.out.printMap({ name: '@c', value: { kind: 'count' }, keyTypes: [str], entries: [{ keys: [hostile], value: 3n }] });
    const lines = j.text().trim().split('\n').map((l) => JSON.parse(l) as { data: unknown });
    expect(lines[0]!.data).toBe(`${hostile}\n`);
    expect(lines[1]!.data).toEqual({ '@c': { [hostile]: 3 } });
  });

  it('reach cat() as they are: the file is the one named', () => {
    const seen: string[] = [];
    const t = collect('text', { readFile: (p) => (seen.push(p), new TextEncoder().encode('ok')) });
    t.out.event(event({ id: 1, kind: 'cat', format: '/tmp/%s', layout: { size: 0, fields: [] } }, ['a\x1bb']));
    expect(seen).toEqual(['/tmp/a\x1bb']);
  });
});
