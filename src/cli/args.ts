// Command-line parsing. bpftrace's flags keep their meaning; subcommands (check, compile, run, repl,
// demo) come first when present.
import { parseArgs } from 'node:util';
import { KtError } from '../errors.js';
import { parseExportTarget, type ExportTarget } from '../export/address.js';

export type Command = 'trace' | 'check' | 'compile' | 'run' | 'list' | 'help' | 'version' | 'info' | 'repl' | 'demo' | 'agent' | 'kube';

/** The brokers `demo --kafka` offers: librdkafka's mock cluster, or Apache Kafka installed by scripts/install-kafka.sh. */
export const DEMO_KAFKA = ['mock', 'apache'] as const;
export type DemoKafka = (typeof DEMO_KAFKA)[number];

export interface CliOptions {
  command: Command;
  /** Script text from -e. */
  program?: string;
  /** Script file, `-` for stdin, or (for `run`) a stdlib tool name. */
  file?: string;
  /** For `check`: every script to check. */
  files: string[];
  /** Positional parameters for $1..$N. */
  positional: string[];
  debug?: 'ast' | 'plan' | 'c';
  format: 'text' | 'json' | 'github';
  outputFile?: string;
  outputDir?: string;
  pid?: number;
  command_?: string;
  unsafe: boolean;
  verbose: boolean;
  listGlob?: string;
  durationMs?: number;
  listTools: boolean;
  noColor: boolean;
  /** --export: serve the maps while the script runs. */
  exportTarget?: ExportTarget;
  /** A subcommand's own --help (demo). */
  help?: boolean;
  /** agent --config: the agent's configuration file. */
  configFile?: string;
  /** kube: everything after `kube`, which src/kube parses (its options are its own). */
  kubeArgs?: string[];
  /** demo --kafka: the broker the demo runs against. */
  demoKafka?: DemoKafka;
  /** --map-keys-max, else BPFTRACE_MAP_KEYS_MAX: keys each map holds (default: the plan's, 4096). */
  mapKeysMax?: number;
  /** -q: no `Attaching N probes...`. */
  quiet: boolean;
  /** --no-warnings: no WARNING lines while the script runs. */
  noWarnings: boolean;
  /**
   * --usdt-file-activation: USDT semaphores set in every process that runs the binary. kafkatrace
   * always has the kernel set them (uprobe ref_ctr_offset), which does exactly that; the option only
   * checks that the kernel can.
   */
  usdtFileActivation: boolean;
  /** BPFTRACE_CAT_BYTES_MAX: bytes of a file cat() prints at most (default 10240). */
  catBytesMax?: number;
  /**
   * __BPFTRACE_NOTIFY_PROBES_ATTACHED (set by bpftrace's runtime test engine): say so on stderr once
   * the probes are attached, as bpftrace does, so that the engine starts its workload then.
   */
  notifyAttached: boolean;
  /**
   * -k, -kk: helper failures reported at run time, as bpftrace reports them. 1: those whose failure a
   * script cannot see (map_delete_elem of an absent key); 2: also failed member reads and lookups of
   * absent map keys, which give a script 0.
   */
  helperChecks: 0 | 1 | 2;
  /** --include FILE (repeatable): headers included before the script's C, as bpftrace's --include. */
  includes: string[];
  /** --netns PATH: the Kafka capture sees only sockets of this network namespace. */
  netns?: string;
}

const SUBCOMMANDS = new Set(['repl', 'check', 'compile', 'run', 'demo', 'agent', 'kube']);

