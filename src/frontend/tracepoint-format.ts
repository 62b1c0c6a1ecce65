// Tracepoint formats: parsing tracefs format files, building the same description from BTF, and the
// KType a script sees for each field.
import type { KType } from './ast.js';
import type { TracepointField, TracepointFormat } from './analysis.js';
import { type Btf, BtfKind } from './btf.js';
import { SYSCALL_PARAMS } from './syscall-params.js';

/** Signedness of the integer C types that appear in tracepoint formats (the width comes from the field). */
const INTEGER_SIGNEDNESS: Record<string, boolean> = {
  char: true,
  'signed char': true,
  'unsigned char': false,
  short: true,
  'short int': true,
  'unsigned short': false,
  'short unsigned int': false,
  int: true,
  'signed int': true,
  unsigned: false,
  'unsigned int': false,
  long: true,
  'long int': true,
  'unsigned long': false,
  'long unsigned int': false,
  'long long': true,
  'long long int': true,
  'unsigned long long': false,
  'long long unsigned int': false,
  bool: false,
  _Bool: false,
  u8: false, u16: false, u32: false, u64: false,
  s8: true, s16: true, s32: true, s64: true,
  __u8: false, __u16: false, __u32: false, __u64: false,
  __s8: true, __s16: true, __s32: true, __s64: true,
  uint8_t: false, uint16_t: false, uint32_t: false, uint64_t: false,
  int8_t: true, int16_t: true, int32_t: true, int64_t: true,
  size_t: false,
  ssize_t: true,
  pid_t: true,
  uid_t: false,
  gid_t: false,
  umode_t: false,
  loff_t: true,
  off_t: true,
  dev_t: false,
  gfp_t: false,
  key_serial_t: true,
  clockid_t: true,
  qid_t: false,
  mqd_t: true,
  rwf_t: true,
  key_t: true,
  aio_context_t: false,
  sector_t: false,
  blkcnt_t: false,
  ino_t: false,
};

function bitsOf(size: number): 8 | 16 | 32 | 64 | undefined {
  return size === 1 ? 8 : size === 2 ? 16 : size === 4 ? 32 : size === 8 ? 64 : undefined;
}

function stripQualifiers(cType: string): string {
  return cType.replace(/\b(const|volatile)\b/g, '').replace(/\s+/g, ' ').trim();
}

/**
 * The type of `args.field`. Integers take the field's size (syscall arguments are 8-byte fields even
 * when declared `int`: the kernel stores them as longs, so `int dfd` reads as a signed 64-bit value,
 * as bpftrace does) and the C type's signedness when the type is a known integer.
 */
function fieldKType(cType: string, size: number, signed: boolean, arrayLength: number | undefined, dataLoc: boolean): KType {
  if (dataLoc) return { kind: 'str', size: 64 };
  const base = stripQualifiers(cType.replace(/\[\d*\]$/, ''));
  if (arrayLength !== undefined) {
    if (base === 'char' || base === 'unsigned char' || base === 'signed char') return { kind: 'str', size: arrayLength };
    return { kind: 'buf', size };
  }
  if (cType.includes('*')) return { kind: 'int', bits: 64, signed: false };
  const bits = bitsOf(size);
  if (bits === undefined) return { kind: 'buf', size };
  const known = INTEGER_SIGNEDNESS[base];
  return { kind: 'int', bits, signed: known ?? signed };
}

function makeField(name: string, cType: string, offset: number, size: number, signed: boolean, arrayLength?: number): TracepointField {
  const dataLoc = cType.startsWith('__data_loc');
  return {
    name,
    cType,
    offset,
    size,
    signed,
    ...(arrayLength !== undefined ? { arrayLength } : {}),
    dataLoc,
    type: fieldKType(cType, size, signed, arrayLength, dataLoc),
  };
}

