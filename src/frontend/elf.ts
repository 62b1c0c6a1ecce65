// A small ELF64 (little-endian) reader: function symbols with the file offsets uprobes attach at,
// data symbols (for uaddr()), and SystemTap SDT notes (USDT probes).
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { inflateSync } from 'node:zlib';
import { KtError } from '../errors.js';

export interface ElfFunction {
  name: string;
  /** Virtual address as the symbol table gives it. */
  address: number;
  /** Offset in the file: what a uprobe attaches at. */
  fileOffset: number;
  size: number;
}

export interface UsdtProbe {
  provider: string;
  name: string;
  /** File offset of the probe's instruction. */
  fileOffset: number;
  /** Address of the semaphore, 0 when the probe has none. */
  semaphore: number;
  /** Argument specs as written in the note, e.g. `8@%rdi -4@-20(%rbp)`. */
  args: string;
}

/** A data symbol (STT_OBJECT): a global or static variable, at its link-time address. */
export interface ElfObject {
  name: string;
  address: number;
  size: number;
}

export interface ElfInfo {
  functions: ElfFunction[];
  objects: ElfObject[];
  usdt: UsdtProbe[];
}

interface Section {
  name: string;
  nameOff: number;
  type: number;
  addr: number;
  offset: number;
  size: number;
  link: number;
  entsize: number;
}

interface Segment {
  type: number;
  offset: number;
  vaddr: number;
  filesz: number;
  memsz: number;
}

const SHT_SYMTAB = 2;
const SHT_NOTE = 7;
const SHT_DYNSYM = 11;
const PT_LOAD = 1;
const STT_OBJECT = 1;
const STT_FUNC = 2;
const STT_GNU_IFUNC = 10;
const NT_STAPSDT = 3;

/** Reads a whole file; symbol tables are spread through it, and binaries are a few MB at most. */
function readFile(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const buf = Buffer.alloc(size);
    let done = 0;
    while (done < size) {
      const n = readSync(fd, buf, done, size - done, done);
      if (n === 0) break;
      done += n;
    }
    return buf.subarray(0, done);
  } finally {
    closeSync(fd);
  }
}

function cString(buf: Buffer, off: number, limit = buf.length): string {
  let end = off;
  while (end < limit && buf[end] !== 0) end++;
  return buf.toString('utf8', off, end);
}

/** The section headers of an ELF64 little-endian file, named. Throws KtError elf-invalid when it is not one. */
function parseHeaders(buf: Buffer, path: string): { segments: Segment[]; sections: Section[]; num: (off: number) => number } {
  if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46) throw new KtError('elf-invalid', `${path} is not an ELF file`);
  if (buf[4] !== 2) throw new KtError('elf-invalid', `${path} is not a 64-bit ELF file`);
  if (buf[5] !== 1) throw new KtError('elf-invalid', `${path} is not a little-endian ELF file`);
  const num = (off: number): number => {
    if (off + 8 > buf.length) throw new KtError('elf-invalid', `${path} is truncated`);
    return Number(buf.readBigUInt64LE(off));
  };
  const phoff = num(32);
  const shoff = num(40);
  const phentsize = buf.readUInt16LE(54);
  const phnum = buf.readUInt16LE(56);
  const shentsize = buf.readUInt16LE(58);
  const shnum = buf.readUInt16LE(60);
  const shstrndx = buf.readUInt16LE(62);

  const segments: Segment[] = [];
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * phentsize;
    if (p + 56 > buf.length) throw new KtError('elf-invalid', `${path} is truncated`);
    segments.push({ type: buf.readUInt32LE(p), offset: num(p + 8), vaddr: num(p + 16), filesz: num(p + 32), memsz: num(p + 40) });
  }
  const sections: Section[] = [];
  for (let i = 0; i < shnum; i++) {
    const s = shoff + i * shentsize;
    if (s + 64 > buf.length) throw new KtError('elf-invalid', `${path} is truncated`);
    sections.push({
      name: '',
      nameOff: buf.readUInt32LE(s),
      type: buf.readUInt32LE(s + 4),
      addr: num(s + 16),
      offset: num(s + 24),
      size: num(s + 32),
      link: buf.readUInt32LE(s + 40),
      entsize: num(s + 56),
    });
  }
  const shstr = sections[shstrndx];
  if (shstr) for (const s of sections) s.name = cString(buf, shstr.offset + s.nameOff);
  return { segments, sections, num };
}