export const HELP = `kafkatrace: a bpftrace-style tracing language with Kafka-aware probes

USAGE
  kafkatrace [options] FILE [ARGS...]       run a script (ARGS become $1, $2, ...)
  kafkatrace [options] -e 'PROGRAM'         run a one-liner
  kafkatrace [options] -                    read the script from stdin
  kafkatrace -l [GLOB]                      list probes (-lv: with their args)
  kafkatrace check [--format github] FILE... | -e PROG
                                            check scripts without running them (no root needed)
  kafkatrace compile FILE|-e PROG -o DIR    write the generated C, the BPF object and the plan
  kafkatrace repl [--unsafe]                type probe blocks at a prompt; they attach at once (.help)
  kafkatrace run NAME|FILE [options]        run a stdlib tool by name or a script (--list: the tools)
  kafkatrace agent --config FILE            run several scripts and serve them to Prometheus (agent --help)
  kafkatrace kube run node/NODE|pod/POD -e PROG|FILE|--tool NAME
                                            run it on a Kubernetes node as a Job (kube --help)
  kafkatrace demo [--kafka mock|apache] [--duration TIME]
                                            a Kafka broker (mock by default) with a producer and a
                                            rebalancing consumer group, traced live (demo --help)

OPTIONS
  -e PROGRAM        the script text
  -d ast|plan|c     print a stage of the compiler and stop
  -f text|json      output format (default text; json: one object per line)
  -o FILE           write output to FILE (for compile: -o DIR)
  -p PID            trace only this process (every probe, not only uprobes)
  -c 'CMD ARGS'     run CMD, trace only it, and stop when it ends
  --netns PATH      kafka probes see only sockets of this network namespace (/run/netns/NAME,
                    /proc/PID/ns/net)
  --duration TIME   stop after TIME (e.g. 30s, 500ms, 2m)
  --export prometheus[=ADDR:PORT]
                    serve the maps as Prometheus metrics on http://ADDR:PORT/metrics while the
                    script runs (default 127.0.0.1:9464; IPv6 as [::1]:9464)
  --map-keys-max N  keys a map holds at most (default 4096, or BPFTRACE_MAP_KEYS_MAX); a full map
                    drops updates that add a key, and says how many at exit
  --unsafe          allow system() and signal()
  --include FILE    #include FILE before the script's own C (as its first line would; repeatable)
  -q                quiet: no 'Attaching N probes...'
  -k                report helper failures while the script runs (delete() of an absent key)
  -kk               -k, and also failed reads and lookups of absent map keys
  --no-warnings     no WARNING lines while the script runs
  --usdt-file-activation
                    USDT semaphores set in every process running the binary (kafkatrace always
                    has the kernel set them; this checks that it can)
  --info            what this kernel supports of what kafkatrace uses (BPF helpers, map and program
                    types, BTF, loops), in bpftrace's --info format
  -v                verbose (with -l: show probe args; with kafka probes: the decoder's health at exit)
  --no-color        plain output even on a terminal (NO_COLOR is honoured too)
  -h, --help        this help
  -V, --version     print the version

ENVIRONMENT (bpftrace's names)
  BPFTRACE_MAP_KEYS_MAX    keys a map holds at most (as --map-keys-max)
  BPFTRACE_CAT_BYTES_MAX   bytes of a file cat() prints at most (default 10240)

Exit status: 0 on success; the code given to exit(code) when a script calls it; 1 on errors.
`;

/** Parses "30s", "500ms", "2m", "1h" or a plain number of seconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new KtError('usage', `invalid duration '${text}': use a number with ms, s, m or h (e.g. 30s)`);
  const scale = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 's']!;
  return Math.round(Number(m[1]) * scale);
}

/** Keys a map may hold: a positive integer that fits a BPF map's u32 max_entries. */
function parseMapKeys(text: string, from: string): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!(n >= 1 && n <= 0xffffffff)) throw new KtError('usage', `${from} takes a number of keys from 1 to 4294967295, not '${text}'`);
  return n;
}

/** The largest pid any kernel allows (PID_MAX_LIMIT), by which bpftrace checks -p. */
const PID_LIMIT = 4 * 1024 * 1024;

/** -p's process id, checked as bpftrace checks it and with its messages. */
function parsePid(text: string): number {
  // strtol's syntax: leading blanks and a sign, then decimal digits to the end.
  if (!/^\s*[+-]?\d+$/.test(text)) throw new KtError('usage', `pid '${text}' is not a valid decimal number`);
  const pid = Number(text);
  if (pid < 1 || pid > PID_LIMIT) throw new KtError('usage', `pid '${text}' out of valid pid range [1,${PID_LIMIT}]`);
  return pid;
}

export const AGENT_HELP = `kafkatrace agent: run scripts unattended and serve their maps to Prometheus

USAGE
  kafkatrace agent --config FILE

FILE is YAML or JSON (schema: stdlib/agent-config.schema.json):
  listen: 127.0.0.1:9464        where /metrics and /healthz are served (the default)
  labels: {node: n1}            labels added to every series; \${NAME} in a value is the
                                environment variable NAME (e.g. node: "\${NODE_NAME}")
  max_series: 10000             series each metric keeps at most; the rest are dropped and counted
  kafka: {netns: /run/netns/n1} the Kafka capture sees only this network namespace's sockets
  scripts:                      each with a name and one of tool (stdlib) or file
    - {name: syscalls, file: count.ktr, args: [1234], labels: {team: a}}
    - {name: lag, tool: kafka-lag}

Every script runs in this process; kafka probes share one Kafka capture. A script's maps are served
as kafkatrace_NAME_MAP{script="NAME",...}. A script that fails is retried with back-off (1 s doubling
up to 60 s) and never stops the others; /healthz says each script's state (200 while one runs, else
503). SIGHUP reloads FILE: added scripts start, removed ones stop, changed ones restart, the others
keep running with their maps. SIGINT or SIGTERM stop the agent.

OPTIONS
  --config FILE     the configuration (required)
  -h, --help        this help
`;

