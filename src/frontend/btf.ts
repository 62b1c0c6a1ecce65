// A small reader of BTF (the kernel's type information, /sys/kernel/btf/vmlinux), enough to list
// tracepoints and describe their fields when tracefs is unreadable (`kafkatrace check` without root).
// Format: https://docs.kernel.org/bpf/btf.html
import { readFileSync } from 'node:fs';

const BTF_MAGIC = 0xeb9f;

export enum BtfKind {
  Int = 1,
  Ptr = 2,
  Array = 3,
  Struct = 4,
  Union = 5,
  Enum = 6,
  Fwd = 7,
  Typedef = 8,
  Volatile = 9,
  Const = 10,
  Restrict = 11,
  Func = 12,
  FuncProto = 13,
  Var = 14,
  Datasec = 15,
  Float = 16,
  DeclTag = 17,
  TypeTag = 18,
  Enum64 = 19,
}

interface BtfMember {
  name: string;
  type: number;
  /** Offset in bits from the start of the struct. */
  bitOffset: number;
  /** Width of a bitfield (0 for a member that is not one, or whose struct records it in the INT type). */
  bitSize: number;
}

interface BtfType {
  kind: BtfKind;
  name: string;
  /** size for INT/STRUCT/UNION/ENUM/FLOAT/DATASEC; referenced type id for PTR/TYPEDEF/CONST/FUNC/... */
  sizeOrType: number;
  /** INT: encoding bits (1 signed, 2 char, 4 bool). */
  intEncoding?: number;
  /** INT: the number of bits the value uses (a bitfield's width where it is less than size * 8). */
  intBits?: number;
  /** STRUCT/UNION: members carry bitfield widths; ENUM/ENUM64: the values are signed. */
  kindFlag: boolean;
  array?: { type: number; nelems: number };
  /** STRUCT/UNION members, FUNC_PROTO parameters (bitOffset 0). */
  members?: BtfMember[];
  /** ENUM/ENUM64 enumerators. */
  enumerators?: { name: string; value: bigint }[];
}

/** The C-level facts of a type that a tracepoint field needs. */
interface BtfTypeInfo {
  /** The type spelled as C, e.g. `unsigned int`, `const char *`, `char[16]`, `pid_t`. */
  cType: string;
  size: number;
  signed: boolean;
  arrayLength?: number;
}

/** Bytes that follow a type's 12-byte header, by kind. */
function extraSize(kind: number, vlen: number, id: number): number {
  switch (kind) {
    case BtfKind.Int:
    case BtfKind.Var:
    case BtfKind.DeclTag:
      return 4;
    case BtfKind.Array:
      return 12;
    case BtfKind.Struct:
    case BtfKind.Union:
    case BtfKind.Datasec:
    case BtfKind.Enum64:
      return 12 * vlen;
    case BtfKind.Enum:
    case BtfKind.FuncProto:
      return 8 * vlen;
    case BtfKind.Ptr:
    case BtfKind.Fwd:
    case BtfKind.Typedef:
    case BtfKind.Volatile:
    case BtfKind.Const:
    case BtfKind.Restrict:
    case BtfKind.Func:
    case BtfKind.Float:
    case BtfKind.TypeTag:
      return 0;
    default:
      throw new Error(`unknown BTF kind ${kind} at type ${id}`);
  }
}

/** GCC's names of integer types, as the kernel's format files spell them. */
const INT_SPELLING: Record<string, string> = {
  'short int': 'short',
  'short unsigned int': 'unsigned short',
  'long int': 'long',
  'long unsigned int': 'unsigned long',
  'long long int': 'long long',
  'long long unsigned int': 'unsigned long long',
};

export class Btf {
  /** Number of type ids, counting id 0 (void). */
  readonly count: number;
  private readonly view: DataView;
  private readonly strings: string;
  /** Byte offset of each type's record; types are decoded on demand (vmlinux has ~150k). */
  private readonly offsets: Uint32Array;
  private readonly decoded = new Map<number, BtfType>();
  private readonly indexes = new Map<BtfKind, Map<string, number>>();
  private enumerators: Map<string, bigint> | undefined;

