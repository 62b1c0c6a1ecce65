// The CLI's view of the compile pipeline (src/codegen): a script with errors becomes one KtError
// (diagnostics) whose message is its rendered diagnostics. Loaded lazily: a cached script never needs it.
import { cachePath, compileC } from '../codegen/clang.js';
import { planScript, type CompiledScript } from '../compiler.js';
import { KtError } from '../errors.js';
import type { AnalysisEnv } from '../frontend/index.js';
import { realSystem } from '../frontend/system.js';
import { renderDiagnostics } from './check.js';
import type { ScriptSource } from './source.js';

export function systemEnv(
  positional: string[],
  unsafe: boolean,
  child = false,
  helperChecks: 0 | 1 | 2 = 0,
  target: { pid?: number; tracee?: string; includes?: string[] } = {},
): AnalysisEnv {
  return { positional, unsafe, child, helperChecks, includes: [], ...target, system: realSystem() };
}

export function planSource(src: ScriptSource, env: AnalysisEnv): CompiledScript {
  const r = planScript(src.text, src.file, env);
  if (!r.ok) throw new KtError('diagnostics', renderDiagnostics(r.diagnostics, src.text, 'text'));
  return r.compiled;
}

/** The BPF object for the kernel part, or undefined when everything runs in user space. */
export async function objectFor(compiled: CompiledScript): Promise<Buffer | undefined> {
  return compiled.c ? compileC(compiled.c) : undefined;
}

/** Where the object cache keeps the object of a compiled script. */
export function objectPath(compiled: CompiledScript): Promise<string> {
  return cachePath(compiled.c);
}