/** Parses a tracefs `format` file. Returns undefined when the text has no field lines. */
export function parseFormatFile(text: string, category: string, name: string): TracepointFormat | undefined {
  const fields: TracepointField[] = [];
  for (const m of text.matchAll(/field:([^;]*);\s*offset:(\d+);\s*size:(\d+);\s*signed:(\d+);/g)) {
    const decl = m[1]!.trim();
    const parts = /^(.*?)\s*\b(\w+)\s*(?:\[(\d*)\])?$/.exec(decl);
    if (!parts) continue;
    const [, typePart, fieldName, arrayLen] = parts;
    const arrayLength = arrayLen ? Number(arrayLen) : undefined;
    let cType = typePart!.trim();
    if (arrayLen !== undefined && !cType.startsWith('__data_loc')) cType = `${cType}[${arrayLen}]`;
    fields.push(makeField(fieldName!, cType, Number(m[2]), Number(m[3]), m[4] === '1', arrayLength));
  }
  return fields.length ? { category, name, fields } : undefined;
}

/** The `common_*` fields every trace record starts with, from BTF's `struct trace_entry`. */
function commonFields(btf: Btf): TracepointField[] {
  const id = btf.find('trace_entry', BtfKind.Struct);
  if (id === undefined) {
    return [
      makeField('common_type', 'unsigned short', 0, 2, false),
      makeField('common_flags', 'unsigned char', 2, 1, false),
      makeField('common_preempt_count', 'unsigned char', 3, 1, false),
      makeField('common_pid', 'int', 4, 4, true),
    ];
  }
  return btf.type(id)!.members!.map((m) => {
    const info = btf.info(m.type);
    return makeField(`common_${m.name}`, info.cType, m.bitOffset / 8, info.size, info.signed, info.arrayLength);
  });
}

const syscallsCache = new WeakMap<Btf, string[]>();

/** Names of the system calls that have sys_enter_/sys_exit_ tracepoints, per BTF. */
export function btfSyscalls(btf: Btf): string[] {
  const cached = syscallsCache.get(btf);
  if (cached) return cached;
  // __x64_sys_X wrappers name the syscalls of this kernel; zero-argument ones are aliases BTF
  // lacks, but their __do_sys_X bodies are there.
  const out = new Set<string>();
  for (const fn of btf.namesOfKind(BtfKind.Func)) {
    const x64 = fn.startsWith('__x64_sys_') ? fn.slice('__x64_sys_'.length) : undefined;
    const body = fn.startsWith('__do_sys_') ? fn.slice('__do_sys_'.length) : undefined;
    if (x64 !== undefined && (x64 in SYSCALL_PARAMS || btf.find(`__do_sys_${x64}`, BtfKind.Func) !== undefined)) out.add(x64);
    if (body !== undefined && body in SYSCALL_PARAMS) out.add(body);
  }
  const list = [...out].sort();
  syscallsCache.set(btf, list);
  return list;
}

function syscallFormat(btf: Btf, syscall: string, enter: boolean): TracepointFormat {
  const name = `${enter ? 'sys_enter_' : 'sys_exit_'}${syscall}`;
  const fields = [...commonFields(btf), makeField('__syscall_nr', 'int', 8, 4, true)];
  if (!enter) {
    fields.push(makeField('ret', 'long', 16, 8, true));
    return { category: 'syscalls', name, fields };
  }
  // SYSCALL_DEFINE0 bodies take only `const struct pt_regs *__unused`, which is no argument.
  const fromBtf = btf.funcParams(`__do_sys_${syscall}`)?.filter((p) => p.name !== '__unused');
  const params = fromBtf
    ? fromBtf.map((p) => ({ name: p.name, cType: btf.cName(p.type) }))
    : (SYSCALL_PARAMS[syscall] ?? '')
        .split(', ')
        .filter((d) => d !== '')
        .map((d) => {
          const m = /^(.*?)\s*(\w+)$/.exec(d)!;
          return { name: m[2]!, cType: m[1]! };
        });
  // The kernel declares every syscall argument as an unsigned 8-byte field.
  params.forEach((p, i) => fields.push(makeField(p.name, p.cType, 16 + 8 * i, 8, false)));
  return { category: 'syscalls', name, fields };
}

/** Parameter type ids of a FUNC_PROTO, reached through FUNC, TYPEDEF and PTR. */
function protoParams(btf: Btf, id: number | undefined): string | undefined {
  for (let guard = 0; id !== undefined && guard < 4; guard++) {
    const t = btf.type(id);
    if (!t) return undefined;
    if (t.kind === BtfKind.FuncProto) return t.members!.map((m) => m.type).join(',');
    id = t.sizeOrType;
  }
  return undefined;
}

