// Symbol, user-name resolution for output: ksym from /proc/kallsyms, usym from the ELF symbols of
// the file mapped at an address in /proc/PID/maps, user names from /etc/passwd. Everything is read
// lazily and cached; a failure to read just leaves the address unresolved, printed as bpftrace does.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { globToRegExp } from '../frontend/glob.js';
import { type ElfFunction, readElf } from '../frontend/elf.js';

export interface Symbolizer {
  /** Kernel symbol at addr: `name`, or `name+off` with withOffset; unresolved: `0x...` hex. */
  ksym(addr: bigint, withOffset?: boolean): string;
  /** User symbol of process pid at addr, same forms as ksym. */
  usym(addr: bigint, pid: number, withOffset?: boolean): string;
  /** The user name of uid, or '' when /etc/passwd has none (as bpftrace prints it). */
  username(uid: number): string;
  /**
   * cgroup_path(): `hierarchy:/path` of cgroup id in every mounted hierarchy whose name matches
   * `filter` and that holds it (`unified` first, then v1 hierarchies by name), comma-separated.
   */
  cgroupPath(id: bigint, filter: string): string;
}

interface KernelSymbol {
  addr: bigint;
  name: string;
}

interface Mapping {
  start: bigint;
  end: bigint;
  offset: bigint;
  perms: string;
  path: string;
}

/** Parses /proc/kallsyms text into symbols sorted by address (zeroed addresses dropped). */
export function parseKallsyms(text: string): KernelSymbol[] {
  const out: KernelSymbol[] = [];
  for (const line of text.split('\n')) {
    const parts = line.split(/\s+/);
    if (parts.length < 3 || !parts[0]) continue;
    const addr = BigInt('0x' + parts[0]);
    if (addr === 0n) continue;
    out.push({ addr, name: parts[2]! });
  }
  out.sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
  return out;
}

/** uid → name from /etc/passwd text; the first line for a uid wins, as in bpftrace. */
export function parsePasswd(text: string): Map<number, string> {
  const users = new Map<number, string>();
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields.length < 3) continue;
    const uid = Number(fields[2]);
    if (Number.isInteger(uid) && !users.has(uid)) users.set(uid, fields[0]!);
  }
  return users;
}

export function parseProcMaps(text: string): Mapping[] {
  const out: Mapping[] = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+)\s+(\S+)\s+([0-9a-f]+)\s+\S+\s+\d+\s*(.*)$/.exec(line);
    if (!m) continue;
    out.push({
      start: BigInt('0x' + m[1]),
      end: BigInt('0x' + m[2]),
      perms: m[3]!,
      offset: BigInt('0x' + m[4]),
      path: m[5]!.trim(),
    });
  }
  return out;
}