/**
 * The function and data symbols of `buf`'s symbol tables into `functions` and `objects` (a name seen
 * before keeps its first symbol). `toFileOffset`: where an address is in the file uprobes attach to.
 */
function readSymbols(
  buf: Buffer,
  headers: ReturnType<typeof parseHeaders>,
  toFileOffset: (addr: number) => number | undefined,
  functions: Map<string, ElfFunction>,
  objects: Map<string, ElfObject>,
): void {
  const { sections, num } = headers;
  // .symtab first: it has the local functions too; .dynsym adds nothing new when both exist.
  const tables = [...sections.filter((s) => s.type === SHT_SYMTAB), ...sections.filter((s) => s.type === SHT_DYNSYM)];
  for (const table of tables) {
    const strtab = sections[table.link];
    if (!strtab || table.entsize < 24) continue;
    const end = Math.min(table.offset + table.size, buf.length);
    for (let p = table.offset; p + 24 <= end; p += table.entsize) {
      const type = buf[p + 4]! & 0xf;
      const shndx = buf.readUInt16LE(p + 6);
      const isFunction = type === STT_FUNC || type === STT_GNU_IFUNC;
      if ((!isFunction && type !== STT_OBJECT) || shndx === 0) continue;
      const address = num(p + 8);
      if (address === 0) continue;
      // Versioned names (`malloc@@GLIBC_2.2.5`) appear only in static tables; keep the plain name.
      const name = cString(buf, strtab.offset + buf.readUInt32LE(p)).replace(/@.*$/, '');
      if (!isFunction) {
        if (name && !objects.has(name)) objects.set(name, { name, address, size: num(p + 16) });
        continue;
      }
      if (!name || functions.has(name)) continue;
      const fileOffset = toFileOffset(address);
      if (fileOffset === undefined) continue;
      functions.set(name, { name, address, fileOffset, size: num(p + 16) });
    }
  }
}

/**
 * Parses the symbols and USDT notes of an ELF64 file; `debugFile`: the bytes of its separate debug
 * file, whose symbol table adds the local functions a stripped file lacks (their file offsets are the
 * file's: a debug file keeps addresses, not contents); `buf`: the file's bytes, when the caller has
 * read them already. Throws KtError elf-invalid when either is not an ELF64 file.
 */
export function readElf(path: string, debugFile?: Buffer, buf: Buffer = readFile(path)): ElfInfo {
  const headers = parseHeaders(buf, path);
  const { segments, sections, num } = headers;

  const toFileOffset = (addr: number): number | undefined => {
    for (const seg of segments) {
      if (seg.type === PT_LOAD && addr >= seg.vaddr && addr < seg.vaddr + seg.filesz) return addr - seg.vaddr + seg.offset;
    }
    return undefined;
  };

  const functions = new Map<string, ElfFunction>();
  const objects = new Map<string, ElfObject>();
  readSymbols(buf, headers, toFileOffset, functions, objects);
  if (debugFile) readSymbols(debugFile, parseHeaders(debugFile, `the debug file of ${path}`), toFileOffset, functions, objects);

  const usdt: UsdtProbe[] = [];
  const note = sections.find((s) => s.type === SHT_NOTE && s.name === '.note.stapsdt');
  const base = sections.find((s) => s.name === '.stapsdt.base');
  if (note) {
    let p = note.offset;
    const end = Math.min(note.offset + note.size, buf.length);
    while (p + 12 <= end) {
      const namesz = buf.readUInt32LE(p);
      const descsz = buf.readUInt32LE(p + 4);
      const type = buf.readUInt32LE(p + 8);
      const nameOff = p + 12;
      const descOff = nameOff + Math.ceil(namesz / 4) * 4;
      const next = descOff + Math.ceil(descsz / 4) * 4;
      if (next > end) break;
      if (type === NT_STAPSDT && cString(buf, nameOff, nameOff + namesz) === 'stapsdt' && descsz >= 24) {
        let pc = num(descOff);
        const linkBase = num(descOff + 8);
        const semaphore = num(descOff + 16);
        // Prelinked or moved binaries: the note records the link-time address of .stapsdt.base.
        if (base && linkBase) pc += base.addr - linkBase;
        const descEnd = descOff + descsz;
        const provider = cString(buf, descOff + 24, descEnd);
        const nameStart = descOff + 24 + Buffer.byteLength(provider) + 1;
        const probeName = cString(buf, nameStart, descEnd);
        const args = cString(buf, nameStart + Buffer.byteLength(probeName) + 1, descEnd);
        const fileOffset = toFileOffset(pc);
        if (fileOffset !== undefined) usdt.push({ provider, name: probeName, fileOffset, semaphore, args });
      }
      p = next;
    }
  }
  return { functions: [...functions.values()], objects: [...objects.values()], usdt };
}

