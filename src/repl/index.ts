// `kafkatrace repl` on the terminal: history in the user's state directory, and no BPF program left
// behind however the process is asked to end.
import { realSystem } from '../frontend/system.js';
import { historyPath, prepareHistoryDir } from './history.js';
import { startRepl } from './repl.js';

export { startRepl, type ReplOptions, type ReplSession } from './repl.js';

export async function runRepl(): Promise<number> {
  const file = historyPath();
  const session = startRepl({
    input: process.stdin,
    output: process.stdout,
    system: realSystem(),
    historyFile: prepareHistoryDir(file) ? file : undefined,
  });
  const stop = (): void => session.server.close();
  process.once('SIGTERM', stop);
  process.once('SIGHUP', stop);
  await session.closed;
  process.off('SIGTERM', stop);
  process.off('SIGHUP', stop);
  return 0;
}
