// The front end on scripts far larger than anyone writes: every one ends in a result or one clear
// diagnostic at file:line:col, never an internal error, and each completes (the timeouts are
// generous bounds, not speed measurements).
import { describe, expect, it } from 'vitest';
import { planScript } from '../../src/compiler.js';
import { MAX_ATTACH_POINT } from '../../src/frontend/attach.js';
import { didYouMean, formatDiagnostic, MAX_SHOWN_LINE } from '../../src/frontend/diagnostics.js';
import { MAX_DEPTH } from '../../src/frontend/parse.js';
import { FakeSystem } from '../fixtures/analysis/fake-system.js';

const system = new FakeSystem();

/** `file:line:col: message` of each diagnostic, or 'ok'. */
function check(source: string): string[] {
  const r = planScript(source, 'big.ktr', { positional: [], unsafe: false, system });
  return r.ok ? ['ok'] : r.diagnostics.map((d) => `${d.file}:${d.loc.line}:${d.loc.col}: ${d.message}`);
}

describe('front-end limits', () => {
  it('checks 9,000 probes', () => {
    const src = Array.from({ length: 9000 }, (_, i) => `kafka:produce { @a${i % 50}[args.topic] = count(); }`).join('\n');
    expect(check(src)).toEqual(['ok']);
  }, 120_000);

  it('checks 20,000 statements in one block', () => {
    const src = `kafka:produce { ${Array.from({ length: 20_000 }, (_, i) => `$x${i % 7} = ${i}; @m[$x${i % 7}] = 1;`).join(' ')} }`;
    expect(check(src)).toEqual(['ok']);
  }, 120_000);

  it('takes a flat sum of 1,000 terms, and refuses 100,000 at the statement that holds them', () => {
    expect(check(`BEGIN { @a = ${Array(1000).fill('1').join(' + ')}; exit(); }`)).toEqual(['ok']);
    expect(check(`kafka:produce { @a = ${Array(1000).fill('args.records').join(' + ')}; }`)).toEqual(['ok']);
    expect(check(`BEGIN {\n  @a = ${Array(100_000).fill('1').join(' + ')}; exit(); }`)).toEqual([
      `big.ktr:2:3: expression too deep (more than ${MAX_DEPTH} levels of operators, calls and brackets): split it with variables`,
    ]);
  }, 120_000);

  it('refuses a long run of prefix operators where it gets too long', () => {
    expect(check(`BEGIN { $x = ${'!'.repeat(50_000)}1; }`)).toEqual(['big.ktr:1:114: operators nested too deeply (more than 100 prefix operators in a row)']);
  });

  it('refuses attach points longer than the limit, tracepoint and kafka alike', () => {
    expect(check(`tracepoint:${'a'.repeat(100_000)}:b { @x = count(); }`)).toEqual([`big.ktr:1:1: attach point too long (100013 characters, at most ${MAX_ATTACH_POINT})`]);
    expect(check(`BEGIN { exit(); }\nkafka:${'x'.repeat(50_000)} { @a = count(); }`)).toEqual([`big.ktr:2:1: attach point too long (50006 characters, at most ${MAX_ATTACH_POINT})`]);
    expect(check(`tracepoint:syscalls:${'b'.repeat(4000)} { @x = count(); }`)).toEqual([`big.ktr:1:1: tracepoint not found: syscalls:${'b'.repeat(4000)}`]);
  }, 60_000);

  it('suggests names of about the same length only', () => {
    const names = Array.from({ length: 2000 }, (_, i) => `sys_enter_call${i}`);
    expect(didYouMean('x'.repeat(20_000), names)).toBeUndefined();
    expect(didYouMean('sys_enter_call1999x', names)).toBe('sys_enter_call1999');
  });

  it('shows a window of a long source line around the caret', () => {
    const src = `BEGIN { @a = 1 + ; /*${'x'.repeat(400_000)}*/ }\nEND { $y = ; ${'z'.repeat(1000)} }`;
    const r = planScript(src, 'long.ktr', { positional: [], unsafe: false, system });
    expect(r.ok).toBe(false);
    const shown = r.ok ? [] : r.diagnostics.map((d) => formatDiagnostic(d, src));
    expect(shown[0]).toBe(`long.ktr:1:18: ERROR: expected an expression, found ';'\nBEGIN { @a = 1 + ; /*${'x'.repeat(MAX_SHOWN_LINE - 21)}...\n${' '.repeat(17)}^`);
    const [, line, caret] = shown[1]!.split('\n');
    expect(line!.length).toBeLessThanOrEqual(MAX_SHOWN_LINE + 6);
    expect(line![caret!.indexOf('^')]).toBe(';');
    // The caret in the middle of a long line: cut on both sides.
    const mid = `BEGIN { ${'$a = 1; '.repeat(5000)}$b = ; ${'$c = 2; '.repeat(5000)} }`;
    const d = planScript(mid, 'mid.ktr', { positional: [], unsafe: false, system });
    const text = d.ok ? '' : formatDiagnostic(d.diagnostics[0]!, mid);
    const [head, l, c] = text.split('\n');
    expect(head).toBe(`mid.ktr:1:40014: ERROR: expected an expression, found ';'`);
    expect(l!.startsWith('...') && l!.endsWith('...')).toBe(true);
    expect(l!.slice(c!.indexOf('^') - 5, c!.indexOf('^') + 1)).toBe('$b = ;');
  });
});
