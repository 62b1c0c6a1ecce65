// A small DWARF (versions 2 to 5, 32-bit format, little-endian ELF64) reader: what uprobes need of a
// binary's debug info, as bpftrace takes it: a function's parameters (their names, their types as
// bpftrace spells them in `-lv`, and their KTypes for `args->NAME`) and the layout of the structs
// and unions the binary defines (for `args->p->m` and `(struct Foo *)arg0`). Malformed input ends
// the read with a KtError, never with a wrong layout.
import type { KType } from './ast.js';
import type { RecordMember } from './btf-members.js';
import { elfSection } from './elf.js';
import { KtError } from '../errors.js';

/** A parameter of a function, as its DWARF describes it. `problem` says why it has no KType. */
export interface DebugParameter {
  name: string;
  /** The type as bpftrace's -lv prints it: `int`, `char**`, `struct Foo*`, `const char*`. */
  cType: string;
  type?: KType;
  problem?: string;
}

export interface DebugRecord {
  size: number;
  members: RecordMember[];
}

const TAG = {
  arrayType: 0x01,
  enumerationType: 0x04,
  formalParameter: 0x05,
  member: 0x0d,
  pointerType: 0x0f,
  compileUnit: 0x11,
  structureType: 0x13,
  typedef: 0x16,
  unionType: 0x17,
  subrangeType: 0x21,
  baseType: 0x24,
  constType: 0x26,
  subprogram: 0x2e,
  volatileType: 0x35,
  restrictType: 0x37,
  atomicType: 0x47,
} as const;

const AT = {
  name: 0x03,
  byteSize: 0x0b,
  bitOffset: 0x0c,
  bitSize: 0x0d,
  upperBound: 0x2f,
  count: 0x37,
  dataMemberLocation: 0x38,
  declaration: 0x3c,
  encoding: 0x3e,
  type: 0x49,
  dataBitOffset: 0x6b,
  strOffsetsBase: 0x72,
} as const;

const ATE = { boolean: 0x02, signed: 0x05, signedChar: 0x06, unsigned: 0x07, unsignedChar: 0x08 } as const;

/** An attribute's value: a number, a string, bytes (blocks and expressions), or a DIE offset in .debug_info. */
type Value = number | string | Uint8Array | { ref: number } | { strx: number };

interface Die {
  tag: number;
  attrs: Map<number, Value>;
  children: Die[];
}

interface Abbrev {
  tag: number;
  children: boolean;
  specs: { name: number; form: number; implicit?: number }[];
}

function bad(what: string): never {
  throw new KtError('dwarf-invalid', `malformed DWARF: ${what}`);
}

class Reader {
  constructor(
    readonly buf: Buffer,
    public pos = 0,
  ) {}

