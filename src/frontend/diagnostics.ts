// Diagnostics: every user mistake becomes one of these, printed as `file:line:col: ERROR: message`
// (bpftrace's word for it) with the source line and a caret, never as a stack trace.
import type { Loc } from './ast.js';

export interface Diagnostic {
  severity: 'error' | 'warning';
  message: string;
  file: string;
  loc: Loc;
  /** A "did you mean" or a fix, printed on its own line after the caret. */
  hint?: string;
  /** The severity as the tool that found it words it (clang's `error`), else bpftrace's (`ERROR`). */
  word?: string;
}

export function error(file: string, loc: Loc, message: string, hint?: string): Diagnostic {
  return { severity: 'error', message, file, loc, hint };
}

/** Characters of a source line shown at most: a longer line is cut to a window around the caret. */
export const MAX_SHOWN_LINE = 160;

/** Line `line` (from 1) of `source`, found without splitting the whole source. */
function lineAt(source: string, line: number): string {
  let start = 0;
  for (let n = 1; n < line; n++) {
    const nl = source.indexOf('\n', start);
    if (nl < 0) return '';
    start = nl + 1;
  }
  const end = source.indexOf('\n', start);
  return source.slice(start, end < 0 ? source.length : end);
}

/**
 * Renders a diagnostic the way compilers do: location, message, source line, caret; the severity in
 * bpftrace's words (ERROR, WARNING), which scripts and tests written for bpftrace look for.
 */
export function formatDiagnostic(d: Diagnostic, source: string): string {
  const line = lineAt(source, d.loc.line).replace(/\t/g, ' ');
  // A long line is shown from `from` to `to`, with '...' where it was cut.
  const from = line.length <= MAX_SHOWN_LINE ? 0 : Math.max(0, Math.min(d.loc.col - 1 - MAX_SHOWN_LINE / 2, line.length - MAX_SHOWN_LINE));
  const to = Math.min(line.length, from + MAX_SHOWN_LINE);
  const before = from > 0 ? '...' : '';
  const text = before + line.slice(from, to) + (to < line.length ? '...' : '');
  const col = d.loc.col - from + before.length;
  const width = Math.max(1, Math.min(d.loc.length, before.length + to - from - col + 1));
  const caret = ' '.repeat(Math.max(0, col - 1)) + '^' + '~'.repeat(width - 1);
  const out = [`${d.file}:${d.loc.line}:${d.loc.col}: ${d.word ?? d.severity.toUpperCase()}: ${d.message}`, text, caret];
  if (d.hint) out.push(d.hint);
  return out.join('\n');
}

/** Edit distance, for "did you mean" suggestions. */
function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

/** The closest candidate to `name`, if one is near enough to be a likely typo. */
export function didYouMean(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  const limit = Math.max(1, Math.floor(name.length / 3));
  for (const c of candidates) {
    // Lengths further apart than the limit are at least that far apart: the distance (quadratic
    // in the lengths) is computed only for names of about the same length.
    if (Math.abs(c.length - name.length) > limit) continue;
    const d = editDistance(name, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return bestDistance <= limit ? best : undefined;
}
