// parse() must return, never throw, whatever it is given: random token soups and mutations of real
// scripts. Seeds are fixed, so a failure reproduces.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { formatDiagnostic } from '../../src/frontend/diagnostics.js';
import { parse } from '../../src/frontend/parse.js';
import { rng } from '../helpers/seeded.js';
import { exampleFiles, oneLiners, root } from './parser-helpers.js';

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

const fragments = [
  'BEGIN', 'END', 'kprobe:f', 'uprobe:/bin/bash:readline', 't:syscalls:sys_enter_*', 'kafka:produce', 'interval:s:1',
  '{', '}', '(', ')', '[', ']', '/', ',', ';', ':', '.', '->', '?', '=', '==', '!=', '+=', '<<=', '++', '--',
  '+', '-', '*', '&', '|', '^', '!', '~', '<', '>', '<=', '&&', '||', '%', '$x', '$1', '$#', '@', '@m', '@m[',
  'pid', 'comm', 'args', 'args.topic', 'count()', 'hist(', 'printf(', '"str"', '"esc\\n"', '"open', '0x1F', '42',
  '1e6', '08', 'if', 'else', 'while', 'unroll', 'for', 'return', 'break', 'continue', 'struct', '(uint32)',
  '(struct task_struct *)', '#include <x.h>\n', '// c\n', '/* c */', '/*', '\n', ' ', '\t', '$', '`', '\\', '"',
];

const insertable = '{}()[]/"\\@$#:;,.-+*&|!=<>?~\n \t0aZ_\'`x1';

function mutate(r: () => number, s: string): string {
  const at = Math.floor(r() * (s.length + 1));
  switch (Math.floor(r() * 6)) {
    case 0:
      return s.slice(0, at) + s.slice(at + 1);
    case 1:
      return s.slice(0, at) + s.charAt(at) + s.slice(at);
    case 2:
      return at + 1 < s.length ? s.slice(0, at) + s[at + 1] + s[at] + s.slice(at + 2) : s;
    case 3:
      return s.slice(0, at) + pick(r, [...insertable]) + s.slice(at);
    case 4: {
      const len = Math.floor(r() * 12);
      return s.slice(0, at) + s.slice(at + len);
    }
    default: {
      const len = Math.floor(r() * 12);
      return s.slice(0, at) + s.slice(at, at + len) + s.slice(at);
    }
  }
}

function soup(r: () => number): string {
  const n = 1 + Math.floor(r() * 40);
  let s = '';
  for (let i = 0; i < n; i++) s += pick(r, fragments) + pick(r, ['', ' ', ' ', '\n']);
  return s;
}

/** Every location a parse result holds must lie inside the source. */
function checkResult(source: string): void {
  const r = parse(source, 'fuzz.ktr');
  expect(Array.isArray(r.diagnostics)).toBe(true);
  if (r.script === undefined) expect(r.diagnostics.length).toBeGreaterThan(0);
  for (const d of r.diagnostics) {
    if (d.message.startsWith('internal parser error')) throw new Error(`${d.message}\nin: ${JSON.stringify(source)}`);
    if (!(d.loc.line >= 1 && d.loc.col >= 1 && d.loc.offset >= 0 && d.loc.offset <= source.length)) {
      throw new Error(`bad location ${JSON.stringify(d.loc)} for "${d.message}" in: ${JSON.stringify(source)}`);
    }
    formatDiagnostic(d, source);
  }
  if (r.script) {
    const walk = (n: unknown): void => {
      if (Array.isArray(n)) return n.forEach(walk);
      if (!n || typeof n !== 'object') return;
      const loc = (n as { loc?: { offset: number; length: number } }).loc;
      if (loc && !(loc.offset >= 0 && loc.length >= 0 && loc.offset + loc.length <= source.length)) {
        throw new Error(`node location ${JSON.stringify(loc)} outside the source: ${JSON.stringify(source)}`);
      }
      Object.values(n).forEach(walk);
    };
    walk(r.script);
  }
}

const corpus = [
  ...oneLiners(),
  ...exampleFiles().map((f) => readFileSync(`${root}examples/${f}`, 'utf8')),
];

describe('parser fuzzing', () => {
  it('survives 2500 random token soups', () => {
    const r = rng(1);
    for (let i = 0; i < 2500; i++) checkResult(soup(r));
  });

  it('survives 4000 mutations of the one-liners and examples', () => {
    const r = rng(2);
    for (let i = 0; i < 4000; i++) {
      let s = pick(r, corpus);
      const rounds = 1 + Math.floor(r() * 4);
      for (let k = 0; k < rounds; k++) s = mutate(r, s);
      checkResult(s);
    }
  });

  it('survives every prefix of an example script', () => {
    const src = readFileSync(`${root}examples/syscall-rate.ktr`, 'utf8');
    for (let i = 0; i <= src.length; i++) checkResult(src.slice(0, i));
  });

  it('survives large inputs: many probes, many bad characters, long lines', () => {
    checkResult('BEGIN { @x = 1; }\n'.repeat(2000));
    checkResult(`BEGIN { ${'`'.repeat(100000)} }`);
    checkResult(`BEGIN { ${'` '.repeat(50000)} }`);
    expect(parse(`BEGIN { $x = ${'1 + '.repeat(20000)}1; }`, 'long.ktr').diagnostics.map((d) => d.message)).toEqual([
      'expression too deep (more than 1024 levels of operators, calls and brackets): split it with variables',
    ]);
    checkResult(`BEGIN { $x = ${'1 + '.repeat(900)}1; }`);
    checkResult('}'.repeat(10000));
    expect(parse('kprobe:a { $x = ; }\n'.repeat(30), 'many.ktr').diagnostics.map((d) => d.message).slice(-1)).toEqual([
      'too many syntax errors: stopped after 20',
    ]);
    checkResult('"'.repeat(10001));
  });

  it('gives the same answer twice', () => {
    const r = rng(3);
    for (let i = 0; i < 200; i++) {
      const s = mutate(r, pick(r, corpus));
      expect(JSON.stringify(parse(s, 'a.ktr'), (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))).toBe(
        JSON.stringify(parse(s, 'a.ktr'), (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)),
      );
    }
  });
});
