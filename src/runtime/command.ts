// The -c command: split like a shell would split it (quotes and backslashes, no expansion), started
// held back until the probes are attached, so that its very first syscalls are traced, and never
// left running after kafkatrace.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { KtError } from '../errors.js';
import { findOnPath, isExecutableFile } from '../executables.js';
import { HELD_PATH } from '../native/index.js';
import { packageRoot } from '../package-root.js';

/**
 * Splits `CMD ARGS` into words as bpftrace does: at spaces, every other character (quotes, backslashes)
 * kept as written, since no shell reads it. Runs of spaces separate one word from the next.
 */
export function splitCommand(text: string): string[] {
  const words = text.split(' ').filter((w) => w !== '');
  if (words.length === 0) throw new KtError('bad-command', 'the command to run (-c) is empty');
  return words;
}

/** The program a command name runs: as given when it holds a '/', else found on PATH. */
export function resolveProgram(name: string, path = process.env.PATH ?? '/usr/bin:/bin'): string {
  if (name.includes('/')) {
    if (!isExecutableFile(name)) throw new KtError('bad-command', `cannot run '${name}': not an executable file`);
    return name;
  }
  const found = findOnPath(name, path);
  if (found === undefined) throw new KtError('bad-command', `command not found: ${name}`);
  return found;
}

export interface HeldCommand {
  /** The pid the command will have (the helper execs it in place). */
  pid: number;
  child: ChildProcess;
  /** Settles once the helper has started and waits (or has ended): its own start-up syscalls are
   * then over, so that tracing sees only the command's. */
  ready: Promise<void>;
  /** Lets the command start. */
  release(): void;
}

/**
 * Starts `words` held back in kafkatrace-held (src/native/kt_held.c), which execs the command in
 * place once released: the command gets the helper's pid, and the kernel kills it if kafkatrace dies
 * first, however it dies. The helper says it is ready on fd 3 and blocks there.
 */
export function spawnHeld(words: string[]): HeldCommand {
  const program = resolveProgram(words[0]!);
  const helper = join(packageRoot(), HELD_PATH);
  if (!isExecutableFile(helper)) throw new KtError('native-unavailable', `${HELD_PATH} is not built: run \`npm rebuild\``);
  const child = spawn(helper, [program, ...words.slice(1)], {
    argv0: 'kafkatrace-held',
    stdio: ['inherit', 'inherit', 'inherit', 'pipe'],
  });
  if (child.pid === undefined) throw new KtError('bad-command', `cannot start '${words[0]}'`);
  const gate = child.stdio[3] as Duplex;
  // The helper may exit before reading (killed): a broken pipe is then expected, not an error.
  gate.on('error', () => {});
  const ready = new Promise<void>((resolve) => {
    gate.once('data', () => resolve());
    child.once('exit', () => resolve());
  });
  return {
    pid: child.pid,
    child,
    ready,
    release: () => {
      gate.end('\n');
    },
  };
}

/**
 * Ends a command that is still running: SIGTERM, then SIGKILL if it is still there after graceMs
 * (a command may ignore SIGTERM). Resolves once it has exited.
 */
export function endCommand(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
