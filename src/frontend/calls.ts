// Function calls: arity, argument kinds and result types of every function, and the aggregations
// that may only be assigned to maps.
import type { Call, Expr, KType, Loc, MapRef, MapValueKind } from './ast.js';
import { FUNCTION_SIGNATURES, MAP_FUNCTIONS, MISSING_FUNCTIONS } from './functions.js';
import { type MapTable, plural } from './map-table.js';
import { addressBytes } from './inet.js';
import { parseFormat, specMismatch } from './printf-format.js';
import type { Provider } from './providers.js';
import { SIGNALS, signalNumber } from './signals.js';
import type { ElfObject } from './elf.js';
import type { SystemInfo } from './system.js';
import { INT64, NONE, UINT64, isInt, isPtr, isStr, storageType, typeName } from './types.js';

/** A type, or undefined when an error was already reported. */
export type T = KType | undefined;

/** What call checking needs from the analyzer. */
export interface CallHost {
  /** Where the probe runs: kafka probes run in user space. */
  readonly where: 'kernel' | 'user';
  readonly providers: Provider[];
  readonly maps: MapTable;
  expr(e: Expr, statement?: boolean): T;
  /** Types an expression that may also be a struct whose members are read (`*p`, `p->embedded`): sizeof()'s argument. */
  place(e: Expr): T;
  /** Types the first argument of str(), where a missing positional parameter is an empty string. */
  strArgument(e: Expr): T;
  err(loc: Loc, message: string, hint?: string): undefined;
  suggest(name: string, candidates: Iterable<string>): string | undefined;
  /** Types a map reference's keys and checks them against the map's key shape. */
  mapKeys(ref: MapRef): void;
  constInt(e: Expr): number | undefined;
  /** Notes a call of system() or signal(), reporting it when --unsafe was not given. */
  requireUnsafe(c: Call): void;
  /** The positional parameters ($1 is index 0). */
  readonly positional: string[];
  /** The machine that kaddr(), uaddr() and cgroupid() are resolved on. */
  readonly system: SystemInfo;
  /** The binaries of the probe's uprobe, uretprobe and usdt attach points. */
  readonly binaries: string[];
  /** The type a cast or sizeof() names (`uint8`, `struct task_struct`, `int32 *`). */
  namedType(written: string, loc: Loc, where: 'cast' | 'sizeof'): T;
  /** Notes what a kaddr(), uaddr() or cgroupid() call is on this machine. */
  resolved(c: Call, value: bigint): void;
}

/** Functions that need the kernel: kafka probes, which run in user space, cannot call them. */
const KERNEL_ONLY = ['uptr', 'kptr', 'pton', 'strerror', 'ksym', 'usym', 'kaddr', 'uaddr', 'kstack', 'ustack', 'signal', 'buf', 'join', 'macaddr', 'reg', 'debugf', 'unwatch'];

/** What bpf_trace_printk(), which debugf() calls, converts: integers, pointers, characters, strings. */
const DEBUGF_CONVERSIONS = 'diuxps';

/** Probes whose context holds the registers that reg() reads. */
const REGISTER_PROVIDERS: Provider[] = ['kprobe', 'kretprobe', 'uprobe', 'uretprobe', 'usdt', 'profile', 'software', 'hardware'];

/** x86-64 register names as reg() takes them (bpftrace's, which are the kernel's pt_regs names). */
export const REGISTERS = ['r15', 'r14', 'r13', 'r12', 'bp', 'bx', 'r11', 'r10', 'r9', 'r8', 'ax', 'cx', 'dx', 'si', 'di', 'orig_ax', 'ip', 'cs', 'flags', 'sp', 'ss'];

