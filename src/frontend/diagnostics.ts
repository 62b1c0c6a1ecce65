// Diagnostics: every user mistake becomes one of these, printed as `file:line:col: error: message`
// with the source line and a caret, never as a stack trace.
import type { Loc } from './ast.js';

export interface Diagnostic {
  severity: 'error' | 'warning';
  message: string;
  file: string;
  loc: Loc;
  /** A "did you mean" or a fix, printed on its own line after the caret. */
  hint?: string;
}

export function error(file: string, loc: Loc, message: string, hint?: string): Diagnostic {
  return { severity: 'error', message, file, loc, hint };
}

/** Renders a diagnostic the way compilers do: location, message, source line, caret. */
export function formatDiagnostic(d: Diagnostic, source: string): string {
  const lines = source.split('\n');
  const text = (lines[d.loc.line - 1] ?? '').replace(/\t/g, ' ');
  const width = Math.max(1, Math.min(d.loc.length, text.length - d.loc.col + 1));
  const caret = ' '.repeat(Math.max(0, d.loc.col - 1)) + '^' + '~'.repeat(width - 1);
  const out = [`${d.file}:${d.loc.line}:${d.loc.col}: ${d.severity}: ${d.message}`, text, caret];
  if (d.hint) out.push(d.hint);
  return out.join('\n');
}

/** Edit distance, for "did you mean" suggestions. */
export function editDistance(a: string, b: string): number {
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
  for (const c of candidates) {
    const d = editDistance(name, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  const limit = Math.max(1, Math.floor(name.length / 3));
  return bestDistance <= limit ? best : undefined;
}
