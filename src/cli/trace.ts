// Running a script: `kafkatrace FILE`, `-e`, `run NAME`. `-d` stops after the stage it names. A script
// compiled before runs from the compilation cache without loading the compiler at all.
import { constants } from 'node:os';
import { prestartClang } from '../codegen/clang.js';
import { unsafeHelperCalls } from '../codegen/unsafe-helpers.js';
import { KtError } from '../errors.js';
import { mountRootOf } from '../executables.js';
import type { PrometheusExporter } from '../export/server.js';
import { netnsInode } from '../kafka/capture/netns.js';
import { uprobeRefcountAvailable } from '../runtime/attach.js';
import { escapeControls } from '../runtime/format/value.js';
import { splitCommand } from '../runtime/command.js';
import { createOutput } from '../runtime/output.js';
import { runSession, type CommandStatus, type StopReason } from '../runtime/session.js';
import type { Plan } from '../plan/types.js';
import type { CliOptions } from './args.js';
import { compilationKey, hostFacts, lookupCompilation, storeCompilation, type CachedCompilation } from './plan-cache.js';
import { fileSink, stdout, type OutputSink } from './sink.js';
import type { ScriptSource } from './source.js';

/** The traced process's program, where watchpoint:FUNCTION+argN looks FUNCTION up. */
function tracee(opts: CliOptions): string | undefined {
  if (opts.command_ !== undefined) return splitCommand(opts.command_)[0];
  return opts.pid !== undefined ? `/proc/${opts.pid}/exe` : undefined;
}

async function debugStage(src: ScriptSource, opts: CliOptions): Promise<void> {
  const { planSource, systemEnv } = await import('./pipeline.js');
  const compiled = planSource(src, systemEnv(opts.positional, opts.unsafe, opts.command_ !== undefined, opts.helperChecks, { pid: opts.pid, tracee: tracee(opts), includes: opts.includes }));
  if (opts.debug === 'ast') {
    const { formatAst } = await import('../frontend/print-ast.js');
    stdout.write(formatAst(compiled.script) + '\n');
  } else if (opts.debug === 'plan') {
    const { planToJson } = await import('../plan/json.js');
    stdout.write(planToJson(compiled.plan, 2) + '\n');
  } else {
    stdout.write(compiled.c);
  }
}

async function compilation(src: ScriptSource, opts: CliOptions): Promise<CachedCompilation> {
  // A -p target in another mount namespace resolves the script's binaries in its root.
  const targetRoot = opts.pid === undefined ? undefined : mountRootOf(opts.pid);
  const key = compilationKey(src.text, src.file, opts.positional, opts.unsafe, undefined, opts.command_ !== undefined, opts.helperChecks, { root: targetRoot, traced: tracee(opts) !== undefined, includes: opts.includes });
  const cached = lookupCompilation(key, undefined, tracee(opts));
  if (cached) return cached;
  // clang starts while the compiler loads and runs: most scripts need it.
  prestartClang();
  const { planSource, objectFor, objectPath, systemEnv } = await import('./pipeline.js');
  const compiled = planSource(src, systemEnv(opts.positional, opts.unsafe, opts.command_ !== undefined, opts.helperChecks, { pid: opts.pid, tracee: tracee(opts), includes: opts.includes }));
  const object = await objectFor(compiled);
  storeCompilation(key, compiled.plan, object ? await objectPath(compiled) : undefined, hostFacts(compiled.analysis.hostValues));
  return { plan: compiled.plan, object };
}

/**
 * Collects what one burst of events prints and writes it with one system call once the burst's
 * synchronous work is done: a write per printf line would stall the ring-buffer consumer. flush()
 * writes what it holds now (before system() runs a command that writes to the same output).
 */
function batchedWriter(sink: (s: string) => void): { write: (s: string) => void; flush: () => void } {
  let pending: string[] = [];
  const flush = (): void => {
    if (pending.length === 0) return;
    const text = pending.join('');
    pending = [];
    sink(text);
  };
  return {
    write: (s) => {
      if (pending.length === 0) queueMicrotask(flush);
      pending.push(s);
    },
    flush,
  };
}