export function checkAggregation(h: CallHost, call: Call): MapValueKind | undefined {
  const types = call.args.map((a) => h.expr(a));
  const arity = call.name === 'count' ? 0 : call.name === 'lhist' ? 4 : 1;
  if (call.args.length !== arity) {
    return h.err(call.loc, `${call.name}() takes ${plural(arity, 'argument')}, got ${call.args.length}: ${FUNCTION_SIGNATURES[call.name]}`);
  }
  if (arity === 0) return { kind: 'count' };
  const v = types[0];
  if (v && !isInt(v)) return h.err(call.args[0]!.loc, `${call.name}() takes an integer, but the argument is ${typeName(v)}`);
  const signed = v && isInt(v) ? v.signed : true;
  switch (call.name) {
    case 'sum':
    case 'avg':
    case 'min':
    case 'max':
    case 'stats':
      return { kind: call.name, signed };
    case 'hist':
      return { kind: 'hist' };
    default: {
      const bounds: number[] = [];
      for (const a of call.args.slice(1)) {
        const n = h.constInt(a);
        if (n === undefined) return h.err(a.loc, `lhist() bounds must be integer literals: ${FUNCTION_SIGNATURES.lhist}`);
        bounds.push(n);
      }
      const [min, max, step] = bounds as [number, number, number];
      if (min < 0) return h.err(call.args[1]!.loc, `lhist() min must not be negative, got ${min}`);
      if (max <= min) return h.err(call.args[2]!.loc, `lhist() max (${max}) must be greater than min (${min})`);
      if (step <= 0) return h.err(call.args[3]!.loc, `lhist() step must be positive, got ${step}`);
      if ((max - min) / step > 1000) return h.err(call.args[3]!.loc, `lhist() would have ${Math.ceil((max - min) / step)} buckets; at most 1000 are allowed`);
      return { kind: 'lhist', min, max, step };
    }
  }
}

/**
 * `str($N + k)`: as in bpftrace, the text of parameter N from byte k on (k a constant, at most its
 * length); the argument becomes that string. 'error' once reported, undefined when not this form.
 */
function positionalSuffix(h: CallHost, c: Call): 'error' | undefined {
  const a = c.args[0]!;
  if (a.kind !== 'binary') return undefined;
  const param = a.left.kind === 'positional' ? a.left : a.right.kind === 'positional' ? a.right : undefined;
  if (!param) return undefined;
  const offset = param === a.left ? a.right : a.left;
  const text = Buffer.from(h.positional[param.index - 1] ?? '');
  if (a.op !== '+' || offset.kind !== 'int' || offset.value > BigInt(text.length)) {
    h.err(a.loc, `only addition of a single constant less or equal to the length of $${param.index} (which is ${text.length}) is allowed inside str()`);
    return 'error';
  }
  c.args[0] = { kind: 'str', value: text.subarray(Number(offset.value)).toString(), loc: a.loc };
  return undefined;
}

