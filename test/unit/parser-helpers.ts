// Helpers shared by the parser tests.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { Expr, Script, Stmt } from '../../src/frontend/ast.js';
import { parse } from '../../src/frontend/parse.js';

/** Parses a script that must have no syntax errors. */
export function parseOk(source: string): Script {
  const r = parse(source, 'test.ktr');
  expect(r.diagnostics.map((d) => `${d.loc.line}:${d.loc.col}: ${d.message}`)).toEqual([]);
  expect(r.script).toBeDefined();
  return r.script!;
}

/** The statements of the first probe of `source`. */
export function bodyOf(source: string): Stmt[] {
  return parseOk(source).probes[0]!.body;
}

/** The expression `e` as parsed from `BEGIN { $x = e; }`. */
export function exprOf(e: string): Expr {
  const [s] = bodyOf(`BEGIN { $x = ${e}; }`);
  if (s?.kind !== 'assign') throw new Error(`not an assignment: ${JSON.stringify(s)}`);
  return s.value;
}

/** A copy of an AST node without `loc`, for comparing shapes. */
export function shape(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(shape);
  if (node && typeof node === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) if (k !== 'loc') out[k] = shape(v);
    return out;
  }
  return node;
}

/** The first diagnostic of a script that must fail, as `line:col: message`. */
export function firstError(source: string): string {
  const r = parse(source, 'test.ktr');
  expect(r.script).toBeUndefined();
  const d = r.diagnostics[0]!;
  return `${d.loc.line}:${d.loc.col}: ${d.message}`;
}

/** All diagnostics of a script that must fail, as `line:col: message`. */
export function allErrors(source: string): string[] {
  const r = parse(source, 'test.ktr');
  expect(r.script).toBeUndefined();
  return r.diagnostics.map((d) => `${d.loc.line}:${d.loc.col}: ${d.message}`);
}

/** The repository root, ending in `/`. */
export const root = fileURLToPath(new URL('../../', import.meta.url));

/** The bpftrace one-liners of test/fixtures/oneliners/bpftrace.txt. */
export function oneLiners(): string[] {
  return readFileSync(`${root}test/fixtures/oneliners/bpftrace.txt`, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'));
}

/** The file names of examples/*.ktr. */
export function exampleFiles(): string[] {
  return readdirSync(`${root}examples`).filter((f) => f.endsWith('.ktr')).sort();
}
