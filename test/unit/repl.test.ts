// The REPL without a kernel: input completeness, completion, compile units and their diagnostics,
// map sharing rules, history location, and the REPL driven through its streams.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { PlanMap } from '../../src/plan/types.js';
import { complete, type CompletionSource } from '../../src/repl/complete.js';
import { historyPath } from '../../src/repl/history.js';
import { enclosingAttachPoints, isCompleteInput } from '../../src/repl/input.js';
import { startRepl } from '../../src/repl/repl.js';
import { shapeMismatch } from '../../src/repl/shared-maps.js';
import { composeUnit, mapLoc, mentionedMaps, renderUnitDiagnostics } from '../../src/repl/unit.js';
import { planScript } from '../../src/compiler.js';
import { parseCli } from '../../src/cli/args.js';
import { FakeSystem } from '../fixtures/analysis/fake-system.js';

const system = new FakeSystem();

describe('input completeness', () => {
  it('waits for the braces to balance', () => {
    expect(isCompleteInput('tracepoint:syscalls:sys_enter_openat { @[comm] = count();')).toBe(false);
    expect(isCompleteInput('tracepoint:syscalls:sys_enter_openat { @[comm] = count(); }')).toBe(true);
    expect(isCompleteInput('BEGIN {\n  if (1) {\n    printf("x");\n  }\n')).toBe(false);
    expect(isCompleteInput('BEGIN {\n  if (1) {\n    printf("x");\n  }\n}\n')).toBe(true);
  });

  it('ignores braces in strings and comments', () => {
    expect(isCompleteInput('BEGIN { printf("}"); // }\n')).toBe(false);
    expect(isCompleteInput('BEGIN { printf("{ \\" {"); /* { */ }')).toBe(true);
    expect(isCompleteInput('BEGIN { printf("unterminated }')).toBe(false);
  });

  it('waits for the block after attach points typed on their own line', () => {
    expect(isCompleteInput('tracepoint:syscalls:sys_enter_openat')).toBe(false);
    expect(isCompleteInput('tracepoint:syscalls:sys_enter_openat,')).toBe(false);
    expect(isCompleteInput('tracepoint:syscalls:sys_enter_openat /pid == 1/')).toBe(false);
  });

  it('lets a line that is wrong before its end through, for its diagnostic', () => {
    expect(isCompleteInput('foo bar')).toBe(true);
    expect(isCompleteInput('')).toBe(true);
  });

  it('finds the attach points of the block being typed', () => {
    expect(enclosingAttachPoints('BEGIN { }\nt:sched:sched_switch, kafka:produce /pid == 1/ { @x = args.')).toEqual(['t:sched:sched_switch', 'kafka:produce']);
    expect(enclosingAttachPoints('t:sched:sched_switch { }')).toEqual([]);
  });
});

