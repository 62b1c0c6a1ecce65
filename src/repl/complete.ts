// Tab completion: providers and probe names outside a block; builtins, functions, `args.` fields of
// the probe being typed and map names inside one; command names and their arguments after a `.`.
import type { KafkaCatalogue } from '../frontend/kafka-catalogue.js';
import { BUILTINS } from '../frontend/builtins.js';
import { FUNCTION_SIGNATURES } from '../frontend/functions.js';
import { HARDWARE_EVENTS, PROVIDER_ALIASES, PROVIDER_NAMES, SOFTWARE_EVENTS } from '../frontend/providers.js';
import type { SystemInfo } from '../frontend/system.js';
import { enclosingAttachPoints, scanInput } from './input.js';

export interface CompletionSource {
  system: SystemInfo;
  /** The kafka catalogue, or undefined when it cannot be read. */
  kafka: () => KafkaCatalogue | undefined;
  /** Names of the live maps (`@x`). */
  maps: () => string[];
  /** Numbers of the attached blocks. */
  blocks: () => number[];
  /** The REPL's commands, without the dot. */
  commands: string[];
}

type Completion = [string[], string];

const TIME_UNITS = ['s:', 'ms:', 'us:', 'hz:'];

function matching(candidates: Iterable<string>, prefix: string): string[] {
  return [...new Set(candidates)].filter((c) => c.startsWith(prefix)).sort();
}

/** Probe names for a partially typed attach point (`prov`, `prov:`, `tracepoint:cat:`...). */
function completeProbe(token: string, src: CompletionSource): string[] {
  const colon = token.indexOf(':');
  if (colon < 0) return matching([...PROVIDER_NAMES.map((p) => (p === 'BEGIN' || p === 'END' ? p : `${p}:`))], token);
  const written = token.slice(0, colon);
  const provider = PROVIDER_ALIASES[written];
  const rest = token.slice(colon + 1);
  const full = (names: string[]) => matching(names.map((n) => `${written}:${n}`), token);
  switch (provider) {
    case 'tracepoint': {
      const second = rest.indexOf(':');
      if (second < 0) return full(src.system.tracepoints('*:*').map((t) => `${t.category}:`));
      const category = rest.slice(0, second);
      return full(src.system.tracepoints(`${category}:*`).map((t) => `${t.category}:${t.name}`));
    }
    case 'rawtracepoint':
      return full(src.system.rawTracepoints('*'));
    case 'kafka':
      return full(src.kafka()?.probes.map((p) => p.name) ?? []);
    case 'software':
      return full(SOFTWARE_EVENTS.flatMap((e) => [e.name, ...e.aliases]).map((n) => `${n}:`));
    case 'hardware':
      return full(HARDWARE_EVENTS.flatMap((e) => [e.name, ...e.aliases]).map((n) => `${n}:`));
    case 'interval':
    case 'profile':
      return full(TIME_UNITS);
    default:
      return [];
  }
}

/** The `args` fields of the probe block being typed: tracepoint formats or the kafka catalogue. */
function argFields(text: string, src: CompletionSource): string[] {
  const fields: string[] = [];
  for (const point of enclosingAttachPoints(text)) {
    const parts = point.split(':');
    const provider = PROVIDER_ALIASES[parts[0] ?? ''];
    if (provider === 'tracepoint' && parts.length === 3) {
      for (const t of src.system.tracepoints(`${parts[1]}:${parts[2]}`)) {
        for (const f of src.system.tracepointFormat(t.category, t.name)?.fields ?? []) {
          if (!f.name.startsWith('common_')) fields.push(f.name);
        }
      }
    } else if (provider === 'kafka' && parts.length === 2) {
      const probe = src.kafka()?.probes.find((p) => p.name === parts[1]);
      for (const a of probe?.args ?? []) fields.push(a.name);
    }
  }
  return fields;
}

function completeCommand(line: string, src: CompletionSource): Completion {
  const m = /^\.(\w*)(\s+)?(.*)$/.exec(line)!;
  const [, name = '', space, arg = ''] = m;
  if (space === undefined) return [matching(src.commands, name).map((c) => `.${c}`), line];
  switch (name) {
    case 'print':
    case 'clear':
      return [matching(src.maps(), arg), arg];
    case 'detach':
      return [matching(src.blocks().map(String), arg), arg];
    case 'list':
      return [completeProbe(arg, src), arg];
    default:
      return [[], arg];
  }
}

/**
 * Completes `line` (the current line up to the cursor), given `pending`: the lines of the block
 * typed before it.
 */
export function complete(pending: string, line: string, src: CompletionSource): Completion {
  if (pending === '' && line.startsWith('.')) return completeCommand(line, src);
  const text = pending + line;
  const state = scanInput(text);
  if (state.open) return [[], ''];
  if (state.depth === 0) {
    const token = /[^\s,{}]*$/.exec(line)![0];
    return [completeProbe(token, src), token];
  }
  const token = /(?:args->)?[@$\w.]*$/.exec(line)![0];
  if (token.startsWith('@')) {
    const inText = text.match(/@\w*/g) ?? [];
    return [matching([...src.maps(), ...inText.filter((m) => m !== token)], token), token];
  }
  const args = /^args(?:\.|->)(\w*)$/.exec(token);
  if (args) {
    const prefix = token.slice(0, token.length - args[1]!.length);
    return [matching(argFields(text, src), args[1]!).map((f) => prefix + f), token];
  }
  const functions = Object.keys(FUNCTION_SIGNATURES).map((f) => `${f}(`);
  return [matching([...Object.keys(BUILTINS), ...functions], token), token];
}
