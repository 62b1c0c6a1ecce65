// The -c command: split like a shell would split it (quotes and backslashes, no expansion), started
// held back until the probes are attached, so that its very first syscalls are traced.
import { spawn, type ChildProcess } from 'node:child_process';
import { findOnPath, isExecutableFile } from '../executables.js';
import type { Duplex } from 'node:stream';

export class CommandError extends Error {}

/** Splits `CMD ARGS` into words: '...' is literal, "..." allows \" \\ \$ \`, a backslash escapes outside. */
export function splitCommand(text: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new CommandError(`unterminated ' in command: ${text}`);
      word += text.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < text.length && text[j] !== '"'; j++) {
        if (text[j] === '\\' && j + 1 < text.length && '"\\$`'.includes(text[j + 1]!)) j++;
        word += text[j];
      }
      if (j >= text.length) throw new CommandError(`unterminated " in command: ${text}`);
      inWord = true;
      i = j;
    } else if (c === '\\') {
      if (i + 1 < text.length) word += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  if (words.length === 0) throw new CommandError('the command to run (-c) is empty');
  return words;
}

/** The program a command name runs: as given when it holds a '/', else found on PATH. */
export function resolveProgram(name: string, path = process.env.PATH ?? '/usr/bin:/bin'): string {
  if (name.includes('/')) {
    if (!isExecutableFile(name)) throw new CommandError(`cannot run '${name}': not an executable file`);
    return name;
  }
  const found = findOnPath(name, path);
  if (found === undefined) throw new CommandError(`command not found: ${name}`);
  return found;
}

export interface HeldCommand {
  /** The pid the command will have (the wrapper execs it in place). */
  pid: number;
  child: ChildProcess;
  /** Settles once the wrapper has started and waits (or has ended): the shell's own start-up
   * syscalls (dash calls getppid) are then over, so that tracing sees only the command's. */
  ready: Promise<void>;
  /** Lets the command start. */
  release(): void;
}

// The wrapper says it is ready on fd 3 and blocks there until released; if kafkatrace dies first
// the socket closes and it exits without running the command.
const WRAPPER = 'printf r >&3; read _ <&3 || exit 125; exec 3<&-; exec "$@"';

/** Starts `words` held back in a wrapper whose pid becomes the command's pid. */
export function spawnHeld(words: string[]): HeldCommand {
  const program = resolveProgram(words[0]!);
  const child = spawn('/bin/sh', ['-c', WRAPPER, 'kafkatrace-c', program, ...words.slice(1)], {
    stdio: ['inherit', 'inherit', 'inherit', 'pipe'],
  });
  if (child.pid === undefined) throw new CommandError(`cannot start '${words[0]}'`);
  const gate = child.stdio[3] as Duplex;
  // The wrapper may exit before reading (killed): a broken pipe is then expected, not an error.
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
