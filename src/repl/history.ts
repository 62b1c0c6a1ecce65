// Where the REPL keeps its history between sessions: $XDG_STATE_HOME/kafkatrace/history when the
// XDG state directory is set, else ~/.kafkatrace_history.
import { mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export function historyPath(env: NodeJS.ProcessEnv = process.env, home = homedir()): string {
  const state = env['XDG_STATE_HOME'];
  if (state) return join(state, 'kafkatrace', 'history');
  return join(home, '.kafkatrace_history');
}

/** Makes the history file's directory; false when that is not possible. */
export function prepareHistoryDir(path: string): boolean {
  try {
    mkdirSync(join(path, '..'), { recursive: true });
    return true;
  } catch {
    return false;
  }
}