  constructor(data: Uint8Array) {
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    if (data.byteLength < 24 || view.getUint16(0, true) !== BTF_MAGIC) {
      throw new Error('not a little-endian BTF blob');
    }
    const hdrLen = view.getUint32(4, true);
    const typeOff = hdrLen + view.getUint32(8, true);
    const typeLen = view.getUint32(12, true);
    const strOff = hdrLen + view.getUint32(16, true);
    const strLen = view.getUint32(20, true);
    if (typeOff + typeLen > data.byteLength || strOff + strLen > data.byteLength) {
      throw new Error('BTF sections run past the end of the data');
    }
    this.view = view;
    // Names are ASCII identifiers: decode the string section once and slice it.
    this.strings = Buffer.from(data.buffer, data.byteOffset + strOff, strLen).toString('latin1');
    const offsets: number[] = [0];
    let p = typeOff;
    const end = typeOff + typeLen;
    while (p + 12 <= end) {
      offsets.push(p);
      const info = view.getUint32(p + 4, true);
      p += 12 + extraSize((info >>> 24) & 0x1f, info & 0xffff, offsets.length - 1);
    }
    this.offsets = Uint32Array.from(offsets);
    this.count = offsets.length;
  }

  private str(off: number): string {
    if (off === 0 || off >= this.strings.length) return '';
    const end = this.strings.indexOf('\0', off);
    return this.strings.slice(off, end < 0 ? this.strings.length : end);
  }

  kindOf(id: number): BtfKind | undefined {
    if (id <= 0 || id >= this.count) return undefined;
    return ((this.view.getUint32(this.offsets[id]! + 4, true) >>> 24) & 0x1f) as BtfKind;
  }

  nameOf(id: number): string {
    if (id <= 0 || id >= this.count) return '';
    return this.str(this.view.getUint32(this.offsets[id]!, true));
  }

  /** The type with this id, or undefined for void and ids out of range. */
  type(id: number): BtfType | undefined {
    if (id <= 0 || id >= this.count) return undefined;
    const cached = this.decoded.get(id);
    if (cached) return cached;
    const view = this.view;
    let p = this.offsets[id]!;
    const info = view.getUint32(p + 4, true);
    const kind = ((info >>> 24) & 0x1f) as BtfKind;
    const vlen = info & 0xffff;
    const kindFlag = info >>> 31 === 1;
    const t: BtfType = { kind, name: this.str(view.getUint32(p, true)), sizeOrType: view.getUint32(p + 8, true), kindFlag };
    p += 12;
    if (kind === BtfKind.Int) {
      const word = view.getUint32(p, true);
      t.intEncoding = (word >>> 24) & 0xf;
      t.intBits = word & 0xff;
    }
    else if (kind === BtfKind.Array) t.array = { type: view.getUint32(p, true), nelems: view.getUint32(p + 8, true) };
    else if (kind === BtfKind.Struct || kind === BtfKind.Union) {
      t.members = [];
      for (let i = 0; i < vlen; i++, p += 12) {
        const raw = view.getUint32(p + 8, true);
        t.members.push({
          name: this.str(view.getUint32(p, true)),
          type: view.getUint32(p + 4, true),
          bitOffset: kindFlag ? raw & 0xffffff : raw,
          bitSize: kindFlag ? raw >>> 24 : 0,
        });
      }
    } else if (kind === BtfKind.Enum || kind === BtfKind.Enum64) {
      t.enumerators = [];
      const step = kind === BtfKind.Enum ? 8 : 12;
      for (let i = 0; i < vlen; i++, p += step) {
        const lo = kind === BtfKind.Enum ? BigInt(kindFlag ? view.getInt32(p + 4, true) : view.getUint32(p + 4, true)) : BigInt(view.getUint32(p + 4, true));
        const value = kind === BtfKind.Enum ? lo : BigInt.asIntN(64, (BigInt(view.getUint32(p + 8, true)) << 32n) | lo);
        t.enumerators.push({ name: this.str(view.getUint32(p, true)), value: kind === BtfKind.Enum64 && !kindFlag ? BigInt.asUintN(64, value) : value });
      }
    } else if (kind === BtfKind.FuncProto) {
      t.members = [];
      for (let i = 0; i < vlen; i++, p += 8) {
        t.members.push({ name: this.str(view.getUint32(p, true)), type: view.getUint32(p + 4, true), bitOffset: 0, bitSize: 0 });
      }
    }
    this.decoded.set(id, t);
    return t;
  }

  /** Ids of all types of one kind, in id order. */
  idsOfKind(kind: BtfKind): number[] {
    const out: number[] = [];
    for (let id = 1; id < this.count; id++) if (this.kindOf(id) === kind) out.push(id);
    return out;
  }

  /** Names of all named types of one kind, in id order. */
  namesOfKind(kind: BtfKind): string[] {
    return [...this.index(kind).keys()];
  }

  /** The id of the first type named `name` of the given kind. */
  find(name: string, kind: BtfKind): number | undefined {
    return this.index(kind).get(name);
  }

  private index(kind: BtfKind): Map<string, number> {
    let index = this.indexes.get(kind);
    if (!index) {
      index = new Map();
      for (const id of this.idsOfKind(kind)) {
        const name = this.nameOf(id);
        if (name && !index.has(name)) index.set(name, id);
      }
      this.indexes.set(kind, index);
    }
    return index;
  }

