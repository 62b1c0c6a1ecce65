// The probes this machine offers, as bpftrace lists them (`provider:target`), with their args when
// verbose: `kafkatrace -l [GLOB]` and the REPL's `.list`.
import { kafkaCatalogue } from './kafka-catalogue.js';
import { globToRegExp } from './glob.js';
import { HARDWARE_EVENTS, PROVIDER_ALIASES, SOFTWARE_EVENTS } from './providers.js';
import type { SystemInfo } from './system.js';
import { typeName } from './types.js';
import { KtError } from '../errors.js';


interface Listed {
  name: string;
  args: () => string[];
}

function kafkaProbes(): Listed[] {
  return kafkaCatalogue().probes.map((p) => ({
    name: `kafka:${p.name}`,
    args: () => p.args.map((a) => `${typeName(a.type)} ${a.name}`),
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
        .map((f) => `${f.cType} ${f.name}`) ?? [],
  }));
}

function uprobes(system: SystemInfo, binary: string, symbolGlob: string): Listed[] {
  const path = system.resolveBinary(binary);
  if (!path) throw new KtError('binary-unreadable', `no such binary or library: ${binary}`);
  const result = system.symbols(path);
  if (!result.ok) throw new KtError('binary-unreadable', result.error);
  const re = globToRegExp(symbolGlob);
  return [...new Set(result.value.map((f) => f.name))].filter((n) => re.test(n)).sort().map((n) => ({ name: `uprobe:${path}:${n}`, args: () => [] }));
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

export function listProbes(glob: string | undefined, verbose: boolean, system: SystemInfo): string {
  const pattern = glob ?? '*';
  const colon = pattern.indexOf(':');
  const provider = colon > 0 ? PROVIDER_ALIASES[pattern.slice(0, colon)] : undefined;
  const rest = colon > 0 ? pattern.slice(colon + 1) : '';
  let listed: Listed[];
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
      listed = at > 0 ? uprobes(system, rest.slice(0, at), rest.slice(at + 1)) : uprobes(system, rest, '*');
      break;
    }
    default: {
      const re = globToRegExp(provider ? `${provider}:${rest}` : pattern);
      listed = everything(system).filter((p) => re.test(p.name) || (!provider && re.test(p.name.slice(p.name.indexOf(':') + 1))));
    }
  }
  return listed.map((p) => (verbose ? [p.name, ...p.args().map((a) => `    ${a};`)].join('\n') : p.name)).join('\n') + (listed.length ? '\n' : '');
}