describe('completion', () => {
  const src: CompletionSource = {
    system,
    kafka: () => ({
      common: [],
      probes: [{ name: 'produce', description: '', args: [{ name: 'topic', type: { kind: 'str', size: 64 }, description: '' }, { name: 'partition', type: { kind: 'int', bits: 64, signed: true }, description: '' }] }],
    }),
    maps: () => ['@opens', '@bytes'],
    blocks: () => [1, 3],
    commands: ['probes', 'detach', 'maps', 'print', 'clear', 'list', 'help', 'exit'],
  };

  it('completes providers and probe names', () => {
    expect(complete('', 'trace', src)).toEqual([['tracepoint:'], 'trace']);
    expect(complete('', 'BE', src)).toEqual([['BEGIN'], 'BE']);
    expect(complete('', 'tracepoint:sc', src)).toEqual([['tracepoint:sched:'], 'tracepoint:sc']);
    expect(complete('', 't:sched:sched_s', src)).toEqual([['t:sched:sched_switch'], 't:sched:sched_s']);
    expect(complete('', 'kafka:pro', src)).toEqual([['kafka:produce'], 'kafka:pro']);
    expect(complete('', 'software:cs', src)[0]).toEqual(['software:cs:']);
    expect(complete('', 'BEGIN { } t:sched:sched_process_e', src)).toEqual([['t:sched:sched_process_exec'], 't:sched:sched_process_e']);
  });

  it('completes builtins and functions inside a block', () => {
    expect(complete('', 't:sched:sched_switch { @x = pi', src)).toEqual([['pid'], 'pi']);
    expect(complete('', 'BEGIN { prin', src)[0]).toEqual(['print(', 'printf(']);
  });

  it('completes args fields of the probe being typed, across lines', () => {
    expect(complete('t:sched:sched_switch\n{\n', '  @[args.prev_p', src)).toEqual([['args.prev_pid', 'args.prev_prio'], 'args.prev_p']);
    expect(complete('', 'kafka:produce { @[args->t', src)).toEqual([['args->topic'], 'args->t']);
    expect(complete('', 't:syscalls:sys_enter_openat { @[args.', src)[0]).toEqual(['args.__syscall_nr', 'args.dfd', 'args.filename', 'args.flags', 'args.mode']);
  });

  it('completes map names: live ones and the ones the block names', () => {
    expect(complete('BEGIN { @latency = 1;\n', '@', src)[0]).toEqual(['@bytes', '@latency', '@opens']);
    expect(complete('', 'BEGIN { print(@o', src)).toEqual([['@opens'], '@o']);
  });

  it('completes commands and their arguments', () => {
    expect(complete('', '.de', src)).toEqual([['.detach'], '.de']);
    expect(complete('', '.print @b', src)).toEqual([['@bytes'], '@b']);
    expect(complete('', '.detach ', src)).toEqual([['1', '3'], '']);
    expect(complete('', '.list kafka:p', src)).toEqual([['kafka:produce'], 'kafka:p']);
  });
});

describe('compile units', () => {
  const declaring = [{ block: 2, text: 't:syscalls:sys_enter_openat { @c[pid] = count(); }' }];

  it('puts the declaring blocks first and maps diagnostics back to the typed block', () => {
    const text = 't:syscalls:sys_enter_read {\n  @c[comm] = count();\n}';
    const unit = composeUnit(text, declaring);
    expect(unit.prefixLines).toBe(1);
    const r = planScript(unit.source, 'repl', { positional: [], unsafe: false, system });
    expect(r.ok).toBe(false);
    expect(renderUnitDiagnostics(r.diagnostics, unit, text)).toBe(
      ['repl:2:6: ERROR: key 1 of @c is string[16] here but uint64 at 1:31 of block 2', '  @c[comm] = count();', '     ^~~~'].join('\n'),
    );
  });

  it('lets a block read a map another block declares', () => {
    const text = 't:syscalls:sys_enter_read { print(@c); }';
    expect(planScript(text, 'repl', { positional: [], unsafe: false, system }).ok).toBe(false);
    const unit = composeUnit(text, declaring);
    const r = planScript(unit.source, 'repl', { positional: [], unsafe: false, system });
    expect(r.ok).toBe(true);
  });

  it('finds the maps a block mentions and where', () => {
    expect([...mentionedMaps('BEGIN { @a = 1; @ = count(); @a_b[1] = 2; }')].sort()).toEqual(['@', '@a', '@a_b']);
    expect(mapLoc('BEGIN {\n  @ab = 1; @a = 2; }', '@a')).toEqual({ line: 2, col: 12, offset: 19, length: 2 });
  });
});

describe('map sharing', () => {
  const base: PlanMap = {
    name: '@c',
    bpfName: 'm_c',
    home: 'kernel',
    keyTypes: [{ kind: 'int', bits: 64, signed: false }],
    keyLayout: { size: 8, fields: [{ type: { kind: 'int', bits: 64, signed: false }, offset: 0, size: 8 }] },
    value: { kind: 'count' },
    valueSize: 8,
    perCpu: true,
    bpfType: 'percpu_hash',
    maxEntries: 4096,
  };

  it('accepts the same shape and explains a different one', () => {
    expect(shapeMismatch(base, { ...base })).toBeUndefined();
    expect(shapeMismatch(base, { ...base, value: { kind: 'sum', signed: true } })).toBe(
      '@c is live as @c[uint64] = count(); this block uses it as @c[uint64] = sum(): use another name, or detach the blocks that use it first',
    );
  });
});

