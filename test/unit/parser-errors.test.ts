import { describe, expect, it } from 'vitest';
import { formatDiagnostic } from '../../src/frontend/diagnostics.js';
import { parse } from '../../src/frontend/parse.js';
import { allErrors, firstError } from './parser-helpers.js';

describe('syntax errors: message and position', () => {
  it.each([
    ['missing semicolon between statements', 'BEGIN { $x = 1 $y = 2 }', "1:16: expected ';' before '$y'"],
    ['missing semicolon before a block', 'BEGIN { $x = 1 { $y = 2 } }', "1:16: expected ';' before '{'"],
    ['missing operand', 'BEGIN { $x = 1 +; }', "1:17: expected an expression, found ';'"],
    ['= in a condition', 'BEGIN { if (pid = 1) { } }', "1:17: unexpected '=': did you mean '=='?"],
    ['= in a predicate', 'kprobe:f /pid = 1/ { @x = 1; }', "1:15: unexpected '=': did you mean '=='?"],
    ['unterminated string', 'BEGIN { printf("abc); }', '1:16: unterminated string literal'],
    ['unterminated string in an attach point', 'uprobe:"/bin/x:fn { }', '1:8: unterminated string literal'],
    ['bad hex literal', 'BEGIN { $x = 0x; }', "1:14: invalid integer literal '0x'"],
    ['bad octal literal', 'BEGIN {\n  $x = 08;\n}', "2:8: invalid octal literal '08' (digits 8 and 9 are not octal)"],
    ['integer too large', 'BEGIN { @x = 99999999999999999999999; }', "1:14: integer literal '99999999999999999999999' does not fit in 64 bits"],
    ['bad escape', 'BEGIN { $x = "ab\\q"; }', "1:17: invalid escape sequence '\\q'"],
    ['unclosed block at the end', 'BEGIN { @x = 1 } END { @x = 2', "1:30: expected '}' to close the probe block opened at 1:22"],
    ['unclosed predicate', 'kprobe:f /pid == 1 { @x = 1; }', "1:20: expected '/' to close the predicate opened at 1:10, found '{'"],
    ['statement outside a probe', '@x = 1;', "1:1: expected an attach point (like tracepoint:syscalls:sys_enter_openat, kafka:produce or BEGIN), found '@'"],
    ['assignment to a literal', 'BEGIN { 1 = 2; }', "1:9: cannot assign to this expression: only a variable ($name) or a map (@name[keys]) can be assigned with '='"],
    ['unclosed tuple', 'BEGIN { $x = (1, 2; }', "1:19: expected ')', found ';'"],
    ['empty map key', 'BEGIN { print(@x[]); }', "1:18: expected a map key expression, found ']'"],
    ['stray closing brace', 'BEGIN { $x = 1 } }', "1:18: unexpected '}': there is no open block to close"],
    ['unterminated comment', 'BEGIN { /* x }', '1:9: unterminated comment: missing the closing */'],
    ['lone $', 'BEGIN { $ = 1; }', "1:9: '$' must be followed by a variable name ($x), a parameter number ($1) or '#'"],
    ['preprocessor line in a block', 'BEGIN { # hi\n }', "1:9: a '#' preprocessor line is only allowed outside probe blocks"],
    ['two attach points without a comma', 'kprobe:a kprobe:b {}', "1:10: expected '{' to start the probe's action block, found attach point 'kprobe:b'"],
    ['if without braces', 'BEGIN { if ($x) $y = 1; }', "1:17: expected '{' (blocks need braces), found '$y'"],
    ['++ on a literal', 'BEGIN { 3++; }', "1:9: '++' needs a variable ($name) or a map (@name[keys])"],
    ['ternary without :', 'BEGIN { $x = $y ? 1 }', "1:21: expected ':', found '}'"],
    ['for with in', 'BEGIN { for ($x in @m) {} }', "1:17: expected ':' as in 'for ($kv : @map)', found 'in'"],
    ['attach point without a block', 'BEGIN', "1:6: expected '{' to start the probe's action block, found the end of the input"],
    ['invalid character', 'BEGIN { $x = 1 ` 2; }', "1:16: invalid character '`'"],
    ['non-ASCII character', 'BEGIN { $x = 1 \u{1F600} 2; }', "1:16: invalid character '\u{1F600}'"],
    ['missing )', 'BEGIN { printf("%d", 1; }', "1:23: expected ')', found ';'"],
    ['bad tuple index', 'BEGIN { $t = (1, 2); $x = $t.0x1; }', "1:30: invalid tuple index '0x1'"],
    ['floating-point literal', 'BEGIN { $x = 1.5; }', '1:14: floating-point numbers are not supported: use an integer'],
    ['keyword as a value', 'BEGIN { $x = while; }', "1:14: expected an expression, found 'while'"],
    ['predicate without expression', 'kprobe:f / / { }', "1:12: expected an expression, found '/'"],
  ])('%s', (_name, source, expected) => {
    expect(firstError(source)).toBe(expected);
  });

  it('says where an unclosed probe block began when the next probe starts', () => {
    const src = 'BEGIN {\n  @x = 1\n\nEND {\n  @y = 2;\n}\n';
    expect(allErrors(src)).toEqual(["4:1: expected '}' to close the probe block opened at 1:7"]);
  });

  it('names the innermost unclosed block', () => {
    const src = 'BEGIN {\n  if (1) {\n    @x = 1;\nkprobe:f { }\n';
    expect(allErrors(src)).toEqual(["4:1: expected '}' to close the block opened at 2:10"]);
  });

  it('reports an error in every probe block', () => {
    const src = [
      'BEGIN { $x = 1; }',
      'kprobe:a { $y = +; }',
      'kprobe:b { @z[1 = 2; }',
      'kprobe:c /pid = 3/ { }',
      'kprobe:d { printf("x\\y"); }',
    ].join('\n');
    expect(allErrors(src)).toEqual([
      "2:17: expected an expression, found '+'",
      "3:17: unexpected '=': did you mean '=='?",
      "4:15: unexpected '=': did you mean '=='?",
      "5:21: invalid escape sequence '\\y'",
    ]);
  });

  it('keeps reading after an unclosed block to report later errors', () => {
    const src = 'BEGIN {\n  @x = 1\n\nEND {\n  @y = 2;\n}\nkprobe:f { $x = ; }';
    expect(allErrors(src)).toEqual([
      "4:1: expected '}' to close the probe block opened at 1:7",
      "7:17: expected an expression, found ';'",
    ]);
  });

  it('reports errors in separate statements of one block, but not their echoes', () => {
    expect(allErrors('BEGIN { $x = ; $y = ; $z = 1 }')).toEqual([
      "1:14: expected an expression, found ';'",
      "1:21: expected an expression, found ';'",
    ]);
    expect(allErrors('BEGIN { $x = (1, 2; $y = 3 +; $z = 08; }')).toEqual([
      "1:19: expected ')', found ';'",
      "1:29: expected an expression, found ';'",
      "1:36: invalid octal literal '08' (digits 8 and 9 are not octal)",
    ]);
    expect(allErrors('BEGIN { for ($x in @m) {} $a = 1; }')).toEqual(["1:17: expected ':' as in 'for ($kv : @map)', found 'in'"]);
    expect(allErrors('BEGIN { if (pid = 1) { } $y = 1; }')).toEqual(["1:17: unexpected '=': did you mean '=='?"]);
  });

  it('reports each missing semicolon of a block', () => {
    expect(allErrors('BEGIN { $a = 1 $b = 2 $c = 3 }')).toEqual([
      "1:16: expected ';' before '$b'",
      "1:23: expected ';' before '$c'",
    ]);
  });

  it('does not pile parser errors on top of a lexical error', () => {
    expect(allErrors('BEGIN { printf("abc); }\nEND { $x = 1 + ; }')).toEqual([
      '1:16: unterminated string literal',
      "2:16: expected an expression, found ';'",
    ]);
  });

  it('refuses absurd nesting with a message, not a crash', () => {
    const deep = `BEGIN { $x = ${'('.repeat(5000)}1${')'.repeat(5000)}; }`;
    expect(firstError(deep)).toBe('1:113: brackets nested too deeply (more than 100 levels)');
    const unary = `BEGIN { $x = ${'!'.repeat(50000)}1; }`;
    expect(firstError(unary)).toBe('1:114: operators nested too deeply (more than 100 prefix operators in a row)');
    expect(parse('BEGIN { $x = !!1; }', 'after.ktr').script).toBeDefined();
  });

  it('formats with file, line, column and a caret', () => {
    const src = 'BEGIN {\n  if ($x = 1) { }\n}';
    const r = parse(src, 'demo.ktr');
    expect(formatDiagnostic(r.diagnostics[0]!, src)).toBe(
      "demo.ktr:2:10: ERROR: unexpected '=': did you mean '=='?\n  if ($x = 1) { }\n         ^",
    );
  });
});
