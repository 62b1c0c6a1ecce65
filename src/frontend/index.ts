// The front end in one call: parse, then analyze (only when parsing succeeded).
import type { Analysis } from './analysis.js';
import { type AnalysisEnv, analyze } from './analyze.js';
import type { Script } from './ast.js';
import type { Diagnostic } from './diagnostics.js';
import { parse } from './parse.js';

export type { AnalysisEnv } from './analyze.js';

export function frontend(
  source: string,
  file: string,
  env: AnalysisEnv,
): { script?: Script; analysis?: Analysis; diagnostics: Diagnostic[] } {
  const parsed = parse(source, file);
  if (!parsed.script || parsed.diagnostics.some((d) => d.severity === 'error')) {
    return { script: parsed.script, diagnostics: parsed.diagnostics };
  }
  const { analysis, diagnostics } = analyze(parsed.script, env);
  return { script: parsed.script, analysis, diagnostics: [...parsed.diagnostics, ...diagnostics] };
}