/** A shell's view of how a command ended: its status, or 128 + the signal that killed it. */
function commandExitCode(status: CommandStatus): number {
  if (status.code !== null) return status.code;
  return 128 + (status.signal ? (constants.signals[status.signal] ?? 0) : 0);
}

export async function trace(src: ScriptSource, opts: CliOptions): Promise<number> {
  if (opts.debug) {
    await debugStage(src, opts);
    return 0;
  }
  // Ctrl-C ends a run with status 0 whenever it comes, as bpftrace's: during compilation it stops the
  // session as soon as that starts, and after the session (whose own handler is gone by then) it keeps
  // node from dying of the signal while the process ends. It stays installed until exit.
  const abort = new AbortController();
  process.on('SIGINT', () => abort.abort());
  const netns = opts.netns === undefined ? undefined : netnsInode(opts.netns);
  if (netns && !netns.ok) throw new KtError('usage', `--netns '${escapeControls(opts.netns!)}' ${netns.reason}`);
  if (opts.usdtFileActivation && !uprobeRefcountAvailable()) {
    throw new KtError('kernel-refused', '--usdt-file-activation needs a kernel that sets USDT semaphores itself (uprobe ref_ctr_offset, Linux 4.20)');
  }
  const compiled = await compilation(src, opts);
  // Whether system() and signal() may run is the command line's to say, never a (cached) plan's.
  const plan: Plan = { ...compiled.plan, unsafe: opts.unsafe };
  const { object } = compiled;
  if (!opts.unsafe && object && unsafeHelperCalls(object, opts.pid !== undefined || opts.command_ !== undefined).length > 0) {
    throw new KtError('needs-unsafe', 'the compiled program sends signals (signal()), which needs --unsafe');
  }
  // Listening comes first: a taken port then fails the run before any BPF program is loaded.
  const exporter = opts.exportTarget ? await startExporter(plan, opts) : undefined;
  let file: { sink: OutputSink; close: () => void } | undefined;
  let unwatch: (() => void) | undefined;
  try {
    file = opts.outputFile !== undefined ? fileSink(opts.outputFile) : undefined;
    const sink = file?.sink ?? stdout;
    // An output that cannot be written ends the session in order (END, detach); main reports it.
    unwatch = sink.onFailure(() => abort.abort());
    const { write, flush } = batchedWriter((s) => sink.write(s));
    let stopReason: StopReason | undefined;
    let command: CommandStatus | undefined;
    const code = await runSession(plan, object, {
      output: (stackLookup) =>
        createOutput({
          format: opts.format === 'json' ? 'json' : 'text',
          write,
          flush,
          stackLookup,
          quiet: opts.quiet,
          noWarnings: opts.noWarnings,
          catBytesMax: opts.catBytesMax,
          script: src,
        }),
      pid: opts.pid,
      command: opts.command_,
      durationMs: opts.durationMs,
      positional: opts.positional,
      verbose: opts.verbose,
      mapKeysMax: opts.mapKeysMax,
      releaseAtExit: true,
      ...(netns?.ok ? { kafkaCapture: { netns: netns.inode } } : {}),
      abort: abort.signal,
      onStarted: (control) => {
        exporter?.attach(control);
        // After `Attaching N probes...`, as bpftrace: its test engine stops reading at the notice.
        if (opts.notifyAttached) {
          flush();
          process.stderr.write('__BPFTRACE_NOTIFY_PROBES_ATTACHED\n');
        }
      },
      onCommandExit: (status) => (command = status),
      onStop: (reason) => {
        stopReason = reason;
        exporter?.detach();
      },
    });
    // A run that ended with its -c command (and no exit() from the script) fails as the command did.
    return stopReason === 'command' && command ? commandExitCode(command) : code;
  } finally {
    unwatch?.();
    file?.close();
    await exporter?.close();
  }
}

async function startExporter(plan: Plan, opts: CliOptions): Promise<PrometheusExporter> {
  const [{ PrometheusExporter }, { formatAddress }] = await Promise.all([import('../export/server.js'), import('../export/address.js')]);
  const exporter = await PrometheusExporter.listen(opts.exportTarget!, plan.maps);
  process.stderr.write(`Serving Prometheus metrics on http://${formatAddress(exporter.address)}/metrics\n`);
  return exporter;
}