const SHF_COMPRESSED = 0x800;
const ELFCOMPRESS_ZLIB = 1;
/** The most a compressed section may inflate to: debug info of the largest libraries is a few hundred MB. */
const MAX_INFLATED = 1 << 30;

/**
 * The bytes of the section called `name` in an ELF64 little-endian object, or undefined when it has
 * none; a compressed section (SHF_COMPRESSED, as Debian's debug packages have them) inflated. Throws
 * KtError elf-invalid when a compressed section cannot be inflated.
 */
export function elfSection(buf: Buffer, name: string): Buffer | undefined {
  if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46 || buf[4] !== 2 || buf[5] !== 1) return undefined;
  const shoff = Number(buf.readBigUInt64LE(40));
  const shentsize = buf.readUInt16LE(58);
  const shnum = buf.readUInt16LE(60);
  const header = (i: number): { nameOff: number; flags: number; offset: number; size: number } | undefined => {
    const s = shoff + i * shentsize;
    if (s + 64 > buf.length) return undefined;
    return { nameOff: buf.readUInt32LE(s), flags: Number(buf.readBigUInt64LE(s + 8)), offset: Number(buf.readBigUInt64LE(s + 24)), size: Number(buf.readBigUInt64LE(s + 32)) };
  };
  const strtab = header(buf.readUInt16LE(62));
  if (!strtab) return undefined;
  for (let i = 0; i < shnum; i++) {
    const h = header(i);
    if (!h || cString(buf, strtab.offset + h.nameOff) !== name || h.offset + h.size > buf.length) continue;
    const bytes = buf.subarray(h.offset, h.offset + h.size);
    return h.flags & SHF_COMPRESSED ? inflateSection(bytes, name) : bytes;
  }
  return undefined;
}

/** A compressed section's bytes: an Elf64_Chdr (type, reserved, size, alignment), then the stream. */
function inflateSection(bytes: Buffer, name: string): Buffer {
  if (bytes.length < 24) throw new KtError('elf-invalid', `section ${name} is compressed but too short for its header`);
  const type = bytes.readUInt32LE(0);
  const size = Number(bytes.readBigUInt64LE(8));
  if (type !== ELFCOMPRESS_ZLIB) throw new KtError('elf-invalid', `section ${name} is compressed with a method kafkatrace cannot inflate (type ${type}; zlib is 1)`);
  if (size > MAX_INFLATED) throw new KtError('elf-invalid', `section ${name} says it inflates to ${size} bytes`);
  let out: Buffer;
  try {
    out = inflateSync(bytes.subarray(24), { maxOutputLength: Math.max(size, 1) });
  } catch (e) {
    throw new KtError('elf-invalid', `section ${name} cannot be inflated: ${(e as Error).message}`);
  }
  if (out.length !== size) throw new KtError('elf-invalid', `section ${name} inflates to ${out.length} bytes, not the ${size} its header says`);
  return out;
}

/** The GNU build id of an ELF64 object (its .note.gnu.build-id), in hex, or undefined. */
export function buildId(buf: Buffer): string | undefined {
  const note = elfSection(buf, '.note.gnu.build-id');
  if (!note || note.length < 16) return undefined;
  const namesz = note.readUInt32LE(0);
  const descsz = note.readUInt32LE(4);
  const descOff = 12 + Math.ceil(namesz / 4) * 4;
  if (note.readUInt32LE(8) !== 3 || descsz === 0 || descOff + descsz > note.length) return undefined;
  return note.subarray(descOff, descOff + descsz).toString('hex');
}