export function checkCall(h: CallHost, c: Call, statement: boolean): T {
  const sig = FUNCTION_SIGNATURES[c.name];
  if (!sig) {
    for (const a of c.args) h.expr(a);
    const missing = MISSING_FUNCTIONS[c.name];
    if (missing) return h.err(c.loc, missing);
    return h.err(c.loc, `unknown function '${c.name}'`, h.suggest(c.name, Object.keys(FUNCTION_SIGNATURES)));
  }
  if (MAP_FUNCTIONS.has(c.name)) {
    for (const a of c.args) h.expr(a);
    return h.err(c.loc, `${c.name}() must be assigned to a map, e.g. @name = ${c.name}(${c.name === 'count' ? '' : '...'})`);
  }
  if (h.where === 'user' && KERNEL_ONLY.includes(c.name)) {
    for (const a of c.args) h.expr(a);
    return h.err(c.loc, `${c.name}() is not available in kafka probes, which run in user space on decoded Kafka events`);
  }
  const arity = (min: number, max: number): boolean => {
    if (c.args.length >= min && c.args.length <= max) return true;
    const expected = min === max ? plural(min, 'argument') : max === Infinity ? `at least ${plural(min, 'argument')}` : `${min} to ${max} arguments`;
    h.err(c.loc, `${c.name}() takes ${expected}, got ${c.args.length}: ${sig}`);
    for (const a of c.args) h.expr(a);
    return false;
  };
  // Actions like printf() are statements: using one as a value is an error.
  const noValue = (): T => (statement ? NONE : h.err(c.loc, `${c.name}() returns no value`));
  const needInt = (i: number): T => {
    const a = c.args[i]!;
    const t = h.expr(a);
    if (t && !isInt(t)) return h.err(a.loc, `argument ${i + 1} of ${c.name}() must be an integer, but it is ${typeName(t)}: ${sig}`);
    return t;
  };
  const needLiteralString = (i: number, what: string): string | undefined => {
    const a = c.args[i]!;
    h.expr(a);
    if (a.kind !== 'str') {
      h.err(a.loc, `${what} of ${c.name}() must be a string literal: ${sig}`);
      return undefined;
    }
    return a.value;
  };
  const needWholeMap = (i: number): MapRef | undefined => {
    const a = c.args[i]!;
    if (a.kind !== 'map') {
      h.expr(a);
      h.err(a.loc, `${c.name}() takes a map: ${sig}`);
      return undefined;
    }
    a.type = NONE;
    const state = h.maps.touch(a, h.where);
    if (a.keys.length) {
      for (const k of a.keys) h.expr(k);
      h.err(a.loc, `${c.name}() acts on a whole map: write ${a.name} without keys`);
      return undefined;
    }
    if (!state.value) {
      h.err(a.loc, `undefined map ${a.name}`, h.suggest(a.name, h.maps.names()));
      return undefined;
    }
    return a;
  };

  switch (c.name) {
    case 'printf':
    case 'cat':
    case 'system': {
      if (!arity(1, Infinity)) return undefined;
      if (c.name === 'system') h.requireUnsafe(c);
      const fmt = needLiteralString(0, 'the format');
      const types = c.args.slice(1).map((a) => h.expr(a));
      if (fmt === undefined) return noValue();
      const parsed = parseFormat(fmt);
      if (!parsed.ok) return h.err(c.args[0]!.loc, `${c.name}(): ${parsed.error}`);
      if (parsed.specs.length !== types.length) {
        return h.err(
          c.loc,
          `${c.name}(): the format has ${plural(parsed.specs.length, 'conversion')} but ${plural(types.length, 'argument')} ${types.length === 1 ? 'was' : 'were'} given`,
        );
      }
      parsed.specs.forEach((spec, i) => {
        const t = types[i];
        if (!t) return;
        const why = specMismatch(spec, t);
        if (why) h.err(c.args[i + 1]!.loc, `${c.name}(): ${why}`);
      });
      return noValue();
    }
    case 'debugf': {
      if (!arity(1, Infinity)) return undefined;
      const fmt = needLiteralString(0, 'the format');
      const types = c.args.slice(1).map((a) => h.expr(a));
      if (fmt === undefined) return noValue();
      const parsed = parseFormat(fmt);
      if (!parsed.ok) return h.err(c.args[0]!.loc, `debugf(): ${parsed.error}`);
      const bad = parsed.specs.find((s) => !DEBUGF_CONVERSIONS.includes(s.conversion));
      if (bad) return h.err(c.args[0]!.loc, `debugf(): bpf_trace_printk has no ${bad.text}; it converts %d %i %u %x %p %s`);
      if (parsed.specs.length !== types.length) {
        return h.err(c.loc, `debugf(): the format has ${plural(parsed.specs.length, 'conversion')} but ${plural(types.length, 'argument')} ${types.length === 1 ? 'was' : 'were'} given`);
      }
      parsed.specs.forEach((spec, i) => {
        const t = types[i];
        if (!t) return;
        const why = t.kind === 'int' || t.kind === 'ptr' || t.kind === 'str' ? specMismatch(spec, t) : `debugf() prints integers and strings, but the argument is ${typeName(t)}`;
        if (why) h.err(c.args[i + 1]!.loc, `debugf(): ${why}`);
      });
      return noValue();
    }
    case 'print': {
      if (!arity(1, 3)) return undefined;
      const a = c.args[0]!;
      if (a.kind === 'map' && a.keys.length === 0) {
        needWholeMap(0);
        for (let i = 1; i < c.args.length; i++) {
          needInt(i);
          const n = h.constInt(c.args[i]!);
          if (n === undefined || n < 0) h.err(c.args[i]!.loc, `print(): ${i === 1 ? 'top' : 'div'} must be a non-negative integer literal`);
        }
        return noValue();
      }
      if (c.args.length > 1) {
        for (const x of c.args) h.expr(x);
        return h.err(c.loc, `print() of a value takes 1 argument (top and div apply to maps): ${sig}`);
      }
      const t = h.expr(a);
      if (t && t.kind === 'none') h.err(a.loc, 'print() was given a value of no type');
      // bpftrace 0.17 refuses to print a pointer; a map or a cast prints its address.
      if (t && isPtr(t)) h.err(a.loc, `print() cannot print a pointer (${typeName(t)}): cast it, print((uint64)...)`);
      return noValue();
    }
    case 'time':
      if (!arity(0, 1)) return undefined;
      if (c.args.length) needLiteralString(0, 'the format');
      return noValue();
    case 'str': {
      if (!arity(1, 2)) return undefined;
      if (positionalSuffix(h, c) === 'error') return undefined;
      const t = h.strArgument(c.args[0]!);
      if (t && !isInt(t) && !isPtr(t) && !isStr(t)) return h.err(c.args[0]!.loc, `str() takes a pointer or a string, but the argument is ${typeName(t)}`);
      if (t && (isInt(t) || isPtr(t)) && h.where === 'user') return h.err(c.args[0]!.loc, 'str() of a pointer is not available in kafka probes: their args are already strings');
      let size = t && isStr(t) ? Math.min(t.size, 64) : 64;
      if (c.args.length === 2) {
        needInt(1);
        const n = h.constInt(c.args[1]!);
        if (n !== undefined) {
          if (n < 1 || n > 1024) return h.err(c.args[1]!.loc, `str() length must be from 1 to 1024, got ${n}`);
          size = n + 1;
          if (t && isStr(t)) size = Math.min(size, t.size);
        }
      } else if (t && isStr(t)) size = t.size;
      return { kind: 'str', size };
    }
    case 'buf': {
      if (!arity(1, 2)) return undefined;
      const t = h.expr(c.args[0]!);
      // An array of integers is its bytes, as in bpftrace.
      const arrayBytes = t?.kind === 'array' && t.elem.kind === 'int' ? t.length * (t.elem.bits / 8) : undefined;
      if (t && !isInt(t) && !isPtr(t) && !isStr(t) && t.kind !== 'buf' && arrayBytes === undefined) return h.err(c.args[0]!.loc, `buf() takes a pointer, an array or a string, but the argument is ${typeName(t)}`);
      let size = t && (t.kind === 'str' || t.kind === 'buf') ? t.size : (arrayBytes ?? 64);
      if (c.args.length === 2) {
        needInt(1);
        const n = h.constInt(c.args[1]!);
        if (n !== undefined) {
          if (n < 1 || n > 1024) return h.err(c.args[1]!.loc, `buf() length must be from 1 to 1024, got ${n}`);
          size = n;
        }
      } else if (t && (isInt(t) || isPtr(t))) return h.err(c.loc, `buf() of a pointer needs a length: ${sig}`);
      return { kind: 'buf', size };
    }
    case 'join':
      if (!arity(1, 2)) return undefined;
      needInt(0);
      if (c.args.length === 2) needLiteralString(1, 'the separator');
      return noValue();
    case 'strerror':
      if (!arity(1, 1)) return undefined;
      needInt(0);
      return { kind: 'strerror' };
    case 'ksym':
    case 'usym': {
      if (!arity(1, 1)) return undefined;
      const t = h.expr(c.args[0]!);
      if (t && !isInt(t) && !isPtr(t)) return h.err(c.args[0]!.loc, `${c.name}() takes an address, but the argument is ${typeName(t)}: ${sig}`);
      return { kind: c.name };
    }
    case 'ntop': {
      if (!arity(1, 2)) return undefined;
      if (c.args.length === 2) needInt(0);
      const a = c.args[c.args.length - 1]!;
      const t = h.expr(a);
      const bytes = t?.kind === 'array' && t.elem.kind === 'int' && t.elem.bits === 8 ? t.length : undefined;
      if (t && !isInt(t) && t.kind !== 'buf' && !isStr(t) && bytes === undefined) {
        return h.err(a.loc, `ntop() takes an IPv4 address as an integer or a 4- or 16-byte buffer, but the argument is ${typeName(t)}`);
      }
      const size = t && (t.kind === 'buf' || t.kind === 'str') ? t.size : bytes;
      if (size !== undefined && size !== 4 && size !== 16) {
        return h.err(a.loc, `ntop() takes a 4-byte (IPv4) or 16-byte (IPv6) address, but the argument has ${size} bytes`);
      }
      return { kind: 'inet' };
    }
    case 'strncmp': {
      if (!arity(3, 3)) return undefined;
      for (const i of [0, 1]) {
        const t = h.expr(c.args[i]!);
        if (t && !isStr(t)) h.err(c.args[i]!.loc, `argument ${i + 1} of strncmp() must be a string, but it is ${typeName(t)}: ${sig}`);
      }
      needInt(2);
      const n = h.constInt(c.args[2]!);
      if (n === undefined || n < 0) h.err(c.args[2]!.loc, `strncmp() length must be a non-negative integer literal`);
      return INT64;
    }
    case 'strcontains': {
      if (!arity(2, 2)) return undefined;
      for (const i of [0, 1]) {
        const t = h.expr(c.args[i]!);
        if (t && !isStr(t)) h.err(c.args[i]!.loc, `argument ${i + 1} of strcontains() must be a string, but it is ${typeName(t)}: ${sig}`);
      }
      return INT64;
    }
    case 'exit':
      if (!arity(0, 1)) return undefined;
      if (c.args.length) needInt(0);
      return noValue();
    case 'signal': {
      if (!arity(1, 1)) return undefined;
      h.requireUnsafe(c);
      const a = c.args[0]!;
      const t = h.expr(a);
      if (a.kind === 'str') {
        if (signalNumber(a.value) === undefined) h.err(a.loc, `signal(): '${a.value}' is not a signal name like "SIGKILL"`, h.suggest(a.value, Object.keys(SIGNALS)));
      } else if (t && !isInt(t)) h.err(a.loc, `signal() takes a signal number or name, but the argument is ${typeName(t)}`);
      return noValue();
    }
    case 'unwatch':
      if (!arity(1, 1)) return undefined;
      needInt(0);
      return noValue();
    case 'kaddr':
    case 'uaddr':
    case 'cgroupid': {
      if (!arity(1, 1)) return undefined;
      // In kernel probes, which take the value as a constant, str($N) names it as a literal would (bpftrace).
      const a = c.args[0]!;
      const positional = h.where === 'kernel' && a.kind === 'call' && a.name === 'str' && a.args.length === 1 && a.args[0]!.kind === 'positional' ? a.args[0]! : undefined;
      if (positional) h.expr(a);
      const name = positional?.kind === 'positional' ? (h.positional[positional.index - 1] ?? '') : needLiteralString(0, 'the argument');
      if (c.name === 'uaddr' && h.providers.some((p) => !['uprobe', 'uretprobe', 'usdt'].includes(p))) {
        return h.err(c.loc, 'uaddr() is only available in uprobe, uretprobe and usdt probes');
      }
      // Kernel probes take the value as a constant; kafka probes, which run in user space, resolve
      // cgroupid() when they start, but a path missing now is the script's mistake either way.
      if (c.name === 'uaddr') {
        const symbol = name === undefined || h.where !== 'kernel' ? undefined : uaddrSymbol(h, c, name);
        if (!symbol) return UINT64;
        h.resolved(c, BigInt(symbol.address));
        // As bpftrace types it: a user pointer to a signed integer of the symbol's size (1, 2 or 4
        // bytes), else of 8.
        const bits = symbol.size === 1 || symbol.size === 2 || symbol.size === 4 ? ((symbol.size * 8) as 8 | 16 | 32) : 64;
        return { kind: 'ptr', to: { kind: 'int', bits, signed: true }, space: 'user' };
      }
      const value = name === undefined || (h.where !== 'kernel' && c.name !== 'cgroupid') ? undefined : hostValue(h, c, name);
      if (value !== undefined) h.resolved(c, value);
      return UINT64;
    }
    case 'sizeof': {
      if (!arity(1, 1)) return undefined;
      const a = c.args[0]!;
      const t = a.kind === 'typeRef' ? h.namedType(a.typeName, a.loc, 'sizeof') : h.place(a);
      if (a.kind === 'typeRef') a.type = t ?? NONE;
      if (t && t.kind === 'none') return h.err(a.loc, 'sizeof() was given a value of no type');
      return UINT64;
    }
    case 'pton': {
      if (!arity(1, 1)) return undefined;
      const text = needLiteralString(0, 'the address');
      if (text === undefined) return undefined;
      const bytes = addressBytes(text);
      if (!bytes) return h.err(c.args[0]!.loc, `pton() expects a valid IPv4 or IPv6 address, got '${text}'`);
      return { kind: 'array', elem: { kind: 'int', bits: 8, signed: false }, length: bytes.length };
    }
    case 'cgroup_path': {
      if (!arity(1, 2)) return undefined;
      needInt(0);
      const filter = c.args.length === 2 ? needLiteralString(1, 'the filter') : '*';
      return filter === undefined ? undefined : { kind: 'cgroup_path', filter };
    }
    case 'strftime': {
      if (!arity(2, 2)) return undefined;
      const format = needLiteralString(0, 'the format');
      needInt(1);
      return format === undefined ? undefined : { kind: 'timestamp', format };
    }
    case 'uptr':
    case 'kptr': {
      if (!arity(1, 1)) return undefined;
      const a = c.args[0]!;
      const t = h.expr(a);
      if (!t) return undefined;
      if (!isInt(t) && !isPtr(t)) return h.err(a.loc, `${c.name}() takes an address, but the argument is ${typeName(t)}`);
      return { ...t, space: c.name === 'uptr' ? 'user' : 'kernel' };
    }
    case 'bswap': {
      if (!arity(1, 1)) return undefined;
      const t = needInt(0);
      // The bytes of the value at its own width, as bpftrace 0.17: the result is unsigned.
      return t && isInt(t) ? { kind: 'int', bits: t.bits, signed: false } : undefined;
    }
    case 'reg': {
      if (!arity(1, 1)) return undefined;
      const name = needLiteralString(0, 'the register name');
      const bad = h.providers.find((p) => !REGISTER_PROVIDERS.includes(p));
      if (bad) return h.err(c.loc, `reg() reads the registers of ${REGISTER_PROVIDERS.join(', ')} probes, not of ${bad} probes`);
      if (name !== undefined && !REGISTERS.includes(name)) {
        return h.err(c.args[0]!.loc, `'${name}' is not a register of x86-64`, h.suggest(name, REGISTERS));
      }
      return UINT64;
    }
    case 'kstack':
    case 'ustack': {
      if (!arity(0, 1)) return undefined;
      if (c.args.length) {
        needInt(0);
        const n = h.constInt(c.args[0]!);
        if (n === undefined || n < 1 || n > 127) h.err(c.args[0]!.loc, `${c.name}() limit must be an integer literal from 1 to 127`);
      }
      return { kind: c.name };
    }
    case 'delete': {
      if (!arity(1, 1)) return undefined;
      const a = c.args[0]!;
      if (a.kind !== 'map') {
        h.expr(a);
        return h.err(a.loc, `delete() takes a map entry: ${sig}`);
      }
      h.mapKeys(a);
      a.type = NONE;
      const state = h.maps.get(a.name)!;
      if (!state.value) h.err(a.loc, `undefined map ${a.name}`, h.suggest(a.name, h.maps.names()));
      return noValue();
    }
    case 'clear':
    case 'zero':
      if (!arity(1, 1)) return undefined;
      needWholeMap(0);
      return noValue();
    case 'has_key': {
      if (!arity(2, 2)) return undefined;
      const m = needWholeMap(0);
      const k = c.args[1]!;
      const t = h.expr(k);
      if (m && t) {
        const keys = t.kind === 'tuple' && k.kind === 'tuple' ? t.elems : [t];
        h.maps.checkKeys(h.maps.get(m.name)!, keys.map(storageType), { loc: k.loc, keys: k.kind === 'tuple' ? k.elems : [k] });
      }
      return INT64;
    }
    case 'macaddr': {
      if (!arity(1, 1)) return undefined;
      const a = c.args[0]!;
      const t = h.expr(a);
      if (!t || isInt(t) || isPtr(t)) return t && { kind: 'macaddr' };
      if (t.kind === 'array' && t.elem.kind === 'int' && t.elem.bits === 8 && t.length === 6) return { kind: 'macaddr' };
      // A struct's `char mac[6]` (typed as a string): its six bytes, as bpftrace reads them.
      if (t.kind === 'str' && t.size === 6 && a.kind === 'field' && a.offset !== undefined) return { kind: 'macaddr' };
      return h.err(a.loc, `macaddr() takes an address or 6 bytes, but the argument is ${typeName(t)}`);
    }
    default:
      for (const a of c.args) h.expr(a);
      return h.err(c.loc, `${c.name}() is not supported`);
  }
}

