// system() records: bpftrace runs the formatted command through the shell, synchronously, with its
// output going straight to kafkatrace's standard output.
import { spawnSync } from 'node:child_process';
import { formatPrintf } from './format/printf.js';
import { valueText, type RenderContext } from './format/value.js';
import type { Value } from './values.js';

/** The command line a system() record asks for (its format applied to its arguments). */
export function systemCommand(format: string, args: Value[], ctx: RenderContext): string {
  return formatPrintf(format, args, (v) => valueText(v, ctx));
}

/** Runs the command with /bin/sh, as system(3) does; returns a message when it could not run. */
export function runSystem(command: string): string | undefined {
  const r = spawnSync('/bin/sh', ['-c', command], { stdio: ['ignore', 'inherit', 'inherit'] });
  return r.error ? `system("${command}") failed: ${r.error.message}` : undefined;
}