interface EventClass {
  cls: string;
  /** Id of the `trace_event_raw_<class>` struct. */
  id: number;
  params: string;
  /** A class that is not an event itself (DECLARE_EVENT_CLASS rather than TRACE_EVENT). */
  template: boolean;
}

const classesCache = new WeakMap<Btf, EventClass[]>();

/** Event classes: each has a `trace_event_raw_<class>` record struct and a `__bpf_trace_<class>` function. */
function eventClasses(btf: Btf): EventClass[] {
  let out = classesCache.get(btf);
  if (!out) {
    out = [];
    for (const fn of btf.namesOfKind(BtfKind.Func)) {
      if (!fn.startsWith('__bpf_trace_')) continue;
      const cls = fn.slice('__bpf_trace_'.length);
      const id = btf.find(`trace_event_raw_${cls}`, BtfKind.Struct);
      const params = protoParams(btf, btf.find(fn, BtfKind.Func));
      const template = btf.find(`btf_trace_${cls}`, BtfKind.Typedef) === undefined;
      if (id !== undefined && params !== undefined) out.push({ cls, id, params, template });
    }
    classesCache.set(btf, out);
  }
  return out;
}

/** Lexicographic comparison of ranks: the first differing entry decides. */
function outranks(a: number[], b: number[]): boolean {
  const i = a.findIndex((x, j) => x !== b[j]);
  return i >= 0 && a[i]! > b[i]!;
}

/**
 * The `trace_event_raw_<class>` struct describing an event's record. Events defined with
 * DEFINE_EVENT share their class's struct, and BTF does not say which class an event belongs to:
 * take the event's own name when such a struct exists, else a class whose `__bpf_trace_<class>`
 * takes the same argument types as the event's `btf_trace_<event>`. When several do, prefer class
 * templates (an event of a TRACE_EVENT class has that class's name), then the name sharing the
 * longest prefix with the event (e.g. sched_wakeup → sched_wakeup_template).
 */
function eventStruct(btf: Btf, name: string): number | undefined {
  const own = btf.find(`trace_event_raw_${name}`, BtfKind.Struct);
  if (own !== undefined) return own;
  const params = protoParams(btf, btf.find(`btf_trace_${name}`, BtfKind.Typedef));
  if (params === undefined) return undefined;
  let best: { id: number; rank: number[] } | undefined;
  for (const { cls, id, params: p, template } of eventClasses(btf)) {
    if (p !== params) continue;
    let prefix = 0;
    while (prefix < cls.length && prefix < name.length && cls[prefix] === name[prefix]) prefix++;
    const rank = [template ? 1 : 0, prefix, -cls.length];
    if (!best || outranks(rank, best.rank)) best = { id, rank };
  }
  return best?.id;
}

/** Whether BTF can describe the record of a (non-syscall) tracepoint. */
export function btfHasEventFormat(btf: Btf, name: string): boolean {
  return eventStruct(btf, name) !== undefined;
}

/** The format of a tracepoint rebuilt from BTF, or undefined when BTF cannot describe it. */
export function btfTracepointFormat(btf: Btf, category: string, name: string): TracepointFormat | undefined {
  if (category === 'syscalls') {
    const m = /^sys_(enter|exit)_(\w+)$/.exec(name);
    if (!m || !btfSyscalls(btf).includes(m[2]!)) return undefined;
    return syscallFormat(btf, m[2]!, m[1] === 'enter');
  }
  const id = eventStruct(btf, name);
  if (id === undefined) return undefined;
  const fields = commonFields(btf);
  for (const m of btf.type(id)!.members!) {
    if (m.name === 'ent' || m.name === '__data') continue;
    const offset = m.bitOffset / 8;
    if (m.name.startsWith('__data_loc_')) {
      fields.push(makeField(m.name.slice('__data_loc_'.length), '__data_loc char[]', offset, 4, false));
      continue;
    }
    const info = btf.info(m.type);
    fields.push(makeField(m.name, info.cType, offset, info.size, info.signed, info.arrayLength));
  }
  return { category, name, fields };
}

/** Tracepoint names BTF knows outside the syscalls category (categories are not in BTF). */
export function btfEventNames(btf: Btf): string[] {
  return btf
    .namesOfKind(BtfKind.Typedef)
    .filter((n) => n.startsWith('btf_trace_'))
    .map((n) => n.slice('btf_trace_'.length));
}