describe('history', () => {
  it('follows XDG_STATE_HOME, else the home directory', () => {
    expect(historyPath({ XDG_STATE_HOME: '/s' }, '/home/u')).toBe('/s/kafkatrace/history');
    expect(historyPath({}, '/home/u')).toBe('/home/u/.kafkatrace_history');
  });
});

/** Types lines into a REPL on streams and returns everything it printed once it has ended. */
async function drive(lines: string[]): Promise<string> {
  const input = new PassThrough();
  const output = new PassThrough();
  let text = '';
  output.on('data', (d: Buffer) => (text += d.toString()));
  const session = startRepl({
    input,
    output,
    terminal: false,
    system,
    compile: () => Promise.reject(new Error('no compiler in this test')),
  });
  for (const l of lines) input.write(l + '\n');
  input.end();
  await session.closed;
  return text;
}

describe('the REPL on streams', () => {
  it('prints help, no blocks and no maps at the start', async () => {
    const out = await drive(['.help', '.probes', '.maps']);
    expect(out).toContain('.detach N      detach block N');
    expect(out).toContain('no blocks attached\n');
    expect(out).toContain('no maps\n');
  });

  it('gives a bad line its diagnostic and goes on', async () => {
    const out = await drive(['t:syscalls:sys_enter_read { @x = nosuch; }', '.probes']);
    expect(out).toContain('repl:1:34: ERROR: unknown identifier');
    expect(out).toContain('t:syscalls:sys_enter_read { @x = nosuch; }\n                                 ^~~~~~');
    expect(out).toContain('no blocks attached\n');
  });

  it('reads a block over several lines, with diagnostics at the block\'s own lines', async () => {
    const out = await drive(['t:syscalls:sys_enter_read', '{', '  @x = nosuch;', '}', '.maps']);
    expect(out).toContain('kt> ... ... ... ');
    expect(out).toContain('repl:3:8: ERROR: unknown identifier');
    expect(out).toContain('no maps\n');
  });

  it('answers commands about unknown blocks and maps', async () => {
    const out = await drive(['.detach 4', '.detach x', '.print @nope', '.clear', '.list uprobe:/nonexistent/bin:f*']);
    expect(out).toContain('no block 4 (.probes lists the attached blocks)');
    expect(out).toContain('usage: .detach N');
    expect(out).toContain('no map @nope (no map is live)');
    expect(out).toContain('usage: .clear @map');
    expect(out).toContain('ERROR: no such binary or library: /nonexistent/bin');
  });

  it('lists probes with their args', async () => {
    const out = await drive(['.list t:sched:sched_switch']);
    expect(out).toMatch(/^kt> tracepoint:sched:sched_switch\n(    .*;\n)*    char\[16\] prev_comm;\n/);
  });

  it('ends on .exit without printing more', async () => {
    const out = await drive(['.exit', '.help']);
    expect(out).toBe('kt> ');
  });
});

describe('the REPL on a terminal stream', () => {
  it('completes with Tab, using the lines of the block typed before', async () => {
    const input = new PassThrough();
    const output = new PassThrough();
    let text = '';
    output.on('data', (d: Buffer) => (text += d.toString()));
    const session = startRepl({ input, output, terminal: true, system, compile: () => Promise.reject(new Error('no compiler')) });
    input.write('t:sched:sched_sw\t');
    await new Promise((r) => setTimeout(r, 50));
    expect(text).toContain('t:sched:sched_switch');
    for (const keys of [' {\r', '  @[args.next_p', '\t', '\t']) {
      input.write(keys);
      await new Promise((r) => setTimeout(r, 20));
    }
    const plain = text.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
    expect(plain).toContain('... ');
    expect(plain).toContain('args.next_pid');
    expect(plain).toContain('args.next_prio');
    session.server.close();
    await session.closed;
  });
});

describe('kafkatrace repl on the command line', () => {
  it('is a subcommand without arguments', () => {
    expect(parseCli(['repl']).command).toBe('repl');
    expect(() => parseCli(['repl', 'x.ktr'])).toThrow(expect.objectContaining({ errorCode: 'usage' }));
  });
});
