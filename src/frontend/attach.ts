// Attach points: provider aliases, the shape of each provider's attach point, and wildcard
// expansion against the system (tracepoints, raw tracepoints, binary symbols, USDT probes, kernel
// functions) and the kafka probe catalogue.
import type { AttachPoint } from './ast.js';
import type { ResolvedAttach, TracepointFormat } from './analysis.js';
import { type Diagnostic, didYouMean, error } from './diagnostics.js';
import { globToRegExp, hasWildcard } from './glob.js';
import type { KafkaCatalogue, KafkaProbeInfo } from './kafka-catalogue.js';
import { HARDWARE_EVENTS, PROVIDER_ALIASES, PROVIDER_NAMES, type Provider, SOFTWARE_EVENTS } from './providers.js';
import type { SystemInfo } from './system.js';

interface AttachContext {
  file: string;
  system: SystemInfo;
  /** The kafka catalogue, or the reason it could not be loaded. */
  kafka: () => KafkaCatalogue | string;
  diagnostics: Diagnostic[];
  /** Positional parameters, for `$N` in attach points (`i:ms:$1`, `BEG$1`). */
  positional: string[];
  /** -p: binaries resolve in this process's mount namespace. */
  pid?: number;
  /** The traced process's program (-c, -p), where watchpoint:FUNCTION+argN finds FUNCTION. */
  tracee?: string;
  /**
   * The block reads the `probe` builtin: bpftrace then expands its kprobes, as it does wildcards,
   * against the kernel's functions, and goes on without one that matches none.
   */
  expands?: boolean;
}

export interface AttachResolution {
  provider: Provider;
  resolved: ResolvedAttach[];
  /** Formats of the matched tracepoints. */
  formats: TracepointFormat[];
  /** Catalogue entries of the matched kafka probes. */
  kafka: KafkaProbeInfo[];
  /**
   * Why the attach point resolved to nothing where bpftrace goes on without it (a function a binary
   * does not export); it is an error instead when the script has nothing else to attach.
   */
  skipped?: Diagnostic;
}

function hint(candidate: string | undefined): string | undefined {
  return candidate === undefined ? undefined : `did you mean '${candidate}'?`;
}

const POSITIVE_INT = /^(?:0|[1-9][0-9_]*)$/;

