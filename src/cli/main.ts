// kafkatrace's entry point: parse the command line, run the subcommand, turn every user-facing
// failure into one message and a non-zero exit status. Running a script is the path that must start
// fast, so the runtime is imported statically (one chunk of the bundle, compiled from V8's code cache:
// see bin/kafkatrace.js); other subcommands, and the compiler, load on demand.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KtError } from '../errors.js';
import { packageRoot } from '../package-root.js';
import { AGENT_HELP, HELP, parseCli, type CliOptions } from './args.js';
import { failureReport } from './errors.js';
import { guardStdio, outputFailure, stdout } from './sink.js';
import { readScript, resolveRunTarget, stdlibTools, type ScriptSource } from './source.js';
import { trace } from './trace.js';

function out(s: string): void {
  stdout.write(s);
}

function err(s: string): void {
  process.stderr.write(s);
}

function versionText(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
  return `kafkatrace v${pkg.version}`;
}

function scriptOf(opts: CliOptions): ScriptSource {
  if (opts.program !== undefined) return { text: opts.program, file: '-e' };
  const file = opts.command === 'run' ? resolveRunTarget(opts.file!) : opts.file!;
  return readScript(file);
}

async function dispatch(opts: CliOptions): Promise<number> {
  switch (opts.command) {
    case 'help':
      out(HELP);
      return 0;
    case 'version':
      // Scripts written for bpftrace (and its runtime tests) look for the bpftrace version it follows.
      out(`${versionText()} (bpftrace v0.17.0 language)\n`);
      return 0;
    case 'info': {
      // Probing the kernel loads BPF programs and maps.
      if (process.geteuid?.() !== 0) throw new KtError('no-privilege', '--info needs root: it loads BPF programs to probe the kernel');
      const { formatInfo, gatherInfo } = await import('../runtime/info.js');
      out(formatInfo(gatherInfo(versionText())));
      return 0;
    }
    case 'list': {
      const [{ listProbes }, { realSystem }] = await Promise.all([import('../frontend/list-probes.js'), import('../frontend/system.js')]);
      out(listProbes(opts.listGlob, opts.verbose, realSystem(), opts.pid));
      return 0;
    }
    case 'check': {
      const [{ checkScripts }, { realSystem }] = await Promise.all([import('./check.js'), import('../frontend/system.js')]);
      const sources = opts.program !== undefined ? [{ text: opts.program, file: '-e' }] : opts.files.map(readScript);
      const format = opts.format === 'github' ? 'github' : 'text';
      const failed = checkScripts(sources, { format, positional: opts.positional, unsafe: opts.unsafe, includes: opts.includes, system: realSystem() }, err);
      return failed > 0 ? 1 : 0;
    }
    case 'compile': {
      const { compileToDir } = await import('./compile.js');
      await compileToDir(scriptOf(opts), opts.outputDir!, opts, out);
      return 0;
    }
    case 'run':
      if (opts.listTools) {
        for (const t of stdlibTools()) out(`${t.name.padEnd(18)} ${t.description}\n`);
        return 0;
      }
      return trace(scriptOf(opts), opts);
    case 'trace':
      return trace(scriptOf(opts), opts);
    case 'repl':
      return (await import('../repl/index.js')).runRepl(opts);
    case 'demo':
      return (await import('../demo/command.js')).demo(opts);
    case 'kube':
      return (await import('../kube/index.js')).kube(opts.kubeArgs!, { write: out, writeError: err, readScript, onOutputClosed: (l) => stdout.onFailure(l) });
    case 'agent': {
      if (opts.help) {
        out(AGENT_HELP);
        return 0;
      }
      const { runAgent } = await import('../agent/index.js');
      return runAgent({ configPath: opts.configFile!, tools: new Map(stdlibTools().map((t) => [t.name, t.path])), write: out, writeError: err });
    }
  }
}

export async function main(argv: string[]): Promise<number> {
  guardStdio();
  const code = await run(argv);
  // A failed write on stdout is reported by an 'error' event on the next tick.
  await new Promise((resolve) => setImmediate(resolve));
  const failure = outputFailure(code);
  if (!failure) return code;
  if (failure.message) err(failure.message);
  return failure.code;
}

async function run(argv: string[]): Promise<number> {
  try {
    return await dispatch(parseCli(argv));
  } catch (e) {
    const report = failureReport(e, !!process.env['KAFKATRACE_DEBUG']);
    err(report.text);
    return report.status;
  }
}