  need(n: number): void {
    if (this.pos + n > this.buf.length) bad('a read past the end of a section');
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }
  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }
  u24(): number {
    return this.u16() + this.u8() * 0x10000;
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  u64(): number {
    this.need(8);
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    // Addresses and signatures above 2^53 are never used as numbers here; keep them exact enough to compare.
    return Number(v);
  }
  uleb(): number {
    let result = 0;
    let mul = 1;
    for (;;) {
      const b = this.u8();
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return result;
      mul *= 128;
      if (mul > 2 ** 63) bad('a LEB128 number too long');
    }
  }
  sleb(): number {
    let result = 0;
    let mul = 1;
    for (;;) {
      const b = this.u8();
      result += (b & 0x7f) * mul;
      mul *= 128;
      if ((b & 0x80) === 0) return b & 0x40 ? result - mul : result;
      if (mul > 2 ** 63) bad('a LEB128 number too long');
    }
  }
  bytes(n: number): Uint8Array {
    this.need(n);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
  cstring(): string {
    const end = this.buf.indexOf(0, this.pos);
    if (end < 0) bad('a string without its terminating NUL');
    const s = this.buf.toString('utf8', this.pos, end);
    this.pos = end + 1;
    return s;
  }
}

function cStringAt(section: Buffer | undefined, offset: number, what: string): string {
  if (!section || offset >= section.length) bad(`a string offset outside ${what}`);
  const end = section.indexOf(0, offset);
  if (end < 0) bad(`a string without its terminating NUL in ${what}`);
  return section.toString('utf8', offset, end);
}

function parseAbbrevs(section: Buffer, offset: number): Map<number, Abbrev> {
  const r = new Reader(section, offset);
  const table = new Map<number, Abbrev>();
  for (;;) {
    const code = r.uleb();
    if (code === 0) return table;
    const tag = r.uleb();
    const children = r.u8() !== 0;
    const specs: Abbrev['specs'] = [];
    for (;;) {
      const name = r.uleb();
      const form = r.uleb();
      if (name === 0 && form === 0) break;
      specs.push(form === 0x21 ? { name, form, implicit: r.sleb() } : { name, form });
    }
    table.set(code, { tag, children, specs });
  }
}

interface Unit {
  /** Offset of the unit's header in .debug_info: CU-relative references add it. */
  offset: number;
  version: number;
  addressSize: number;
}

function readForm(r: Reader, form: number, unit: Unit, implicit: number | undefined, str: Buffer | undefined, lineStr: Buffer | undefined): Value {
  switch (form) {
    case 0x01: // addr
      r.bytes(unit.addressSize);
      return 0;
    case 0x03: return r.bytes(r.u16()); // block2
    case 0x04: return r.bytes(r.u32()); // block4
    case 0x05: return r.u16(); // data2
    case 0x06: return r.u32(); // data4
    case 0x07: return r.u64(); // data8
    case 0x08: return r.cstring(); // string
    case 0x09: return r.bytes(r.uleb()); // block
    case 0x0a: return r.bytes(r.u8()); // block1
    case 0x0b: return r.u8(); // data1
    case 0x0c: return r.u8(); // flag
    case 0x0d: return r.sleb(); // sdata
    case 0x0e: return cStringAt(str, r.u32(), '.debug_str'); // strp
    case 0x0f: return r.uleb(); // udata
    case 0x10: // ref_addr: an offset in .debug_info, address-sized in DWARF 2
      return { ref: unit.version <= 2 ? (unit.addressSize === 8 ? r.u64() : r.u32()) : r.u32() };
    case 0x11: return { ref: unit.offset + r.u8() }; // ref1
    case 0x12: return { ref: unit.offset + r.u16() }; // ref2
    case 0x13: return { ref: unit.offset + r.u32() }; // ref4
    case 0x14: return { ref: unit.offset + r.u64() }; // ref8
    case 0x15: return { ref: unit.offset + r.uleb() }; // ref_udata
    case 0x16: return readForm(r, r.uleb(), unit, implicit, str, lineStr); // indirect
    case 0x17: return r.u32(); // sec_offset
    case 0x18: return r.bytes(r.uleb()); // exprloc
    case 0x19: return 1; // flag_present
    case 0x1a: return { strx: r.uleb() }; // strx
    case 0x1b: return r.uleb(); // addrx
    case 0x1c: return r.u32(); // ref_sup4: another file's DIE, never followed
    case 0x1d: return r.u32(); // strp_sup
    case 0x1e: return r.bytes(16); // data16
    case 0x1f: return cStringAt(lineStr, r.u32(), '.debug_line_str'); // line_strp
    case 0x20: return r.bytes(8); // ref_sig8: a type unit, never followed
    case 0x21: return implicit ?? 0; // implicit_const
    case 0x22: return r.uleb(); // loclistx
    case 0x23: return r.uleb(); // rnglistx
    case 0x24: return r.u64(); // ref_sup8
    case 0x25: return { strx: r.u8() }; // strx1
    case 0x26: return { strx: r.u16() }; // strx2
    case 0x27: return { strx: r.u24() }; // strx3
    case 0x28: return { strx: r.u32() }; // strx4
    case 0x29: return r.u8(); // addrx1
    case 0x2a: return r.u16(); // addrx2
    case 0x2b: return r.u24(); // addrx3
    case 0x2c: return r.u32(); // addrx4
    default:
      return bad(`attribute form 0x${form.toString(16)} is unknown`);
  }
}

/** Every DIE of `.debug_info`, by offset, and the top-level DIEs of each compilation unit. */
function parseInfo(elf: Buffer): { dies: Map<number, Die>; units: Die[] } | undefined {
  const info = elfSection(elf, '.debug_info');
  const abbrev = elfSection(elf, '.debug_abbrev');
  if (!info || !abbrev) return undefined;
  const str = elfSection(elf, '.debug_str');
  const lineStr = elfSection(elf, '.debug_line_str');
  const strOffsets = elfSection(elf, '.debug_str_offsets');
  const dies = new Map<number, Die>();
  const units: Die[] = [];
  const abbrevCache = new Map<number, Map<number, Abbrev>>();
  const r = new Reader(info);
  while (r.pos + 11 <= info.length) {
    const offset = r.pos;
    const length = r.u32();
    if (length >= 0xfffffff0) bad('64-bit DWARF is not supported');
    const end = r.pos + length;
    if (end > info.length) bad('a unit longer than .debug_info');
    const version = r.u16();
    if (version < 2 || version > 5) bad(`DWARF version ${version} is not supported`);
    let addressSize: number;
    let abbrevOffset: number;
    let unitType = 0x01;
    if (version >= 5) {
      unitType = r.u8();
      addressSize = r.u8();
      abbrevOffset = r.u32();
      if (unitType === 0x04 || unitType === 0x05) r.u64(); // skeleton and split units' dwo_id
      if (unitType === 0x02 || unitType === 0x06) r.pos += 12; // type units' signature and type offset
    } else {
      abbrevOffset = r.u32();
      addressSize = r.u8();
    }
    let abbrevs = abbrevCache.get(abbrevOffset);
    if (!abbrevs) abbrevCache.set(abbrevOffset, (abbrevs = parseAbbrevs(abbrev, abbrevOffset)));
    const unit: Unit = { offset, version, addressSize };
    const stack: Die[] = [];
    let strBase = 8;
    const strxValues: { die: Die; name: number; index: number }[] = [];
    while (r.pos < end) {
      const dieOffset = r.pos;
      const code = r.uleb();
      if (code === 0) {
        stack.pop();
        continue;
      }
      const a = abbrevs.get(code) ?? bad(`abbreviation ${code} is not defined`);
      const die: Die = { tag: a.tag, attrs: new Map(), children: [] };
      for (const spec of a.specs) {
        const v = readForm(r, spec.form, unit, spec.implicit, str, lineStr);
        if (typeof v === 'object' && 'strx' in v) strxValues.push({ die, name: spec.name, index: v.strx });
        die.attrs.set(spec.name, v);
      }
      if (die.tag === TAG.compileUnit && typeof die.attrs.get(AT.strOffsetsBase) === 'number') strBase = die.attrs.get(AT.strOffsetsBase) as number;
      dies.set(dieOffset, die);
      const parent = stack[stack.length - 1];
      if (parent) parent.children.push(die);
      else units.push(die);
      if (a.children) stack.push(die);
    }
    // Indexed strings resolve through the unit's base, which its first DIE gives (after names of its own).
    for (const s of strxValues) {
      const at = strBase + s.index * 4;
      if (!strOffsets || at + 4 > strOffsets.length) bad('a string index outside .debug_str_offsets');
      s.die.attrs.set(s.name, cStringAt(str, strOffsets.readUInt32LE(at), '.debug_str'));
    }
    r.pos = end;
  }
  return { dies, units };
}

/** The members one record may have, its anonymous records' included (the kernel's largest have a few hundred). */
const MAX_MEMBERS = 100_000;

const QUALIFIERS: ReadonlySet<number> = new Set([TAG.constType, TAG.volatileType, TAG.restrictType, TAG.atomicType, TAG.typedef]);

/** The debug info of one binary. */
export class DebugInfo {
  private readonly functions = new Map<string, Die>();
  private readonly records = new Map<string, Die>();

  constructor(
    private readonly dies: Map<number, Die>,
    units: Die[],
  ) {
    for (const unit of units) {
      for (const d of unit.children) {
        const name = nameOf(d);
        if (typeof name !== 'string' || d.attrs.has(AT.declaration)) continue;
        if (d.tag === TAG.subprogram && !this.functions.has(name)) this.functions.set(name, d);
        if ((d.tag === TAG.structureType || d.tag === TAG.unionType) && !this.records.has(recordKey(d.tag, name))) this.records.set(recordKey(d.tag, name), d);
      }
    }
  }

  private typeOfDie(d: Die): Die | undefined {
    const t = d.attrs.get(AT.type);
    if (t === undefined) return undefined;
    if (typeof t !== 'object' || !('ref' in t)) return undefined;
    return this.dies.get(t.ref) ?? bad(`a reference to no DIE (0x${t.ref.toString(16)})`);
  }

  /** The parameters of a function, in order, or undefined when the debug info has no such function. */
  parameters(func: string): DebugParameter[] | undefined {
    const f = this.functions.get(func);
    if (!f) return undefined;
    return f.children
      .filter((c) => c.tag === TAG.formalParameter)
      .map((p) => {
        const name = nameOf(p);
        const typeDie = this.typeOfDie(p);
        const cType = typeDie ? this.spelling(typeDie, 0) : 'void';
        const t = typeDie ? this.ktype(typeDie, 0) : { problem: 'it has no type' };
        const base = { name: typeof name === 'string' ? name : '', cType };
        return 'kind' in t ? { ...base, type: t } : { ...base, problem: t.problem };
      });
  }

  /** A struct or union (`struct Foo`, `union U`) the binary defines. */
  record(name: string): DebugRecord | undefined {
    const [keyword, tag] = name.split(' ');
    const d = this.records.get(recordKey(keyword === 'union' ? TAG.unionType : TAG.structureType, tag ?? ''));
    if (!d) return undefined;
    return { size: numberAttr(d, AT.byteSize) ?? 0, members: this.members(d, 0, 0, { left: MAX_MEMBERS }) };
  }

  /** bpftrace's spelling of a type (its dwarf_parser's get_type_name). */
  private spelling(d: Die, depth: number): string {
    if (depth > 16) return '<unknown type>';
    const name = nameOf(d);
    switch (d.tag) {
      case TAG.baseType:
      case TAG.typedef:
        return typeof name === 'string' ? name : '<unknown type>';
      case TAG.pointerType: {
        const inner = this.typeOfDie(d);
        return inner ? `${this.spelling(inner, depth + 1)}*` : 'void*';
      }
      case TAG.structureType:
      case TAG.unionType:
      case TAG.enumerationType: {
        const prefix = d.tag === TAG.structureType ? 'struct' : d.tag === TAG.unionType ? 'union' : 'enum';
        return `${prefix} ${typeof name === 'string' ? name : '<anonymous>'}`;
      }
      case TAG.constType: {
        const inner = this.typeOfDie(d);
        // bpftrace names what `const void` qualifies as it names every type it does not know.
        if (!inner) return 'const <unknown type>';
        return inner.tag === TAG.pointerType ? `${this.spelling(inner, depth + 1)} const` : `const ${this.spelling(inner, depth + 1)}`;
      }
      default:
        return '<unknown type>';
    }
  }

  /** A type without its typedefs and qualifiers; undefined for void. */
  private peel(d: Die | undefined, depth = 0): Die | undefined {
    while (d && QUALIFIERS.has(d.tag) && depth++ < 32) d = this.typeOfDie(d);
    return d;
  }

  private ktype(die: Die, depth: number): KType | { problem: string } {
    const d = this.peel(die);
    if (!d) return { problem: 'its type is void' };
    const size = numberAttr(d, AT.byteSize);
    switch (d.tag) {
      case TAG.baseType: {
        const enc = numberAttr(d, AT.encoding);
        const signed = enc === ATE.signed || enc === ATE.signedChar;
        if (!signed && enc !== ATE.unsigned && enc !== ATE.unsignedChar && enc !== ATE.boolean) return { problem: `its type ${this.spelling(die, 0)} is not an integer` };
        if (size !== 1 && size !== 2 && size !== 4 && size !== 8) return { problem: `its type ${this.spelling(die, 0)} has ${size} bytes (integers of 1, 2, 4 and 8 bytes are supported)` };
        return { kind: 'int', bits: (size * 8) as 8 | 16 | 32 | 64, signed };
      }
      case TAG.enumerationType:
        // bpftrace reads enums as unsigned.
        if (size !== 1 && size !== 2 && size !== 4 && size !== 8) return { problem: `its type ${this.spelling(die, 0)} has ${size} bytes` };
        return { kind: 'int', bits: (size * 8) as 8 | 16 | 32 | 64, signed: false };
      case TAG.pointerType:
        return { kind: 'ptr', to: this.pointee(d, depth) };
      case TAG.structureType:
      case TAG.unionType: {
        const name = nameOf(d);
        if (typeof name !== 'string') return { problem: `its type is an anonymous ${d.tag === TAG.unionType ? 'union' : 'struct'}` };
        const full = `${d.tag === TAG.unionType ? 'union' : 'struct'} ${name}`;
        // A declaration's size is its definition's; members are read only when asked for (a list's `next` points to its own record).
        const defined = d.attrs.has(AT.declaration) ? this.records.get(full) : d;
        const size = defined && numberAttr(defined, AT.byteSize);
        return size !== undefined ? { kind: 'struct', name: full, size } : { kind: 'struct', name: full };
      }
      case TAG.arrayType: {
        const elemDie = this.typeOfDie(d);
        const dims = d.children.filter((c) => c.tag === TAG.subrangeType).map(arrayLength);
        if (!elemDie || dims.length === 0 || dims.some((n) => n === undefined || n <= 0)) return { problem: `its type is an array of no known size` };
        const elem = this.peel(elemDie);
        const enc = elem ? numberAttr(elem, AT.encoding) : undefined;
        const chars = elem?.tag === TAG.baseType && numberAttr(elem, AT.byteSize) === 1 && (enc === ATE.signedChar || enc === ATE.unsignedChar);
        let t: KType | { problem: string } = depth < 8 ? this.ktype(elemDie, depth + 1) : { problem: 'its type nests too deep' };
        // The innermost dimension first: `int y[2][3]` is two arrays of three.
        for (const n of [...dims].reverse()) {
          if (!('kind' in t)) return t;
          t = chars && t.kind === 'int' ? { kind: 'str', size: n! } : { kind: 'array', elem: t, length: n! };
        }
        return t;
      }
      default:
        return { problem: `its type ${this.spelling(die, 0)} is not supported` };
    }
  }

  /** What a pointer points to: void and functions as bytes, as btf-members has it. */
  private pointee(ptr: Die, depth: number): KType {
    const inner = this.typeOfDie(ptr);
    const t = inner && depth < 8 ? this.ktype(inner, depth + 1) : undefined;
    if (t && 'kind' in t) return t;
    const d = this.peel(inner);
    const name = d ? nameOf(d) : undefined;
    // A struct the binary only declares keeps its name: its members are looked for elsewhere.
    if (d && (d.tag === TAG.structureType || d.tag === TAG.unionType) && typeof name === 'string') return { kind: 'struct', name: `${d.tag === TAG.unionType ? 'union' : 'struct'} ${name}` };
    return { kind: 'int', bits: 8, signed: false };
  }

  /** `budget`: members left to read; debug info that nests records into more is malformed (or hostile). */
  private members(record: Die, depth: number, base: number, budget: { left: number }): RecordMember[] {
    const out: RecordMember[] = [];
    for (const m of record.children) {
      if (m.tag !== TAG.member) continue;
      if (--budget.left < 0) bad(`records that nest more than ${MAX_MEMBERS} members`);
      const name = nameOf(m);
      const typeDie = this.typeOfDie(m);
      const bitSize = numberAttr(m, AT.bitSize);
      const dataBitOffset = numberAttr(m, AT.dataBitOffset);
      const location = memberLocation(m);
      // DWARF 2 and 3's DW_AT_bit_offset counts from the most significant bit of a storage unit of DW_AT_byte_size bytes.
      const legacyBitOffset = numberAttr(m, AT.bitOffset);
      const unitBytes = numberAttr(m, AT.byteSize);
      const fromUnit = legacyBitOffset !== undefined && unitBytes !== undefined && bitSize !== undefined ? unitBytes * 8 - legacyBitOffset - bitSize : 0;
      const bits = dataBitOffset ?? location * 8 + fromUnit;
      const offset = base + Math.floor(bits / 8);
      const inner = this.peel(typeDie);
      if (typeof name !== 'string') {
        // An anonymous struct or union: its members are the record's own, as C names them.
        if (inner && (inner.tag === TAG.structureType || inner.tag === TAG.unionType) && depth < 16) out.push(...this.members(inner, depth + 1, offset, budget));
        continue;
      }
      if (bitSize !== undefined) {
        const t = typeDie ? this.ktype(typeDie, 0) : undefined;
        const shift = bits % 8;
        if ((dataBitOffset === undefined && (legacyBitOffset === undefined || unitBytes === undefined)) || fromUnit < 0 || !t || !('kind' in t) || t.kind !== 'int' || shift + bitSize > 64) {
          out.push({ name, offset, problem: 'it is a bitfield of a type or layout kafkatrace cannot read' });
        } else {
          // bpftrace reads bitfields as unsigned whatever their declared type.
          out.push({ name, offset, type: { kind: 'int', bits: t.bits, signed: false }, bitfield: { shift, width: bitSize } });
        }
        continue;
      }
      const t = typeDie ? this.ktype(typeDie, depth + 1) : { problem: 'its type is void' };
      if ('kind' in t) {
        out.push({ name, offset, type: t });
        continue;
      }
      const anonymous = inner && (inner.tag === TAG.structureType || inner.tag === TAG.unionType) && nameOf(inner) === undefined && depth < 16;
      out.push(anonymous ? { name, offset, problem: t.problem, anonymous: { size: numberAttr(inner, AT.byteSize) ?? 0, members: this.members(inner, depth + 1, 0, budget) } } : { name, offset, problem: t.problem });
    }
    return out;
  }
}

function recordKey(tag: number, name: string): string {
  return `${tag === TAG.unionType ? 'union' : 'struct'} ${name}`;
}

/**
 * A DIE's name when it is printable ASCII: names reach terminals and messages, and a binary's debug
 * info is anyone's to write. Any other name counts as none.
 */
function nameOf(d: Die): string | undefined {
  const v = d.attrs.get(AT.name);
  return typeof v === 'string' && /^[\x21-\x7e][\x20-\x7e]*$/.test(v) ? v : undefined;
}

function numberAttr(d: Die, at: number): number | undefined {
  const v = d.attrs.get(at);
  return typeof v === 'number' ? v : undefined;
}

/** The number of elements of one dimension: DW_AT_count, or DW_AT_upper_bound + 1 (C's lower bound is 0). */
function arrayLength(subrange: Die): number | undefined {
  const count = numberAttr(subrange, AT.count);
  if (count !== undefined) return count;
  const upper = numberAttr(subrange, AT.upperBound);
  return upper === undefined ? undefined : upper + 1;
}

/** A member's byte offset: a constant, or the DW_OP_plus_uconst expression older compilers emit. */
function memberLocation(m: Die): number {
  const v = m.attrs.get(AT.dataMemberLocation);
  if (typeof v === 'number') return v;
  if (v instanceof Uint8Array && v[0] === 0x23) return new Reader(Buffer.from(v.buffer, v.byteOffset, v.byteLength), 1).uleb();
  if (v === undefined) return 0;
  return bad('a member location that is not a constant offset');
}

/** The debug info of an ELF file's bytes, or undefined when it has none. Throws KtError dwarf-invalid on malformed DWARF. */
export function readDebugInfo(elf: Buffer): DebugInfo | undefined {
  const parsed = parseInfo(elf);
  return parsed && new DebugInfo(parsed.dies, parsed.units);
}
