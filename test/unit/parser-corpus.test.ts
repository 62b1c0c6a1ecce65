import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { grammarDiagramHtml } from '../../grammar/diagram.js';
import { validateLexer } from '../../grammar/lexer.js';
import { ParserMessages } from '../../grammar/messages.js';
import { KtParser } from '../../grammar/parser.js';
import { formatDiagnostic } from '../../src/frontend/diagnostics.js';
import { parse } from '../../src/frontend/parse.js';
import { formatAst } from '../../src/frontend/print-ast.js';
import { exampleFiles, oneLiners, parseOk, root } from './parser-helpers.js';


function mustParse(source: string, file: string): void {
  const r = parse(source, file);
  expect(r.diagnostics.map((d) => formatDiagnostic(d, source))).toEqual([]);
  expect(r.script!.probes.length).toBeGreaterThan(0);
}

describe('the grammar definition', () => {
  it('passes chevrotain’s lexer and parser validations', () => {
    expect(validateLexer()).toEqual([]);
    expect(() => new KtParser(new ParserMessages(), true)).not.toThrow();
  });

  it('draws a railroad diagram of every rule, with local resources', () => {
    const html = grammarDiagramHtml();
    for (const rule of ['probe', 'block', 'statements', 'expression', 'ternary', 'unary', 'postfix', 'primary']) {
      expect(html).toContain(`"name": "${rule}"`);
    }
    expect(html).toMatch(/src='file:\/\/\/.*chevrotain\/diagrams\/vendor\/railroad-diagrams.js'/);
  });
});

describe('bpftrace one-liners', () => {
  const lines = oneLiners();
  it('has at least 60 of them', () => {
    expect(lines.length).toBeGreaterThanOrEqual(60);
  });
  it.each(lines)('%s', (line) => mustParse(line, 'oneliner.ktr'));
});

describe('examples', () => {
  const files = exampleFiles();
  it('has about a dozen, each starting with a comment saying what it shows', () => {
    expect(files.length).toBeGreaterThanOrEqual(12);
    for (const f of files) expect(readFileSync(`${root}examples/${f}`, 'utf8')).toMatch(/^\/\/ \S.{20,}/);
  });
  it.each(files)('%s', (f) => mustParse(readFileSync(`${root}examples/${f}`, 'utf8'), f));
});

describe('formatAst', () => {
  it('prints one node per line, children one space deeper', () => {
    const s = parseOk(
      '#include <linux/sched.h>\nBEGIN, kprobe:f /pid == 1/ { @x[comm, 2] = count(); $t = (1, "a\\n"); if (!$t.0) { $y++ } else { return } }\n' +
        'i:s:1 { printf("%d\\n", (uint32)args->ret ? -1 : 0); while ($i < 3) { $i += 1; break } unroll(2) { continue } for ($kv : @x) { print($kv) } }',
    );
    expect(formatAst(s)).toBe(
      [
        'Program',
        ' preamble: #include <linux/sched.h>',
        ' BEGIN',
        ' kprobe:f',
        '  pred',
        '   ==',
        '    builtin: pid',
        '    int: 1',
        '  =',
        '   map: @x',
        '    builtin: comm',
        '    int: 2',
        '   call: count',
        '  =',
        '   variable: $t',
        '   tuple:',
        '    int: 1',
        '    string: a\\n',
        '  if',
        '   !',
        '    .',
        '     variable: $t',
        '     0',
        '   then',
        '    ++ (postfix)',
        '     variable: $y',
        '   else',
        '    return',
        ' i:s:1',
        '  call: printf',
        '   string: %d\\n',
        '   ?:',
        '    (uint32)',
        '     ->',
        '      builtin: args',
        '      ret',
        '    -',
        '     int: 1',
        '    int: 0',
        '  while',
        '   <',
        '    variable: $i',
        '    int: 3',
        '   do',
        '    +=',
        '     variable: $i',
        '     int: 1',
        '    break',
        '  unroll',
        '   int: 2',
        '   do',
        '    continue',
        '  for',
        '   variable: $kv',
        '   map: @x',
        '   do',
        '    call: print',
        '     variable: $kv',
      ].join('\n'),
    );
  });

  it('shows types once analysis has set them', () => {
    const s = parseOk('BEGIN { @x = comm; }');
    const stmt = s.probes[0]!.body[0]!;
    if (stmt.kind !== 'mapAssign') throw new Error(stmt.kind);
    stmt.value.type = { kind: 'str', size: 16 };
    stmt.target.type = { kind: 'int', bits: 32, signed: false };
    expect(formatAst(s)).toContain('   map: @x :: uint32\n   builtin: comm :: string[16]');
  });
});

describe('agreement with bpftrace 0.17', () => {
  const dir = `${root}test/fixtures/oneliners/bpftrace-ast`;
  const scripts = readFileSync(`${dir}/scripts.txt`, 'utf8').split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  it.each(scripts.map((s, i) => [i + 1, s] as const))('script %i has the parse tree bpftrace printed', (n, script) => {
    expect(formatAst(parseOk(script))).toBe(readFileSync(`${dir}/${n}.txt`, 'utf8').trimEnd());
  });
});

describe('speed', () => {
  it('parses all the one-liners and examples quickly once warm', () => {
    const sources = [...oneLiners(), ...exampleFiles().map((f) => readFileSync(`${root}examples/${f}`, 'utf8'))];
    for (const s of sources) parse(s, 'warm.ktr');
    const start = performance.now();
    for (const s of sources) parse(s, 'x.ktr');
    const perScript = (performance.now() - start) / sources.length;
    // A few hundred microseconds per script on an idle machine; the bound leaves room for a busy one.
    expect(perScript).toBeLessThan(20);
  });
});