function positiveInt(text: string): number | undefined {
  if (!POSITIVE_INT.test(text)) return undefined;
  const n = Number(text.replace(/_/g, ''));
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/** `name+offset` (offset decimal or hex). */
function splitOffset(text: string): { name: string; offset: number } | undefined {
  const m = /^([^+]+)(?:\+(0x[0-9a-fA-F]+|\d+))?$/.exec(text);
  if (!m) return undefined;
  return { name: m[1]!, offset: m[2] ? Number(m[2]) : 0 };
}

/** A 64-bit unsigned number in decimal, hex (0x) or octal (leading 0), as strtoull reads it. */
function unsignedLong(text: string): bigint | undefined {
  if (!/^(?:0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.test(text)) return undefined;
  const n = BigInt(/^0[0-7]+$/.test(text) ? `0o${text.slice(1)}` : text);
  return n < 1n << 64n ? n : undefined;
}

/**
 * The binary a watchpoint on a function argument names (ResolvedAttach `binary`) for the traced
 * program `tracee`: a path as written, as bpftrace names the probe (`watchpoint:./prog:f:4:w`), a
 * bare name as found in PATH; undefined when there is no such file.
 */
export function traceeBinary(tracee: string, system: SystemInfo): string | undefined {
  const found = system.resolveBinary(tracee);
  return found && tracee.includes('/') ? tracee : found;
}

/** The highest argN a watchpoint can take: x86_64 passes six arguments in registers. */
const MAX_WATCHPOINT_ARG = 5;

/** Functions bpftrace never puts a kretprobe on (a return probe takes locks they hold). */
const BANNED_KRETPROBES = new Set(['_raw_spin_lock', '_raw_spin_lock_irqsave', '_raw_spin_unlock_irqrestore', 'queued_spin_lock_slowpath']);

/**
 * Characters an attach point may have (a path of PATH_MAX bytes fits): longer ones are refused
 * before their names are looked up or turned into patterns.
 */
export const MAX_ATTACH_POINT = 4096;

/** `$N` replaced by the Nth positional parameter, as bpftrace does in attach points ("" when not given). */
function withPositionals(ap: AttachPoint, positional: string[]): AttachPoint {
  if (!ap.raw.includes('$')) return ap;
  const sub = (s: string): string => s.replace(/\$(\d+)/g, (_, n: string) => positional[Number(n) - 1] ?? '');
  return { ...ap, provider: sub(ap.provider), parts: ap.parts.map(sub), raw: sub(ap.raw) };
}

/** Resolves one attach point; reports problems into ctx.diagnostics and returns undefined on error. */
export function resolveAttachPoint(written: AttachPoint, ctx: AttachContext): AttachResolution | undefined {
  const ap = withPositionals(written, ctx.positional);
  const report = (message: string, h?: string): undefined => {
    ctx.diagnostics.push(error(ctx.file, ap.loc, message, h));
    return undefined;
  };
  if (ap.raw.length > MAX_ATTACH_POINT) return report(`attach point too long (${ap.raw.length} characters, at most ${MAX_ATTACH_POINT})`);
  const provider = PROVIDER_ALIASES[ap.provider];
  if (!provider) return report(`unknown probe provider '${ap.provider}'`, hint(didYouMean(ap.provider, PROVIDER_NAMES)));
  const parts = ap.parts;
  const done = (resolved: ResolvedAttach[], formats: TracepointFormat[] = [], kafka: KafkaProbeInfo[] = []): AttachResolution => ({
    provider,
    resolved,
    formats,
    kafka,
  });

  switch (provider) {
    case 'BEGIN':
    case 'END':
      if (parts.length) return report(`${provider} takes no arguments: write '${provider}'`);
      return done([{ type: provider === 'BEGIN' ? 'begin' : 'end' }]);

    case 'tracepoint': {
      if (parts.length !== 2 || !parts[0] || !parts[1]) {
        return report(`tracepoint probes need a category and a name: tracepoint:CATEGORY:NAME (e.g. tracepoint:syscalls:sys_enter_openat)`);
      }
      const [category, name] = parts as [string, string];
      if (/[^\w*?{},-]/.test(category + name)) return report(`invalid tracepoint name ${category}:${name}`);
      const matches = ctx.system.tracepoints(`${category}:${name}`);
      if (!matches.length) {
        if (hasWildcard(category) || hasWildcard(name)) return report(`no tracepoint matches ${category}:${name}`);
        const all = ctx.system.tracepoints('*:*').map((t) => `${t.category}:${t.name}`);
        return report(`tracepoint not found: ${category}:${name}`, hint(didYouMean(`${category}:${name}`, all)));
      }
      const formats: TracepointFormat[] = [];
      for (const m of matches) {
        const format = ctx.system.tracepointFormat(m.category, m.name);
        if (!format) return report(`cannot read the format of tracepoint ${m.category}:${m.name}`);
        formats.push(format);
      }
      return done(
        matches.map((m) => ({ type: 'tracepoint', category: m.category, name: m.name })),
        formats,
      );
    }

    case 'rawtracepoint': {
      if (parts.length < 1 || parts.length > 2 || !parts[parts.length - 1]) {
        return report(`rawtracepoint probes need a tracepoint name: rawtracepoint:NAME (e.g. rawtracepoint:sched_switch)`);
      }
      const name = parts[parts.length - 1]!;
      const matches = ctx.system.rawTracepoints(name);
      if (!matches.length) {
        if (hasWildcard(name)) return report(`no raw tracepoint matches ${name}`);
        return report(`raw tracepoint not found: ${name}`, hint(didYouMean(name, ctx.system.rawTracepoints('*'))));
      }
      return done(matches.map((n) => ({ type: 'rawtracepoint', name: n })));
    }

    case 'uprobe':
    case 'uretprobe': {
      if (parts.length !== 2 || !parts[0] || !parts[1]) {
        return report(`${provider} probes need a binary and a function: ${provider}:BINARY:FUNCTION (e.g. ${provider}:/bin/bash:readline)`);
      }
      const binary = ctx.system.resolveBinary(parts[0], ctx.pid);
      if (!binary) return report(`binary not found: ${parts[0]} (give a path, a program in PATH, or a library name like libc)`);
      const target = splitOffset(parts[1]);
      if (!target) return report(`invalid ${provider} target '${parts[1]}': expected FUNCTION or FUNCTION+OFFSET`);
      if (provider === 'uretprobe' && target.offset) return report(`uretprobe cannot take an offset: write ${provider}:${parts[0]}:${target.name}`);
      const symbols = ctx.system.symbols(binary);
      if (!symbols.ok) return report(`cannot read symbols of ${binary}: ${symbols.error}`);
      let matches = symbols.value;
      if (hasWildcard(target.name)) {
        const re = globToRegExp(target.name);
        matches = matches.filter((s) => re.test(s.name));
        if (!matches.length) return report(`no function of ${binary} matches ${target.name}`);
      } else {
        const hit = matches.find((s) => s.name === target.name);
        const address = hit ? undefined : /^(?:0x[0-9a-fA-F]+|\d+)$/.test(target.name) ? Number(target.name) : undefined;
        if (address !== undefined) {
          // An address in the binary, as bpftrace takes it: inside a function, at its offset there.
          const within = matches.find((s) => address >= s.address && address < s.address + Math.max(s.size, 1));
          if (!within) return report(`Could not resolve address: ${parts[0]}:0x${address.toString(16)}`);
          return done([{ type: provider, binary, symbol: within.name, offset: within.fileOffset + (address - within.address) + target.offset }]);
        }
        if (hit && target.offset && hit.size > 0 && target.offset >= hit.size) {
          return report(`Offset outside the function bounds ('${hit.name}' size is ${hit.size})`);
        }
        if (!hit) {
          // bpftrace looks such a name up among the binary's symbols and attaches to what it finds:
          // nothing, and the script runs without it (sslsnoop.bt's static OpenSSL functions).
          const why = error(ctx.file, ap.loc, `function '${target.name}' not found in ${binary}`, hint(didYouMean(target.name, matches.map((s) => s.name))));
          return { ...done([]), skipped: why };
        }
        matches = [hit];
      }
      if (target.offset && matches.length > 1) return report(`an offset cannot be combined with a wildcard in ${ap.raw}`);
      return done(
        matches.map((s) => ({ type: provider, binary, symbol: s.name, offset: s.fileOffset + target.offset })),
      );
    }

    case 'usdt': {
      if (parts.length < 2 || parts.length > 3 || parts.some((p) => !p)) {
        return report(`usdt probes need a binary and a probe: usdt:BINARY:[PROVIDER:]NAME`);
      }
      const binary = ctx.system.resolveBinary(parts[0]!, ctx.pid);
      if (!binary) return report(`binary not found: ${parts[0]}`);
      const probes = ctx.system.usdtProbes(binary);
      if (!probes.ok) return report(`cannot read USDT probes of ${binary}: ${probes.error}`);
      const providerRe = globToRegExp(parts.length === 3 ? parts[1]! : '*');
      const nameGlob = parts[parts.length - 1]!;
      const nameRe = globToRegExp(nameGlob);
      const seen = new Set<string>();
      const matches = probes.value.filter((p) => {
        const key = `${p.provider}:${p.name}`;
        if (!providerRe.test(p.provider) || !nameRe.test(p.name) || seen.has(key)) return false;
        seen.add(key);
        return true;
      });
      if (!matches.length) {
        const wanted = parts.slice(1).join(':');
        if (!probes.value.length) return report(`${binary} has no USDT probes`);
        return report(
          `USDT probe '${wanted}' not found in ${binary}`,
          hint(didYouMean(wanted, probes.value.map((p) => (parts.length === 3 ? `${p.provider}:${p.name}` : p.name)))),
        );
      }
      return done(matches.map((p) => ({ type: 'usdt', binary, provider: p.provider, name: p.name })));
    }

    case 'profile':
    case 'interval': {
      const example = provider === 'profile' ? 'profile:hz:99' : 'interval:s:1';
      if (parts.length !== 2) return report(`${provider} probes need a unit and a count: ${provider}:UNIT:N with UNIT hz, s, ms or us (e.g. ${example})`);
      const [unit, count] = parts as [string, string];
      if (unit !== 'hz' && unit !== 's' && unit !== 'ms' && unit !== 'us') {
        return report(`unknown ${provider} unit '${unit}' (expected hz, s, ms or us)`, hint(didYouMean(unit, ['hz', 's', 'ms', 'us'])));
      }
      const value = positiveInt(count);
      if (value === undefined) return report(`${provider} count must be a positive integer, got '${count}'`);
      return done([{ type: provider, unit, value }]);
    }

    case 'software':
    case 'hardware': {
      const table = provider === 'software' ? SOFTWARE_EVENTS : HARDWARE_EVENTS;
      if (parts.length < 1 || parts.length > 2 || !parts[0]) {
        return report(`${provider} probes need an event: ${provider}:EVENT[:PERIOD] (e.g. ${provider}:${table[0]!.name}:1000000)`);
      }
      const event = table.find((e) => e.name === parts[0] || e.aliases.includes(parts[0]!));
      if (!event) {
        return report(`unknown ${provider} event '${parts[0]}'`, hint(didYouMean(parts[0]!, table.flatMap((e) => [e.name, ...e.aliases]))));
      }
      let period = event.period;
      if (parts.length === 2) {
        const p = positiveInt(parts[1]!);
        if (p === undefined) return report(`${provider} event period must be a positive integer, got '${parts[1]}'`);
        period = p;
      }
      return done([{ type: provider, event: event.name, period }]);
    }

    case 'kprobe':
    case 'kretprobe': {
      // kprobe:FUNC or kprobe:FUNC+OFFSET, with bpftrace 0.17's message for any other shape.
      const form = `${provider}:FUNCTION${provider === 'kprobe' ? '[+OFFSET]' : ''}`;
      if (parts.length !== 1) return report(`${provider} probe type requires 1 argument`, `the form is ${form}`);
      if (!parts[0]) return report(`${provider} probes need a kernel function: ${form}`);
      const target = splitOffset(parts[0]);
      if (!target || !/^[A-Za-z0-9_.*?{},]+$/.test(target.name)) return report(`invalid kernel function '${parts[0]}'`);
      if (provider === 'kretprobe' && target.offset) return report(`kretprobe cannot take an offset: write kretprobe:${target.name}`);
      let funcs = [target.name];
      if (hasWildcard(target.name)) {
        if (target.offset) return report(`an offset cannot be combined with a wildcard in ${ap.raw}`);
        funcs = ctx.system.kernelFunctions(target.name);
        if (!funcs.length) return report(`no kernel function matches ${target.name}`);
      } else if (ctx.expands && !target.offset && ctx.system.kernelFunctions(target.name).length === 0 && ctx.system.kernelFunctions('*').length > 0) {
        const why = error(ctx.file, ap.loc, `${target.name} is not traceable (either non-existing, inlined, or marked as "notrace")`);
        return { ...done([]), skipped: why };
      }
      // bpftrace refuses these before attaching anything: a kretprobe on them can deadlock the kernel.
      // Its words carry an "error: " of their own (its tests look for "error: kretprobe:...").
      const banned = provider === 'kretprobe' ? funcs.find((f) => BANNED_KRETPROBES.has(f)) : undefined;
      if (banned) return report(`error: kretprobe:${banned} can't be used as it might lock up your system.`);
      return done(funcs.map((func) => ({ type: provider, func, offset: target.offset })));
    }

    case 'fentry':
    case 'fexit': {
      if (parts.length < 1 || parts.length > 2 || !parts[parts.length - 1]) {
        return report(`${provider} probes need a kernel function: ${provider}:FUNCTION (or ${provider}:MODULE:FUNCTION)`);
      }
      const name = parts[parts.length - 1]!;
      if (!/^[A-Za-z0-9_*?{},]+$/.test(name)) return report(`invalid kernel function '${name}'`);
      const funcs = ctx.system.kernelFunctions(name);
      if (!funcs.length) {
        if (hasWildcard(name)) return report(`no kernel function matches ${name}`);
        const all = ctx.system.kernelFunctions('*');
        // Without kernel BTF nothing can be checked here; loading will say what is missing.
        if (!all.length) return done([{ type: provider, func: name }]);
        return report(`kernel function not found in BTF: ${name}`, hint(didYouMean(name, all)));
      }
      return done(funcs.map((func) => ({ type: provider, func })));
    }

    case 'watchpoint':
    case 'asyncwatchpoint': {
      // bpftrace 0.17's checks, in its order and words.
      if (parts.length !== 3) return report(`${provider} probe type requires 3 arguments`);
      const [where, len, mode] = parts as [string, string, string];
      let func: { name: string; arg: number } | undefined;
      let address: bigint | undefined;
      if (where.includes('+')) {
        const pieces = where.split('+').filter((p) => p !== '');
        if (pieces.length !== 2) return report('Invalid function/address argument');
        const [name, argText] = pieces as [string, string];
        if (argText.length <= 3 || !argText.startsWith('arg')) return report('Invalid function argument');
        const arg = unsignedLong(argText.slice(3));
        if (arg === undefined) return report(`invalid ${provider} '${ap.raw}': expected ${provider}:FUNCTION+argN:LENGTH:MODE`);
        func = { name, arg: Number(arg) };
      } else {
        address = unsignedLong(where);
        if (address === undefined) return report(`invalid ${provider} '${ap.raw}': expected ${provider}:ADDRESS:LENGTH:MODE`);
      }
      const length = unsignedLong(len);
      if (length === undefined) return report(`invalid ${provider} '${ap.raw}': expected ${provider}:${func ? 'FUNCTION+argN' : 'ADDRESS'}:LENGTH:MODE`);
      if (func) {
        if (ctx.tracee === undefined) return report('-p PID or -c CMD required for watchpoint');
        if (func.arg > MAX_WATCHPOINT_ARG) return report(`x86_64 doesn't support arg${func.arg}`);
      } else if (provider === 'asyncwatchpoint') {
        return report(`${provider} requires a function name`);
      } else if (address === 0n) {
        return report('watchpoint must be attached to a non-zero address');
      }
      if (![1n, 2n, 4n, 8n].includes(length)) return report('watchpoint length must be one of (1,2,4,8)');
      const sorted = [...mode].sort().join('');
      if (!sorted || /[^rwx]/.test(sorted)) return report('watchpoint mode must be combination of (r,w,x)');
      if (/(.)\1/.test(sorted)) return report('watchpoint modes may not be duplicated');
      // x86 debug registers cannot watch reads alone nor mix execution with data (Intel SDM vol. 3, 17.2.4).
      if (['r', 'rx', 'wx', 'rwx'].includes(sorted)) return report(`invalid watchpoint mode: ${sorted}`);
      if (!func) return done([{ type: 'watchpoint', address: address!.toString(), length: Number(length), mode: sorted }]);
      const found = ctx.system.resolveBinary(ctx.tracee!);
      const binary = traceeBinary(ctx.tracee!, ctx.system);
      if (!found || !binary) return report(`binary not found: ${ctx.tracee}`);
      const symbols = ctx.system.symbols(found);
      if (!symbols.ok) return report(`cannot read symbols of ${binary}: ${symbols.error}`);
      const re = globToRegExp(func.name);
      const matches = symbols.value.filter((s) => re.test(s.name));
      if (!matches.length) {
        if (hasWildcard(func.name)) return report(`no function of ${binary} matches ${func.name}`);
        return report(`function '${func.name}' not found in ${binary}`, hint(didYouMean(func.name, symbols.value.map((s) => s.name))));
      }
      const async = provider === 'asyncwatchpoint';
      return done(
        matches.map((s) => ({ type: 'argwatchpoint', async, binary, symbol: s.name, offset: s.fileOffset, arg: func.arg, length: Number(length), mode: sorted })),
      );
    }

    case 'kafka': {
      if (parts.length !== 1 || !parts[0]) return report(`kafka probes need a name: kafka:NAME (e.g. kafka:produce, kafka:fetch, kafka:*)`);
      const catalogue = ctx.kafka();
      if (typeof catalogue === 'string') return report(catalogue);
      const re = globToRegExp(parts[0]);
      const matches = catalogue.probes.filter((p) => re.test(p.name));
      if (!matches.length) {
        if (hasWildcard(parts[0])) return report(`no kafka probe matches ${parts[0]}`);
        return report(`unknown kafka probe '${parts[0]}'`, hint(didYouMean(parts[0], catalogue.probes.map((p) => p.name))));
      }
      return done(
        matches.map((p) => ({ type: 'kafka', name: p.name })),
        [],
        matches,
      );
    }
  }
}

