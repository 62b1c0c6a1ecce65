// A small ELF64 little-endian reader for user-space symbolisation: function and object symbols of
// .symtab and .dynsym, and the PT_LOAD segments that map file offsets to virtual addresses.
import { readFileSync } from 'node:fs';

export interface ElfSymbol {
  name: string;
  addr: bigint;
  size: bigint;
}

export interface ElfImage {
  /** Sorted by address. */
  symbols: ElfSymbol[];
  loads: { offset: bigint; vaddr: bigint; filesz: bigint }[];
  /** ET_DYN (shared objects, PIE) or ET_EXEC. */
  type: number;
}

const SHT_SYMTAB = 2;
const SHT_DYNSYM = 11;
const PT_LOAD = 1;
const STT_OBJECT = 1;
const STT_FUNC = 2;

/** Parses an ELF64 LE image; undefined when the bytes are not one. */
export function parseElf(bytes: Uint8Array): ElfImage | undefined {
  if (bytes.length < 64 || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) return undefined;
  if (bytes[4] !== 2 || bytes[5] !== 1) return undefined;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (o: number): number => dv.getUint16(o, true);
  const u32 = (o: number): number => dv.getUint32(o, true);
  const u64 = (o: number): bigint => dv.getBigUint64(o, true);
  try {
    const type = u16(16);
    const phoff = Number(u64(32));
    const shoff = Number(u64(40));
    const phentsize = u16(54);
    const phnum = u16(56);
    const shentsize = u16(58);
    const shnum = u16(60);
    const loads: ElfImage['loads'] = [];
    for (let i = 0; i < phnum; i++) {
      const p = phoff + i * phentsize;
      if (u32(p) === PT_LOAD) loads.push({ offset: u64(p + 8), vaddr: u64(p + 16), filesz: u64(p + 32) });
    }
    const symbols: ElfSymbol[] = [];
    const decoder = new TextDecoder();
    for (let i = 0; i < shnum; i++) {
      const s = shoff + i * shentsize;
      const shType = u32(s + 4);
      if (shType !== SHT_SYMTAB && shType !== SHT_DYNSYM) continue;
      const off = Number(u64(s + 24));
      const size = Number(u64(s + 32));
      const link = u32(s + 40);
      const entsize = Number(u64(s + 56)) || 24;
      const strOff = Number(u64(shoff + link * shentsize + 24));
      for (let e = off; e + entsize <= off + size; e += entsize) {
        const info = bytes[e + 4]!;
        const stt = info & 0xf;
        const value = u64(e + 8);
        if ((stt !== STT_FUNC && stt !== STT_OBJECT) || value === 0n) continue;
        const nameStart = strOff + u32(e);
        let nameEnd = nameStart;
        while (nameEnd < bytes.length && bytes[nameEnd] !== 0) nameEnd++;
        symbols.push({ name: decoder.decode(bytes.subarray(nameStart, nameEnd)), addr: value, size: u64(e + 16) });
      }
    }
    symbols.sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
    return { symbols, loads, type };
  } catch {
    return undefined;
  }
}

export function readElf(path: string): ElfImage | undefined {
  try {
    return parseElf(readFileSync(path));
  } catch {
    return undefined;
  }
}

/** The virtual address (as the ELF file numbers it) of a file offset, via its PT_LOAD segment. */
export function fileOffsetToVaddr(img: ElfImage, offset: bigint): bigint | undefined {
  for (const l of img.loads) {
    if (offset >= l.offset && offset < l.offset + l.filesz) return offset - l.offset + l.vaddr;
  }
  return undefined;
}

/** The symbol containing `vaddr` (or, for zero-size symbols, the nearest one before it). */
export function findSymbol(symbols: ElfSymbol[], vaddr: bigint): ElfSymbol | undefined {
  let lo = 0;
  let hi = symbols.length - 1;
  let best = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (symbols[mid]!.addr <= vaddr) {
      best = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  if (best < 0) return undefined;
  // Several symbols may share an address (aliases); any sized one that covers vaddr will do.
  for (let i = best; i >= 0 && symbols[i]!.addr === symbols[best]!.addr; i--) {
    const s = symbols[i]!;
    if (s.size === 0n || vaddr < s.addr + s.size) return s;
  }
  return undefined;
}
