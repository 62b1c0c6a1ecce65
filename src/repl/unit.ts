// A REPL block compiles as one script together with the blocks that declare the live maps it uses
// (so that `print(@c)` knows @c's type). Diagnostics are then moved back to the block's own lines.
import type { Loc } from '../frontend/ast.js';
import { formatDiagnostic, type Diagnostic } from '../frontend/diagnostics.js';

export const REPL_FILE = 'repl';

export interface CompileUnit {
  /** The whole script: the declaring blocks, then the new block. */
  source: string;
  /** Lines before the new block. */
  prefixLines: number;
  /** Where each declaring block starts (line, from 1) in the source, by block number. */
  declaring: { block: number; firstLine: number; lines: number; text: string }[];
}

/** Map names that the text mentions (`@` alone is the anonymous map). */
export function mentionedMaps(text: string): Set<string> {
  return new Set(text.match(/@\w*/g) ?? []);
}

export function composeUnit(text: string, declaring: { block: number; text: string }[]): CompileUnit {
  let line = 1;
  const parts = declaring.map((d) => {
    const body = d.text.replace(/\n*$/, '\n');
    const lines = body.split('\n').length - 1;
    const entry = { block: d.block, firstLine: line, lines, text: body };
    line += lines;
    return entry;
  });
  return { source: parts.map((p) => p.text).join('') + text, prefixLines: line - 1, declaring: parts };
}

function blockAt(unit: CompileUnit, line: number) {
  return unit.declaring.find((d) => line >= d.firstLine && line < d.firstLine + d.lines);
}

/** Rewrites `at L:C` in a message when L is in a declaring block: `at 2:5 of block N`. */
function relocateMessage(message: string, unit: CompileUnit): string {
  return message.replace(/\bat (\d+):(\d+)/g, (whole, l: string, c: string) => {
    const line = Number(l);
    const d = blockAt(unit, line);
    if (d) return `at ${line - d.firstLine + 1}:${c} of block ${d.block}`;
    return line > unit.prefixLines ? `at ${line - unit.prefixLines}:${c}` : whole;
  });
}

/** Renders the unit's diagnostics against the block the user typed (or the declaring block they are in). */
export function renderUnitDiagnostics(diagnostics: Diagnostic[], unit: CompileUnit, text: string): string {
  return diagnostics
    .map((d) => {
      const message = relocateMessage(d.message, unit);
      if (d.loc.line > unit.prefixLines) {
        const loc: Loc = { ...d.loc, line: d.loc.line - unit.prefixLines };
        return formatDiagnostic({ ...d, message, file: REPL_FILE, loc }, text);
      }
      const decl = blockAt(unit, d.loc.line);
      if (!decl) return formatDiagnostic({ ...d, message, file: REPL_FILE }, unit.source);
      const loc: Loc = { ...d.loc, line: d.loc.line - decl.firstLine + 1 };
      return formatDiagnostic({ ...d, message, file: `${REPL_FILE} (block ${decl.block})`, loc }, decl.text);
    })
    .join('\n');
}

/** The first place the block mentions a map, for a diagnostic about that map. */
export function mapLoc(text: string, name: string): Loc {
  const re = new RegExp(`${name.replace(/[$]/g, '\\$&')}(?!\\w)`);
  const m = re.exec(text);
  const offset = m?.index ?? 0;
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, col: before[before.length - 1]!.length + 1, offset, length: m ? name.length : 1 };
}
