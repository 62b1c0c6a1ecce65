// Source locations of tokens and of the nodes built from them.
import type { IToken } from 'chevrotain';
import type { Loc } from './ast.js';

export function tokenLoc(t: IToken): Loc {
  return { line: t.startLine ?? 0, col: t.startColumn ?? 0, offset: t.startOffset, length: (t.endOffset ?? t.startOffset) - t.startOffset + 1 };
}

/** From the start of `from` to the end of `to`. */
export function span(from: Loc, to: Loc): Loc {
  return { line: from.line, col: from.col, offset: from.offset, length: to.offset + to.length - from.offset };
}

/** The location of `offset` in `source` (line and column from 1), `length` wide. */
export function locAt(source: string, offset: number, length: number): Loc {
  let line = 1;
  let lineStart = 0;
  for (let i = source.indexOf('\n'); i !== -1 && i < offset; i = source.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, col: offset - lineStart + 1, offset, length };
}
