// `kafkatrace agent --config FILE`: runs the configured scripts in this process until SIGINT or
// SIGTERM, serves their maps on /metrics and their states on /healthz, and reloads the
// configuration on SIGHUP (a configuration that does not load is reported and the running set kept).
import { KtError } from '../errors.js';
import { formatAddress } from '../export/address.js';
import { releaseLinksAtExit } from '../native/index.js';
import { escapeControls } from '../runtime/format/value.js';
import { createOutput } from '../runtime/output.js';
import { privilegeProblem } from '../runtime/privileges.js';
import { loadConfig, resolveScripts, type AgentConfig } from './config.js';
import { AgentMetrics } from './metrics.js';
import { sessionFactory, SharedFeed, type AgentRun } from './runner.js';
import { AgentServer, health } from './server.js';
import { Supervisor } from './supervisor.js';

export interface AgentOptions {
  configPath: string;
  /** The stdlib tools: name → path. */
  tools: ReadonlyMap<string, string>;
  /** Scripts' printed output. */
  write: (s: string) => void;
  /** The agent's messages (failures, reloads) and the scripts' errors. */
  writeError: (s: string) => void;
}

/** Runs until SIGINT or SIGTERM; resolves to the exit status once everything is released. */
export async function runAgent(opts: AgentOptions): Promise<number> {
  // SIGHUP would end the process while the agent starts: one that comes then reloads once it runs.
  let onHup: () => void = () => (missedHup = true);
  let missedHup = false;
  const hup = (): void => onHup();
  process.on('SIGHUP', hup);
  try {
    return await serve(opts, (reload) => {
      onHup = reload;
      if (missedHup) reload();
    });
  } finally {
    process.off('SIGHUP', hup);
  }
}

async function serve(opts: AgentOptions, onReload: (reload: () => void) => void): Promise<number> {
  let config: AgentConfig = loadConfig(opts.configPath);
  const problem = privilegeProblem();
  if (problem) throw new KtError('no-privilege', problem);
  const say = (line: string): void => opts.writeError(`kafkatrace agent: ${line}\n`);
  // The capture's namespace, like the address served, is the one the agent started with.
  const netns = config.netns;
  const feed = new SharedFeed(createOutput({ format: 'text', write: opts.write, writeError: opts.writeError }), undefined, netns ? { netns: netns.inode } : {});
  const supervisor = new Supervisor<AgentRun>(sessionFactory({ feed, write: opts.write, writeError: opts.writeError }), { report: say });
  const metrics = new AgentMetrics(config.maxSeries);
  let scripts = resolveScripts(config, opts.configPath, opts.tools);
  const server = await AgentServer.listen(config.listen, {
    metrics: () => metrics.scrape({ labels: config.labels, scripts, states: supervisor.states(), running: supervisor.running(), kafka: feed.current()?.counters() }),
    health: () => health(supervisor.states()),
  });
  say(`serving /metrics and /healthz on http://${formatAddress(server.address)}`);

  const reload = async (): Promise<void> => {
    let next: AgentConfig;
    try {
      next = loadConfig(opts.configPath);
    } catch (e) {
      say(`the configuration was not reloaded, the running scripts are kept: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    if (formatAddress(next.listen) !== formatAddress(config.listen)) say(`listen changed to ${formatAddress(next.listen)}: it takes effect when the agent restarts`);
    if (next.netns?.inode !== netns?.inode) say(`kafka.netns changed to ${next.netns ? escapeControls(next.netns.path) : 'none'}: it takes effect when the agent restarts`);
    config = { ...next, listen: config.listen };
    metrics.maxSeries = config.maxSeries;
    scripts = resolveScripts(config, opts.configPath, opts.tools);
    await supervisor.apply(scripts);
    say(`configuration reloaded: ${config.scripts.length} ${config.scripts.length === 1 ? 'script' : 'scripts'}`);
  };

  let reloading = Promise.resolve();
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await supervisor.apply(scripts);
    onReload(() => {
      reloading = reloading.then(reload).catch((e: unknown) => say(`the reload failed: ${e instanceof Error ? e.message : String(e)}`));
    });
    await stopped;
  } finally {
    onReload(() => {});
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    // A second signal while everything is released must not kill the process half way.
    const ignore = (): void => {};
    process.on('SIGINT', ignore);
    process.on('SIGTERM', ignore);
    await reloading;
    // The process exits next: the kernel's wait on detaching each tracepoint is left to the reaper.
    releaseLinksAtExit();
    await supervisor.stop();
    feed.close();
    await server.close();
  }
  return 0;
}
