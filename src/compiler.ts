// The whole compile pipeline: script text → front end → plan → C → BPF object.
import { compileC, type CompileOptions } from './codegen/clang.js';
import { CodegenError } from './codegen/errors.js';
import { generateC } from './codegen/generate.js';
import type { Analysis } from './frontend/analysis.js';
import type { Script } from './frontend/ast.js';
import { error, type Diagnostic } from './frontend/diagnostics.js';
import { frontend, type AnalysisEnv } from './frontend/index.js';
import { buildPlan } from './plan/build.js';
import type { Plan } from './plan/types.js';

export interface CompiledScript {
  script: Script;
  analysis: Analysis;
  plan: Plan;
  /** The generated C (empty when no probe runs in the kernel). */
  c: string;
  /** The BPF object; undefined when no probe runs in the kernel (kafka-only scripts). */
  object?: Buffer;
}

export type CompileResult = { ok: true; compiled: CompiledScript; diagnostics: Diagnostic[] } | { ok: false; diagnostics: Diagnostic[] };

/** Front end, plan and C, without clang: what `-d c` prints and what compileScript compiles. */
export function planScript(source: string, file: string, env: AnalysisEnv): CompileResult {
  const fe = frontend(source, file, env);
  if (!fe.script || !fe.analysis || fe.diagnostics.some((d) => d.severity === 'error')) {
    return { ok: false, diagnostics: fe.diagnostics };
  }
  const plan = buildPlan(fe.script, fe.analysis, file, env.helperChecks ?? 0);
  const hasKernel = plan.probes.some((p) => p.where === 'kernel');
  let c = '';
  try {
    if (hasKernel) c = generateC(plan, fe.script, fe.analysis);
  } catch (e) {
    if (e instanceof CodegenError) return { ok: false, diagnostics: [...fe.diagnostics, error(file, e.loc, e.message)] };
    throw e;
  }
  return { ok: true, compiled: { script: fe.script, analysis: fe.analysis, plan, c }, diagnostics: fe.diagnostics };
}

/**
 * Compiles a script to its plan and BPF object. User mistakes come back as diagnostics; a missing
 * toolchain or generated C that clang rejects throws a KtError (toolchain-missing, c-compile).
 */
export async function compileScript(source: string, file: string, env: AnalysisEnv, opts: CompileOptions = {}): Promise<CompileResult> {
  const r = planScript(source, file, env);
  if (!r.ok || r.compiled.c === '') return r;
  const object = await compileC(r.compiled.c, opts);
  return { ...r, compiled: { ...r.compiled, object } };
}