/** `agent` takes --config FILE, and -h. */
function agentOptions(opts: CliOptions, v: Record<string, string | string[] | boolean | boolean[] | undefined>, positionals: string[]): CliOptions {
  if (v.h || v.help) {
    opts.help = true;
    return opts;
  }
  if (positionals.length > 0) throw new KtError('usage', `agent takes no arguments, not '${positionals[0]}' (use --config FILE)`);
  const other = Object.keys(v).find((k) => v[k] !== undefined && !['config', 'no-color'].includes(k));
  if (other) throw new KtError('usage', `agent does not take ${other.length === 1 ? '-' : '--'}${other}`);
  if (typeof v.config !== 'string') throw new KtError('usage', 'agent needs --config FILE');
  opts.configFile = v.config;
  return opts;
}

/** `demo` takes --kafka, --duration and --no-color (already in opts), and -h. */
function demoOptions(opts: CliOptions, v: Record<string, string | string[] | boolean | boolean[] | undefined>, positionals: string[]): CliOptions {
  if (positionals.length > 0) throw new KtError('usage', `demo takes no arguments, not '${positionals[0]}'`);
  const other = Object.keys(v).find((k) => v[k] !== undefined && !['kafka', 'duration', 'no-color', 'h', 'help'].includes(k));
  if (other) throw new KtError('usage', `demo does not take ${other.length === 1 ? '-' : '--'}${other}`);
  if (v.h || v.help) opts.help = true;
  if (typeof v.duration === 'string') opts.durationMs = parseDuration(v.duration);
  if (typeof v.kafka === 'string') {
    if (!(DEMO_KAFKA as readonly string[]).includes(v.kafka)) throw new KtError('usage', `--kafka takes ${DEMO_KAFKA.join(' or ')}, not '${v.kafka}'`);
    opts.demoKafka = v.kafka as DemoKafka;
  }
  return opts;
}