/** Nearest kernel symbol at or below addr. */
function findKernelSymbol(symbols: KernelSymbol[], addr: bigint): KernelSymbol | undefined {
  let lo = 0;
  let hi = symbols.length - 1;
  let best: KernelSymbol | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (symbols[mid]!.addr <= addr) {
      best = symbols[mid];
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return best;
}

/** How C++ prints `(void *)addr`: `0` for null, lower-case hex with 0x otherwise. */
export function rawAddress(addr: bigint): string {
  return addr === 0n ? '0' : '0x' + BigInt.asUintN(64, addr).toString(16);
}

interface SymbolSources {
  kallsyms?: string;
  passwd?: string;
  /** Where /proc is (tests point it at a fake tree). */
  proc?: string;
}

/** The cgroup hierarchies of a /proc/mounts text: `unified` for cgroup2, the mount directory's name for v1. */
function cgroupRoots(mounts: string): { name: string; path: string }[] {
  const roots: { name: string; path: string }[] = [];
  for (const m of mounts.matchAll(/^(cgroup2?) (\S+)/gm)) {
    const path = m[2]!;
    roots.push({ name: m[1] === 'cgroup2' ? 'unified' : path.slice(path.lastIndexOf('/') + 1), path });
  }
  return roots;
}

function inode(path: string): bigint | undefined {
  try {
    return statSync(path, { bigint: true }).ino;
  } catch {
    return undefined;
  }
}

/** The path under `root` of the directory whose inode is `id` ('/' for root itself), depth first. */
function cgroupDir(root: string, id: bigint): string | undefined {
  if (inode(root) === id) return '/';
  const walk = (dir: string): string | undefined => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return undefined;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const path = join(dir, e.name);
      if (inode(path) === id) return path.slice(root.length);
      const found = walk(path);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  return walk(root);
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** A file's function symbols sorted by file offset; undefined when it cannot be read as ELF. */
function functionsByOffset(path: string): ElfFunction[] | undefined {
  try {
    return readElf(path).functions.sort((a, b) => a.fileOffset - b.fileOffset);
  } catch {
    return undefined;
  }
}

/** The function whose code holds a file offset (for zero-size symbols, the nearest one before it). */
function functionAt(functions: ElfFunction[], fileOffset: number): ElfFunction | undefined {
  let lo = 0;
  let hi = functions.length - 1;
  let best = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (functions[mid]!.fileOffset <= fileOffset) {
      best = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  // Several symbols may share an address (aliases); any sized one that covers the offset will do.
  for (let i = best; i >= 0 && functions[i]!.fileOffset === functions[best]!.fileOffset; i--) {
    const f = functions[i]!;
    if (f.size === 0 || fileOffset < f.fileOffset + f.size) return f;
  }
  return undefined;
}

export function createSymbolizer(sources: SymbolSources = {}): Symbolizer {
  const proc = sources.proc ?? '/proc';
  let kernel: KernelSymbol[] | undefined;
  let users: Map<number, string> | undefined;
  const maps = new Map<number, Mapping[]>();
  const elves = new Map<string, ElfFunction[] | undefined>();

  const functionsOf = (pid: number, path: string): ElfFunction[] | undefined => {
    if (!elves.has(path)) elves.set(path, functionsByOffset(path) ?? functionsByOffset(`${proc}/${pid}/root${path}`));
    return elves.get(path);
  };

  return {
    ksym(addr, withOffset = false) {
      kernel ??= parseKallsyms(readText(sources.kallsyms ?? `${proc}/kallsyms`) ?? '');
      const sym = findKernelSymbol(kernel, addr);
      if (!sym) return rawAddress(addr);
      return withOffset ? `${sym.name}+${addr - sym.addr}` : sym.name;
    },
    usym(addr, pid, withOffset = false) {
      let mappings = maps.get(pid);
      if (!mappings) {
        mappings = parseProcMaps(readText(`${proc}/${pid}/maps`) ?? '');
        maps.set(pid, mappings);
      }
      // Only executable mappings hold code, as bcc (and so bpftrace) assumes: an address in data
      // (a broken frame) stays unresolved.
      const m = mappings.find((x) => addr >= x.start && addr < x.end && x.perms.includes('x') && x.path.startsWith('/'));
      const functions = m ? functionsOf(pid, m.path) : undefined;
      const fileOffset = m ? Number(addr - m.start + m.offset) : 0;
      const sym = functions ? functionAt(functions, fileOffset) : undefined;
      if (!sym) return rawAddress(addr);
      return withOffset ? `${sym.name}+${fileOffset - sym.fileOffset}` : sym.name;
    },
    username(uid) {
      users ??= parsePasswd(readText(sources.passwd ?? '/etc/passwd') ?? '');
      return users.get(uid) ?? '';
    },
    // Looked up each time, as bpftrace does: cgroups come and go while a script runs.
    cgroupPath(id, filter) {
      const match = globToRegExp(filter);
      const roots = cgroupRoots(readText(`${proc}/mounts`) ?? '').filter((r) => match.test(r.name));
      roots.sort((a, b) => (a.name === 'unified' ? -1 : b.name === 'unified' ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      return roots.flatMap((r) => {
        const path = cgroupDir(r.path, id);
        return path === undefined ? [] : [`${r.name}:${path}`];
      }).join(',');
    },
  };
}
