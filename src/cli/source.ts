// Where a script comes from: -e, a file, stdin (`-`), or a stdlib tool by name (`run NAME`).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { KtError } from '../errors.js';
import { packageRoot } from '../package-root.js';

export interface ScriptSource {
  text: string;
  /** The name diagnostics use: the path, `-e` for one-liners, `stdin`. */
  file: string;
}

export function readScript(file: string): ScriptSource {
  if (file === '-') return { text: readFileSync(0, 'utf8'), file: 'stdin' };
  try {
    return { text: readFileSync(file, 'utf8'), file };
  } catch (e) {
    throw new KtError('script-unreadable', `failed to open file '${file}': ${systemErrorText(e)}`);
  }
}

/** A system error in words, capitalised as bpftrace's strerror() texts are ("No such file or directory"). */
function systemErrorText(e: unknown): string {
  const message = (e as Error).message;
  const words = /^[A-Z0-9]+: (.*?), \w+/.exec(message)?.[1] ?? message;
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function stdlibDir(): string {
  return join(packageRoot(), 'stdlib');
}

/** The stdlib tools: every `.ktr` in stdlib/, by name, with the first comment line as description. */
export function stdlibTools(): { name: string; path: string; description: string }[] {
  return readdirSync(stdlibDir())
    .filter((f) => f.endsWith('.ktr'))
    .sort()
    .map((f) => {
      const path = join(stdlibDir(), f);
      const first = readFileSync(path, 'utf8').split('\n')[0] ?? '';
      const description = first.replace(/^\/\/\s*/, '').replace(/^[\w-]+:\s*/, '');
      return { name: basename(f, '.ktr'), path, description };
    });
}

/** `run NAME` takes a stdlib tool name, or a path to a script. */
export function resolveRunTarget(target: string): string {
  if (existsSync(target) || target.includes('/') || target.endsWith('.ktr')) return target;
  const tool = stdlibTools().find((t) => t.name === target);
  if (!tool) {
    throw new KtError('no-such-tool', `no tool named '${target}' (kafkatrace run --list shows the tools)`);
  }
  return tool.path;
}