/** The data symbol uaddr() names, in its probe's one binary; undefined (reported) when there is none. */
function uaddrSymbol(h: CallHost, c: Call, name: string): ElfObject | undefined {
  const at = c.args[0]!.loc;
  // The link-time address, as bpftrace 0.17 gives it: a PIE's or a library's load base is not added.
  if (h.binaries.length !== 1) return h.err(at, `uaddr() needs its probe to attach to one binary; this one attaches to ${h.binaries.length}`);
  const binary = h.binaries[0]!;
  const objects = h.system.dataSymbols(binary);
  if (!objects.ok) return h.err(at, `uaddr(): ${objects.error}`);
  const symbol = objects.value.find((o) => o.name === name);
  return symbol ?? h.err(at, `uaddr(): no data symbol '${name}' in ${binary}`);
}

/** What kaddr() or cgroupid() of `name` is on this machine; undefined (reported) when it has no value. */
function hostValue(h: CallHost, c: Call, name: string): bigint | undefined {
  const at = c.args[0]!.loc;
  switch (c.name) {
    case 'kaddr': {
      const symbols = h.system.kernelSymbols();
      if (!symbols.ok) return h.err(at, `kaddr(): ${symbols.error}`);
      const address = symbols.value.get(name);
      if (address === undefined) return h.err(at, `kaddr(): Failed to resolve kernel symbol: ${name}`);
      if (address === 0n) return h.err(at, `kaddr(): the address of ${name} is hidden: run as root`);
      return address;
    }
    default: {
      const id = h.system.cgroupId(name);
      return id.ok ? id.value : h.err(at, `cgroupid(): ${id.error}`);
    }
  }
}