  /** The value of an enumerator (`TCP_FIN_WAIT1`), from the first enum that has it. */
  enumerator(name: string): bigint | undefined {
    if (!this.enumerators) {
      this.enumerators = new Map();
      for (const kind of [BtfKind.Enum, BtfKind.Enum64]) {
        for (const id of this.idsOfKind(kind)) {
          for (const e of this.type(id)!.enumerators!) if (!this.enumerators.has(e.name)) this.enumerators.set(e.name, e.value);
        }
      }
    }
    return this.enumerators.get(name);
  }

  /** Skips typedefs and qualifiers. */
  resolve(id: number): { id: number; type: BtfType | undefined } {
    let t = this.type(id);
    for (let guard = 0; t && guard < 64; guard++) {
      if (
        t.kind !== BtfKind.Typedef &&
        t.kind !== BtfKind.Const &&
        t.kind !== BtfKind.Volatile &&
        t.kind !== BtfKind.Restrict &&
        t.kind !== BtfKind.TypeTag
      ) {
        break;
      }
      id = t.sizeOrType;
      t = this.type(id);
    }
    return { id, type: t };
  }

  sizeOf(id: number): number {
    const { type } = this.resolve(id);
    if (!type) return 0;
    switch (type.kind) {
      case BtfKind.Ptr:
        return 8;
      case BtfKind.Array:
        return type.array!.nelems * this.sizeOf(type.array!.type);
      case BtfKind.Int:
      case BtfKind.Struct:
      case BtfKind.Union:
      case BtfKind.Enum:
      case BtfKind.Enum64:
      case BtfKind.Float:
        return type.sizeOrType;
      default:
        return 0;
    }
  }

  /** The C spelling of a type, as tracefs format files write it. */
  cName(id: number): string {
    const t = this.type(id);
    if (!t) return 'void';
    switch (t.kind) {
      case BtfKind.Int:
        return INT_SPELLING[t.name] ?? t.name;
      case BtfKind.Typedef:
      case BtfKind.Float:
        return t.name;
      case BtfKind.Struct:
        return `struct ${t.name || '(anon)'}`;
      case BtfKind.Union:
        return `union ${t.name || '(anon)'}`;
      case BtfKind.Enum:
      case BtfKind.Enum64:
        return `enum ${t.name || '(anon)'}`;
      case BtfKind.Fwd:
        return `struct ${t.name}`;
      case BtfKind.Const:
        return `const ${this.cName(t.sizeOrType)}`;
      case BtfKind.Volatile:
        return `volatile ${this.cName(t.sizeOrType)}`;
      case BtfKind.Restrict:
      case BtfKind.TypeTag:
        return this.cName(t.sizeOrType);
      case BtfKind.Ptr:
        return `${this.cName(t.sizeOrType)} *`;
      case BtfKind.Array:
        return `${this.cName(t.array!.type)}[${t.array!.nelems}]`;
      case BtfKind.FuncProto:
        return 'void (*)()';
      default:
        return t.name;
    }
  }

  info(id: number): BtfTypeInfo {
    const { type } = this.resolve(id);
    const cType = this.cName(id);
    if (type?.kind === BtfKind.Array) {
      const elem = this.resolve(type.array!.type).type;
      return {
        cType,
        size: this.sizeOf(id),
        signed: elem?.kind === BtfKind.Int && ((elem.intEncoding ?? 0) & 1) === 1,
        arrayLength: type.array!.nelems,
      };
    }
    const signed = type?.kind === BtfKind.Int && ((type.intEncoding ?? 0) & 1) === 1;
    return { cType, size: this.sizeOf(id), signed };
  }

  /** Parameters of a kernel function (FUNC → FUNC_PROTO), or undefined when BTF does not have it. */
  funcParams(name: string): { name: string; type: number }[] | undefined {
    const id = this.find(name, BtfKind.Func);
    if (id === undefined) return undefined;
    const proto = this.type(this.type(id)!.sizeOrType);
    if (!proto || proto.kind !== BtfKind.FuncProto) return undefined;
    return proto.members!.map((m) => ({ name: m.name, type: m.type }));
  }
}

let cached: { path: string; btf: Btf } | undefined;

/** Reads and parses a BTF file once per process (vmlinux BTF is a few MB; parsing takes ~100 ms). */
export function loadBtf(path = '/sys/kernel/btf/vmlinux'): Btf {
  if (cached?.path === path) return cached.btf;
  const btf = new Btf(readFileSync(path));
  cached = { path, btf };
  return btf;
}
