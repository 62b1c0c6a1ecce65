// Running a script: `kafkatrace FILE`, `-e`, `run NAME`. `-d` stops after the stage it names.
import { closeSync, openSync, writeSync } from 'node:fs';
import { realSystem } from '../frontend/system.js';
import { formatAst } from '../frontend/print-ast.js';
import { planToJson } from '../plan/json.js';
import { createOutput } from '../runtime/output.js';
import { runSession } from '../runtime/session.js';
import type { CliOptions } from './args.js';
import { objectFor, planSource } from './pipeline.js';
import type { ScriptSource } from './source.js';

export class NotRunnableError extends Error {}

export async function trace(src: ScriptSource, opts: CliOptions): Promise<number> {
  const pipeline = { positional: opts.positional, unsafe: opts.unsafe, system: realSystem() };
  if (opts.debug === 'ast') {
    process.stdout.write(formatAst(planSource(src, pipeline).script) + '\n');
    return 0;
  }
  const compiled = planSource(src, pipeline);
  if (opts.debug === 'plan') {
    process.stdout.write(planToJson(compiled.plan, 2) + '\n');
    return 0;
  }
  if (opts.debug === 'c') {
    process.stdout.write(compiled.c);
    return 0;
  }
  const userProbes = compiled.plan.probes.filter((p) => p.where === 'user');
  if (userProbes.length > 0) {
    throw new NotRunnableError(`kafka probes cannot run yet: this build decodes Kafka traffic but does not attach the capture (${userProbes.map((p) => p.text).join(', ')}); 'kafkatrace check' and 'compile' accept them`);
  }
  const object = await objectFor(compiled);
  const fd = opts.outputFile !== undefined ? openSync(opts.outputFile, 'w') : undefined;
  const write = fd !== undefined ? (s: string) => void writeSync(fd, s) : (s: string) => void process.stdout.write(s);
  try {
    return await runSession(compiled.plan, object!, {
      output: (stackLookup) => createOutput({ format: opts.format === 'json' ? 'json' : 'text', write, stackLookup }),
      pid: opts.pid,
      command: opts.command_,
      durationMs: opts.durationMs,
    });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