export function parseCli(argv: string[]): CliOptions {
  let command: Command = 'trace';
  let rest = argv;
  if (rest.length > 0 && SUBCOMMANDS.has(rest[0]!)) {
    command = rest[0] as Command;
    rest = rest.slice(1);
  }
  // kube's options are its own (src/kube/args.ts parses them).
  if (command === 'kube') return { command, kubeArgs: rest, positional: [], files: [], format: 'text', unsafe: false, verbose: false, listTools: false, noColor: 'NO_COLOR' in process.env, quiet: false, helperChecks: 0, noWarnings: false, usdtFileActivation: false, notifyAttached: false, includes: [] };
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      strict: true,
      options: {
        e: { type: 'string' },
        d: { type: 'string' },
        f: { type: 'string' },
        format: { type: 'string' },
        o: { type: 'string' },
        p: { type: 'string' },
        c: { type: 'string' },
        l: { type: 'boolean' },
        v: { type: 'boolean' },
        h: { type: 'boolean' },
        help: { type: 'boolean' },
        V: { type: 'boolean' },
        version: { type: 'boolean' },
        unsafe: { type: 'boolean' },
        duration: { type: 'string' },
        export: { type: 'string' },
        kafka: { type: 'string' },
        config: { type: 'string' },
        list: { type: 'boolean' },
        'no-color': { type: 'boolean' },
        'map-keys-max': { type: 'string' },
        q: { type: 'boolean' },
        k: { type: 'boolean', multiple: true },
        'no-warnings': { type: 'boolean' },
        info: { type: 'boolean' },
        'usdt-file-activation': { type: 'boolean' },
        include: { type: 'string', multiple: true },
        netns: { type: 'string' },
      },
    });
  } catch (e) {
    const unknown = (e as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION';
    throw new KtError(unknown ? 'unknown-option' : 'usage', (e as Error).message.replace(/^TypeError \[\w+\]: /, ''));
  }
  const v = parsed.values;
  const positionals = parsed.positionals;
  if ((v.h || v.help) && command !== 'demo' && command !== 'agent') command = 'help';
  else if (v.V || v.version) command = 'version';
  else if (v.info) command = 'info';
  else if (v.l && command === 'trace') command = 'list';

  const opts: CliOptions = {
    command,
    positional: [],
    files: [],
    format: 'text',
    unsafe: v.unsafe ?? false,
    verbose: v.v ?? false,
    listTools: v.list ?? false,
    noColor: (v['no-color'] ?? false) || 'NO_COLOR' in process.env,
    quiet: v.q ?? false,
    helperChecks: Math.min(v.k?.length ?? 0, 2) as 0 | 1 | 2,
    noWarnings: v['no-warnings'] ?? false,
    usdtFileActivation: v['usdt-file-activation'] ?? false,
    notifyAttached: process.env['__BPFTRACE_NOTIFY_PROBES_ATTACHED'] !== undefined,
    includes: [],
  };
  if (command === 'help' || command === 'version' || command === 'info') return opts;
  if (command === 'list') {
    opts.listGlob = positionals[0];
    if (v.p !== undefined) opts.pid = parsePid(v.p);
    return opts;
  }
  if (command === 'demo') return demoOptions(opts, v, positionals);
  if (command === 'agent') return agentOptions(opts, v, positionals);
  if (v.config !== undefined) throw new KtError('usage', `--config only applies to agent, not to ${command}`);
  if (command === 'repl') {
    if (positionals.length > 0) throw new KtError('usage', `repl takes no arguments, not '${positionals[0]}'`);
    return opts;
  }

  if (v.d !== undefined) {
    if (v.d !== 'ast' && v.d !== 'plan' && v.d !== 'c') {
      throw new KtError('usage', `-d takes ast, plan or c, not '${v.d}'`);
    }
    opts.debug = v.d;
  }
  const format = v.format ?? v.f;
  if (format !== undefined) {
    const allowed = command === 'check' ? ['text', 'github'] : ['text', 'json'];
    if (!allowed.includes(format)) {
      // bpftrace's words and its second line.
      throw new KtError('usage', `Invalid output format "${format}"\nValid formats: ${allowed.map((f) => `'${f}'`).join(', ')}`);
    }
    opts.format = format as CliOptions['format'];
  }
  if (v.p !== undefined) opts.pid = parsePid(v.p);
  if (v.c !== undefined) opts.command_ = v.c;
  if (opts.pid !== undefined && opts.command_ !== undefined) {
    throw new KtError('usage', '-p and -c cannot be used together');
  }
  if (v.duration !== undefined) opts.durationMs = parseDuration(v.duration);
  const runs = command === 'trace' || command === 'run';
  if (v['map-keys-max'] !== undefined) {
    if (!runs) throw new KtError('usage', `--map-keys-max only applies when a script runs, not to ${command}`);
    opts.mapKeysMax = parseMapKeys(v['map-keys-max'], '--map-keys-max');
  } else if (runs && process.env['BPFTRACE_MAP_KEYS_MAX'] !== undefined) {
    opts.mapKeysMax = parseMapKeys(process.env['BPFTRACE_MAP_KEYS_MAX'], 'BPFTRACE_MAP_KEYS_MAX');
  }
  if (v.netns !== undefined) {
    if (!runs) throw new KtError('usage', `--netns only applies when a script runs, not to ${command}`);
    opts.netns = v.netns;
  }
  const catBytes = process.env['BPFTRACE_CAT_BYTES_MAX'];
  if (runs && catBytes !== undefined) {
    const n = /^\d+$/.test(catBytes.trim()) ? Number(catBytes.trim()) : NaN;
    if (!Number.isSafeInteger(n)) throw new KtError('usage', `BPFTRACE_CAT_BYTES_MAX takes a number of bytes, not '${catBytes}'`);
    opts.catBytesMax = n;
  }
  if (v.kafka !== undefined) throw new KtError('usage', `--kafka only applies to demo, not to ${command}`);
  for (const header of v.include ?? []) {
    // It becomes `#include "FILE"`, where nothing can escape these characters.
    if (header === '' || /["\n\r\0]/.test(header)) throw new KtError('usage', `--include takes a header file name, not ${JSON.stringify(header)}`);
    opts.includes.push(header);
  }
  if (v.export !== undefined) {
    if (command !== 'trace' && command !== 'run') throw new KtError('usage', `--export only applies when a script runs, not to ${command}`);
    const target = parseExportTarget(v.export);
    if ('error' in target) throw new KtError('usage', target.error);
    opts.exportTarget = target;
  }
  if (command === 'compile') opts.outputDir = v.o;
  else opts.outputFile = v.o;

  if (v.e !== undefined) {
    opts.program = v.e;
    opts.positional = positionals;
  } else if (command === 'run' && opts.listTools) {
    return opts;
  } else if (command === 'check') {
    if (positionals.length === 0) throw new KtError('usage', 'check needs a script file or -e PROGRAM');
    opts.files = positionals;
  } else {
    if (positionals.length === 0) {
      throw new KtError('usage', command === 'run' ? 'run needs a tool name or a script file (run --list lists the tools)' : 'no program given: pass a script file, - for stdin, or -e PROGRAM');
    }
    opts.file = positionals[0];
    opts.positional = positionals.slice(1);
  }
  if (command === 'compile' && opts.outputDir === undefined) throw new KtError('usage', 'compile needs -o DIR');
  return opts;
}
