// system() records: bpftrace runs the formatted command through the shell, synchronously, and prints
// what it writes to its standard output as its own output (a `syscall` record in JSON, into -o FILE).
import { spawnSync } from 'node:child_process';
import { formatPrintf } from './format/printf.js';
import { valueText, type RenderContext } from './format/value.js';
import type { Value } from './values.js';

/** The command line a system() record asks for (its format applied to its arguments). */
export function systemCommand(format: string, args: Value[], ctx: RenderContext): string {
  return formatPrintf(format, args, (v) => valueText(v, ctx));
}

/** Runs the command with /bin/sh, as popen(3) does: its standard output, or why it could not run. */
export function runSystem(command: string): { ok: true; output: string } | { ok: false; error: string } {
  const r = spawnSync('/bin/sh', ['-c', command], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: SYSTEM_OUTPUT_MAX });
  if (r.error && !r.stdout) return { ok: false, error: `system("${command}") failed: ${r.error.message}` };
  return { ok: true, output: r.stdout };
}

/** Bytes of a command's output kept at most; a command that writes more is cut there (and stopped). */
const SYSTEM_OUTPUT_MAX = 64 << 20;
