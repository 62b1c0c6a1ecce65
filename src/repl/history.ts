// Where the REPL keeps its history between sessions: $XDG_STATE_HOME/kafkatrace/history when the
// XDG state directory is set, else ~/.kafkatrace_history; only where no other user could write it.
import { lstatSync, mkdirSync, realpathSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { untrustedDirectory } from '../cache-dir.js';

export function historyPath(env: NodeJS.ProcessEnv = process.env, home = homedir()): string {
  const state = env['XDG_STATE_HOME'];
  if (state) return join(state, 'kafkatrace', 'history');
  return join(home, '.kafkatrace_history');
}

/**
 * Makes the history file's directory; false when that is not possible, or when another user could
 * write the directory or the file: kafkatrace, as root, would write (through a link, anywhere) and
 * read a file of theirs.
 */
export function prepareHistoryDir(path: string): boolean {
  try {
    const dir = dirname(path);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (untrustedDirectory(realpathSync(dir)) !== undefined) return false;
    const s = lstatSync(path, { throwIfNoEntry: false });
    return s === undefined || (s.isFile() && s.uid === (process.geteuid?.() ?? 0) && (s.mode & 0o022) === 0);
  } catch {
    return false;
  }
}
