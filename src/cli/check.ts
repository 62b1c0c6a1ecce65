// `kafkatrace check`: the front end, the plan and the C of each script (no clang, no root); what a
// CI job runs.
import { planScript } from '../compiler.js';
import type { Diagnostic } from '../frontend/diagnostics.js';
import { formatDiagnostic } from '../frontend/diagnostics.js';
import type { SystemInfo } from '../frontend/system.js';
import type { ScriptSource } from './source.js';

/** GitHub Actions workflow commands escape these characters in data and properties. */
function escapeData(s: string): string {
  return s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

function escapeProperty(s: string): string {
  return escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

export function githubAnnotation(d: Diagnostic): string {
  const props = [
    `file=${escapeProperty(d.file)}`,
    `line=${d.loc.line}`,
    `col=${d.loc.col}`,
    `endColumn=${d.loc.col + Math.max(1, d.loc.length)}`,
  ].join(',');
  const message = d.hint ? `${d.message}\n${d.hint}` : d.message;
  return `::${d.severity} ${props}::${escapeData(message)}`;
}

export function renderDiagnostics(diagnostics: Diagnostic[], source: string, format: 'text' | 'github'): string {
  return diagnostics
    .map((d) => (format === 'github' ? githubAnnotation(d) : formatDiagnostic(d, source)))
    .join('\n');
}

interface CheckOptions {
  format: 'text' | 'github';
  positional: string[];
  unsafe: boolean;
  system: SystemInfo;
  /** --include: headers included before each script's C. */
  includes?: string[];
}

/** Checks each script; prints diagnostics to `write`; returns how many scripts had errors. */
export function checkScripts(sources: ScriptSource[], opts: CheckOptions, write: (s: string) => void): number {
  let failed = 0;
  for (const src of sources) {
    // The plan and the C as well (without clang): the scratch space a probe needs is known only there.
    const result = planScript(src.text, src.file, { positional: opts.positional, unsafe: opts.unsafe, includes: opts.includes, system: opts.system });
    if (result.diagnostics.length > 0) write(renderDiagnostics(result.diagnostics, src.text, opts.format) + '\n');
    if (result.diagnostics.some((d) => d.severity === 'error')) failed++;
  }
  return failed;
}
