// `kafkatrace repl` on the terminal: history in the user's state directory, and no BPF program left
// behind however the process is asked to end.
import { realSystem } from '../frontend/system.js';
import { historyPath, prepareHistoryDir } from './history.js';
import { startRepl } from './repl.js';

export async function runRepl(opts: { unsafe: boolean }): Promise<number> {
  const file = historyPath();
  const session = startRepl({
    input: process.stdin,
    output: process.stdout,
    system: realSystem(),
    historyFile: prepareHistoryDir(file) ? file : undefined,
    unsafe: opts.unsafe,
  });
  const stop = (): void => session.server.close();
  process.once('SIGTERM', stop);
  process.once('SIGHUP', stop);
  // A reader that went away (`kafkatrace repl | head`) ends it as the end of input does.
  process.stdout.once('error', stop);
  await session.closed;
  process.off('SIGTERM', stop);
  process.off('SIGHUP', stop);
  process.stdout.off('error', stop);
  // Input that has not ended (a closed output or a signal ended the REPL) would keep the process alive.
  process.stdin.destroy();
  return 0;
}
