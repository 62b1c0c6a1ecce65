// The probes this machine offers, as bpftrace lists them (`provider:target`), with their args when
// verbose: `kafkatrace -l [GLOB]` and the REPL's `.list`.
import { kafkaCatalogue } from './kafka-catalogue.js';
import { globToRegExp, hasWildcard } from './glob.js';
import { HARDWARE_EVENTS, PROVIDER_ALIASES, SOFTWARE_EVENTS } from './providers.js';
import type { SystemInfo } from './system.js';
import { typeName } from './types.js';
import { KtError } from '../errors.js';


interface Listed {
  name: string;
  /** The lines -v shows under the probe, as bpftrace writes them. */
  args: () => string[];
}

function kafkaProbes(): Listed[] {
  return kafkaCatalogue().probes.map((p) => ({
    name: `kafka:${p.name}`,
    args: () => p.args.map((a) => `${typeName(a.type)} ${a.name};`),
  }));
}

function tracepoints(system: SystemInfo, glob: string): Listed[] {
  return system.tracepoints(glob).map((t) => ({
    name: `tracepoint:${t.category}:${t.name}`,
    // Like bpftrace, the common_* header fields every tracepoint shares are not listed.
    args: () =>
      system
        .tracepointFormat(t.category, t.name)
        ?.fields.filter((f) => !f.name.startsWith('common_'))
        .map((f) => `${f.cType} ${f.name};`) ?? [],
  }));
}

type UprobeType = 'uprobe' | 'uretprobe';

/** The functions of one file as `type:shown:function`; a file that is not an ELF object lists nothing when `quiet`. */
function fileUprobes(system: SystemInfo, type: UprobeType, shown: string, path: string, symbolGlob: string, quiet: boolean): Listed[] {
  const result = system.symbols(path);
  if (!result.ok) {
    if (quiet) return [];
    throw new KtError('binary-unreadable', result.error);
  }
  const re = globToRegExp(symbolGlob);
  // A uprobe's args are the function's parameters where the file's DWARF has them (bpftrace lists none for a uretprobe).
  const args = (n: string) => (): string[] => {
    if (type === 'uretprobe') return [];
    const params = system.functionParameters(path, n);
    return params.ok ? params.value.map((p) => `${p.cType} ${p.name}`) : [];
  };
  return [...new Set(result.value.map((f) => f.name))].filter((n) => re.test(n)).sort().map((n) => ({ name: `${type}:${shown}:${n}`, args: args(n) }));
}

/**
 * Uprobes of the files a pattern names, shown as bpftrace shows them: a path as written (a wildcard
 * in it matching files), a library or program name as the file it resolves to.
 */
function uprobes(system: SystemInfo, type: UprobeType, binary: string, symbolGlob: string, quiet = false): Listed[] {
  if (binary.includes('/') && hasWildcard(binary)) {
    const files = system.matchFiles(binary);
    if (!files.length && !quiet) throw new KtError('binary-unreadable', `no such binary or library: ${binary}`);
    return files.flatMap((f) => fileUprobes(system, type, f, system.resolveBinary(f) ?? f, symbolGlob, true));
  }
  const path = system.resolveBinary(binary);
  if (!path) {
    if (quiet) return [];
    throw new KtError('binary-unreadable', `no such binary or library: ${binary}`);
  }
  return fileUprobes(system, type, binary.includes('/') ? binary : path, path, symbolGlob, quiet);
}

/** -p: uprobes of the process's program and libraries whose /proc/PID/root path matches `binaryGlob`. */
function processUprobes(system: SystemInfo, pid: number, type: UprobeType, binaryGlob: string, symbolGlob: string): Listed[] {
  const objects = system.processObjects(pid);
  if (!objects.ok) throw new KtError('no-such-process', objects.error);
  const re = globToRegExp(binaryGlob);
  return objects.value.filter((f) => re.test(f)).flatMap((f) => fileUprobes(system, type, f, f, symbolGlob, true));
}

function everything(system: SystemInfo): Listed[] {
  return [
    ...tracepoints(system, '*:*'),
    ...system.rawTracepoints('*').map((n) => ({ name: `rawtracepoint:${n}`, args: () => [] })),
    ...SOFTWARE_EVENTS.map((e) => ({ name: `software:${e.name}:`, args: () => [] })),
    ...HARDWARE_EVENTS.map((e) => ({ name: `hardware:${e.name}:`, args: () => [] })),
    ...kafkaProbes(),
  ];
}

/**
 * The first character of a search that bpftrace's lexer has no token for, looked for before the
 * first ':' (after it bpftrace reads a path, in which a backslash escapes any character); shown
 * escaped when it is a control character.
 */
function invalidCharacter(pattern: string): string | undefined {
  const c = /[\\`'\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]/.exec(pattern.split(':', 1)[0]!)?.[0];
  if (c === undefined) return undefined;
  return /[\x00-\x1f\x7f-\x9f]/.test(c) ? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}` : c;
}

/** The probes matching `glob` (all when absent); with `pid`, the uprobes of that process's files too (-p). */
export function listProbes(glob: string | undefined, verbose: boolean, system: SystemInfo, pid?: number): string {
  const pattern = glob ?? '*';
  // bpftrace lexes the search as the language: a character the language has no use for is refused.
  const invalid = invalidCharacter(pattern);
  if (invalid !== undefined) throw new KtError('usage', `invalid character '${invalid}'`);
  const colon = pattern.indexOf(':');
  const provider = colon > 0 ? PROVIDER_ALIASES[pattern.slice(0, colon)] : undefined;
  const rest = colon > 0 ? pattern.slice(colon + 1) : '';
  let listed: Listed[];
  if (pid !== undefined && (provider === 'uprobe' || provider === 'uretprobe' || glob === undefined)) {
    const at = rest.lastIndexOf(':');
    const type = provider === 'uretprobe' ? 'uretprobe' : 'uprobe';
    listed = [...(glob === undefined ? everything(system) : []), ...processUprobes(system, pid, type, at > 0 ? rest.slice(0, at) : '*', at > 0 ? rest.slice(at + 1) : rest || '*')];
    return render(listed, verbose);
  }
  switch (provider) {
    case 'tracepoint':
      listed = tracepoints(system, rest.includes(':') ? rest : `${rest}:*`);
      break;
    case 'kafka':
      listed = kafkaProbes().filter((p) => globToRegExp(`kafka:${rest}`).test(p.name));
      break;
    case 'uprobe':
    case 'uretprobe': {
      const at = rest.lastIndexOf(':');
      listed = at > 0 ? uprobes(system, provider, rest.slice(0, at), rest.slice(at + 1)) : uprobes(system, provider, rest, '*');
      break;
    }
    default: {
      const re = globToRegExp(provider ? `${provider}:${rest}` : pattern);
      listed = everything(system).filter((p) => re.test(p.name) || (!provider && re.test(p.name.slice(p.name.indexOf(':') + 1))));
      // A wildcard provider with a file and a function (`*:./prog:*`): that file's uprobes too.
      const at = rest.lastIndexOf(':');
      if (!provider && colon > 0 && at > 0 && globToRegExp(pattern.slice(0, colon)).test('uprobe')) {
        listed.push(...uprobes(system, 'uprobe', rest.slice(0, at), rest.slice(at + 1), true));
      }
    }
  }
  return render(listed, verbose);
}

function render(listed: Listed[], verbose: boolean): string {
  return listed.map((p) => (verbose ? [p.name, ...p.args().map((a) => `    ${a}`)].join('\n') : p.name)).join('\n') + (listed.length ? '\n' : '');
}
