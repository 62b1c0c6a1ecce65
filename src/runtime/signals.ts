// Signals while a session runs: SIGINT and SIGTERM end it (maps are printed, nothing is left
// attached), SIGUSR1 prints the maps and carries on. Listeners replace Node's default exit.
interface SignalHandlers {
  stop(signal: 'SIGINT' | 'SIGTERM'): void;
  printMaps(): void;
}

/** Installs the handlers; the returned function removes them. */
export function handleSignals(h: SignalHandlers): () => void {
  const onInt = () => h.stop('SIGINT');
  const onTerm = () => h.stop('SIGTERM');
  const onUsr1 = () => h.printMaps();
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  process.on('SIGUSR1', onUsr1);
  return () => {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    process.off('SIGUSR1', onUsr1);
  };
}
