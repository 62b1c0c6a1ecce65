// grammar/tokens.ts declares, for every token it builds from a regular expression, whether it can span
// lines and which characters it can start with, so that chevrotain need not work that out at start-up.
// This checks the declarations: the lexer must give the same tokens, at the same lines and columns, as
// a lexer over the same patterns that works both out itself.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lexer, type IToken, type TokenType } from 'chevrotain';
import { describe, expect, it } from 'vitest';
import { tokenize } from '../../grammar/lexer.js';
import { lexerDefinition, StringLit } from '../../grammar/tokens.js';
import { oneLiners, root } from './parser-helpers.js';

type Definition = typeof lexerDefinition;

/**
 * The lexer definition with copies of its token types that declare neither hint. A string keeps its
 * line breaks: chevrotain's analysis takes `[^"\\\n]` for a set without line terminators, but it
 * matches a carriage return, which counts as one everywhere else (tested below).
 */
function undeclared(def: Definition): Definition {
  const copies = new Map<TokenType, TokenType>();
  const copy = (t: TokenType): TokenType => {
    let c = copies.get(t);
    if (!c) {
      const { LINE_BREAKS: lines, START_CHARS_HINT: _start, ...rest } = t as TokenType & { LINE_BREAKS?: boolean; START_CHARS_HINT?: unknown };
      c = (t === StringLit ? { ...rest, LINE_BREAKS: lines } : rest) as TokenType;
      copies.set(t, c);
      if (t.LONGER_ALT) c.LONGER_ALT = Array.isArray(t.LONGER_ALT) ? t.LONGER_ALT.map(copy) : copy(t.LONGER_ALT);
    }
    return c;
  };
  const modes: Record<string, TokenType[]> = {};
  for (const [name, types] of Object.entries(def.modes)) modes[name] = types.map(copy);
  return { defaultMode: def.defaultMode, modes } as Definition;
}

const reference = new Lexer(undeclared(lexerDefinition), { positionTracking: 'full' });
const unoptimized = new Lexer(undeclared(lexerDefinition), { positionTracking: 'full', safeMode: true });

const view = (t: IToken) => [t.tokenType.name, t.image, t.startOffset, t.startLine, t.startColumn, t.endLine, t.endColumn].join(' ');

function lexedAlike(source: string): void {
  const ours = tokenize(source);
  const expected = reference.tokenize(source);
  expect(ours.tokens.map(view)).toEqual(expected.tokens.map(view));
  expect(ours.errors.map((e) => `${e.line}:${e.column} ${e.message}`)).toEqual(expected.errors.map((e) => `${e.line}:${e.column} ${e.message}`));
  expect(ours.tokens.map(view)).toEqual(unoptimized.tokenize(source).tokens.map(view));
}

function scripts(): string[] {
  const dirs = ['examples', 'stdlib'].map((d) => join(root, d));
  return [
    ...dirs.flatMap((d) => readdirSync(d).filter((f) => f.endsWith('.ktr')).map((f) => readFileSync(join(d, f), 'utf8'))),
    ...oneLiners(),
  ];
}

/** A deterministic pseudo-random source built from pieces that exercise every token and mode. */
function fuzzSource(seed: number): string {
  const pieces = [
    'BEGIN', 'kprobe:f', 'tracepoint:a:b', ' ', '\t', '\n', '\r\n', '\r', '\f', '\v', '\uFEFF', '{', '}', '/', '//c\n', '/* a\nb */',
    '/*', '#include <x>\n', '#define A \\\n 1\n', 'struct s { int a; };', '"s"', '"a\\"\r"', '"open', '$x', '$1', '$#', '@m', '@', '12ab',
    '0x1F', 'if', 'iff', 'else', '->', '<<=', '>>', '<=', '==', '!=', '&&', '||', '?', ':', ';', '.', '(', ')', '[', ']', ',', 'é', '😀',
    '\u2028', '\uD800', '`', '\\', 'pid', '_x9', '==/ {', '/ ', '/*x*/{',
  ];
  let s = seed;
  let out = '';
  for (let i = 0; i < 60; i++) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    out += pieces[s % pieces.length];
  }
  return out;
}

describe('the lexer’s declared line breaks and start characters', () => {
  it('lex every example, standard tool and one-liner as chevrotain’s own analysis does', () => {
    const all = scripts();
    expect(all.length).toBeGreaterThan(80);
    for (const source of all) lexedAlike(source);
  });

  it('lex 2,000 generated sources, across lines and modes, as chevrotain’s own analysis does', () => {
    for (let seed = 1; seed <= 2000; seed++) lexedAlike(fuzzSource(seed));
  });

  it('count a carriage return inside a string as a line break, as between tokens', () => {
    const tokens = tokenize('BEGIN { $s = "a\rb"; $t = 1; }').tokens;
    expect(tokens.find((t) => t.image === '$t')).toMatchObject({ startLine: 2, startColumn: 5 });
    expect(tokenize('BEGIN { $s = "ab";\r$t = 1; }').tokens.find((t) => t.image === '$t')).toMatchObject({ startLine: 2, startColumn: 1 });
  });

  it('leave the predicate and body modes indexed by first character', () => {
    const built = new Lexer(lexerDefinition, { positionTracking: 'full', skipValidations: true }) as Lexer & { canModeBeOptimized: Record<string, boolean> };
    expect(built.canModeBeOptimized).toEqual({ top: false, pred: true, body: true });
  });
});
