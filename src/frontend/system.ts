// What semantic analysis needs to know about the machine: tracepoints and their formats, raw
// tracepoints, kernel functions and symbols, the symbols and USDT probes of binaries, and cgroup
// ids. Every host look-up of the compiler goes through here, so tests fake them all. The real
// implementation reads tracefs when it can and BTF otherwise (tracefs is usually root-only, and
// `kafkatrace check` must work without root); tests use a fake.
import { execFileSync } from 'node:child_process';
import { closeSync, fstatSync, lstatSync, openSync, readFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { findOnPath, mountRootOf, pathInMountRoot } from '../executables.js';
import type { TracepointFormat } from './analysis.js';
import { type Btf, BtfKind, loadBtf } from './btf.js';
import { type RecordMember, recordMembers } from './btf-members.js';
import { compileTypes } from './clang-types.js';
import { type DebugInfo, type DebugParameter, type DebugRecord, readDebugInfo } from './dwarf.js';
import { type ElfFunction, type ElfInfo, type ElfObject, type UsdtProbe, buildId, readElf } from './elf.js';
import { globToRegExp, hasWildcard } from './glob.js';
import { btfEventNames, btfHasEventFormat, btfSyscalls, btfTracepointFormat, parseFormatFile } from './tracepoint-format.js';

export interface TracepointId {
  category: string;
  name: string;
}

export type SystemResult<T> = { ok: true; value: T } | { ok: false; error: string };

export interface SystemInfo {
  /** Tracepoints matching a `category:name` glob (each side may hold `*`, `?`, `{a,b}`). */
  tracepoints(glob: string): TracepointId[];
  /** The format of one tracepoint, or undefined when it does not exist or cannot be read. */
  tracepointFormat(category: string, name: string): TracepointFormat | undefined;
  /** Raw tracepoint names matching a glob. */
  rawTracepoints(glob: string): string[];
  /** Kernel function names matching a glob (for kprobe/fentry wildcards and suggestions). */
  kernelFunctions(glob: string): string[];
  /** Function symbols of a binary (an absolute path, as resolveBinary returns). */
  symbols(binary: string): SystemResult<ElfFunction[]>;
  usdtProbes(binary: string): SystemResult<UsdtProbe[]>;
  /** Data symbols of a binary at their link-time addresses (for uaddr()). */
  dataSymbols(binary: string): SystemResult<ElfObject[]>;
  /** Kernel symbols and their addresses (for kaddr()); an address is 0 where the kernel hides it from this user. */
  kernelSymbols(): SystemResult<Map<string, bigint>>;
  /** The id of a cgroup v2 directory (for cgroupid()): its inode number. */
  cgroupId(path: string): SystemResult<bigint>;
  /**
   * A path for `/bin/bash`, `bash` (from PATH), `libc` or `libc.so.6` (shared libraries). Given the
   * pid of a process in another mount namespace (-p), a path or name is the process's, seen through
   * /proc/PID/root, as bpftrace resolves it.
   */
  resolveBinary(name: string, pid?: number): string | undefined;
  /** The size of a kernel struct or union (`struct task_struct`, `union bpf_attr`), from BTF. */
  recordSize(name: string): SystemResult<number>;
  /** The members of a kernel struct or union, from BTF (anonymous structs and unions flattened). */
  recordMembers(name: string): SystemResult<RecordMember[]>;
  /** Regular files matching a path whose components may hold wildcards, spelled as the pattern is (relative stays relative), sorted. */
  matchFiles(glob: string): string[];
  /** The files a process maps executable (its program and libraries), as paths through /proc/PID/root. */
  processObjects(pid: number): SystemResult<string[]>;
  /** A function's parameters, from the binary's DWARF (for a uprobe's args); an error when it has none for the function. */
  functionParameters(binary: string, func: string): SystemResult<DebugParameter[]>;
  /** A struct or union (`struct Foo`) the binary's DWARF defines. */
  debugRecord(binary: string, name: string): SystemResult<DebugRecord>;
  /** The value of a kernel enumerator (`TCP_FIN_WAIT1`), from BTF. */
  enumerator(name: string): bigint | undefined;
  /** The BTF clang makes of C (a script's definitions), or clang's messages. */
  compileTypes(source: string): SystemResult<Uint8Array>;
}

function readableDir(path: string): boolean {
  try {
    readdirSync(path);
    return true;
  } catch {
    return false;
  }
}

const TRACEFS_DIRS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];

/** Finds a readable tracefs, mounting it at /sys/kernel/tracing when it is missing and we are root. */
export function ensureTracefs(): { path?: string; error?: string } {
  for (const dir of TRACEFS_DIRS) if (readableDir(join(dir, 'events'))) return { path: dir };
  if (process.getuid?.() !== 0) {
    return { error: 'tracefs is not mounted or not readable (reading it, or mounting it, needs root)' };
  }
  try {
    execFileSync('mount', ['-t', 'tracefs', 'tracefs', '/sys/kernel/tracing'], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim();
    return { error: `cannot mount tracefs at /sys/kernel/tracing: ${stderr || (e as Error).message}` };
  }
  return readableDir('/sys/kernel/tracing/events')
    ? { path: '/sys/kernel/tracing' }
    : { error: 'tracefs was mounted at /sys/kernel/tracing but its events are not readable' };
}

function splitGlob(glob: string): [string, string] {
  const i = glob.indexOf(':');
  return i < 0 ? ['*', glob] : [glob.slice(0, i), glob.slice(i + 1)];
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Symbol name -> address from /proc/kallsyms text; the first of several same-named symbols wins. */
function kallsymsByName(text: string): Map<string, bigint> {
  const symbols = new Map<string, bigint>();
  for (const line of text.split('\n')) {
    const [addr, , sym] = line.split(/\s+/);
    if (sym === undefined || addr === undefined || !/^[0-9a-f]+$/i.test(addr) || symbols.has(sym)) continue;
    symbols.set(sym, BigInt('0x' + addr));
  }
  return symbols;
}

const LIBRARY_DIRS = [
  '/lib/x86_64-linux-gnu',
  '/usr/lib/x86_64-linux-gnu',
  '/lib64',
  '/usr/lib64',
  '/lib',
  '/usr/lib',
  '/usr/local/lib',
];

const STICKY = 0o1000;

/**
 * A file's bytes when root owns it and every directory above it and nobody else can write any of them
 * (a sticky directory such as /tmp aside: nobody can rename what root put there), as the debug files
 * packages install; undefined otherwise or when it cannot be read. Debug info found by name, rather
 * than given on the command line, is trusted only so.
 */
function rootFile(path: string): Buffer | undefined {
  let fd: number | undefined;
  try {
    const real = realpathSync(path);
    for (let dir = dirname(real); ; dir = dirname(dir)) {
      const s = lstatSync(dir);
      if (s.uid !== 0 || ((s.mode & 0o022) !== 0 && (s.mode & STICKY) === 0)) return undefined;
      if (dir === '/') break;
    }
    fd = openSync(real, 'r');
    const s = fstatSync(fd);
    if (!s.isFile() || s.uid !== 0 || (s.mode & 0o022) !== 0) return undefined;
    return readFileSync(fd);
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

interface RealSystemOptions {
  /** A tracefs root to read, or false to use BTF only. Default: find (or mount) one. */
  tracefs?: string | false;
  btfPath?: string;
  /** Where separate debug files are, by build id (`.build-id/XX/REST.debug`). Default: /usr/lib/debug. */
  debugDir?: string;
}

/** Names in `dir` matching a wildcard component; none when it cannot be read. */
function matchIn(dir: string, component: string): string[] {
  const re = globToRegExp(component);
  try {
    return readdirSync(dir).filter((n) => re.test(n));
  } catch {
    return [];
  }
}

export class RealSystem implements SystemInfo {
  private tracefsRoot: string | undefined;
  private btfCache: Btf | null | undefined;
  private readonly elfCache = new Map<string, SystemResult<ElfInfo>>();
  private readonly debugCache = new Map<string, SystemResult<DebugInfo | undefined>>();
  private readonly debugFiles = new Map<string, Buffer | undefined>();
  private tracefsList: TracepointId[] | undefined;
  private libraries: Map<string, string> | undefined;
  private kallsyms: SystemResult<Map<string, bigint>> | undefined;

  constructor(private readonly options: RealSystemOptions = {}) {
    if (options.tracefs === false) this.tracefsRoot = undefined;
    else if (options.tracefs) this.tracefsRoot = options.tracefs;
    else this.tracefsRoot = ensureTracefs().path;
  }

  /** Where tracepoint information comes from, for messages and tests. */
  get source(): 'tracefs' | 'btf' {
    return this.tracefsRoot ? 'tracefs' : 'btf';
  }

  private btf(): Btf | undefined {
    if (this.btfCache === undefined) {
      try {
        this.btfCache = loadBtf(this.options.btfPath);
      } catch {
        this.btfCache = null;
      }
    }
    return this.btfCache ?? undefined;
  }

  private allTracefsTracepoints(root: string): TracepointId[] {
    if (!this.tracefsList) {
      const out: TracepointId[] = [];
      for (const category of readdirSync(join(root, 'events'), { withFileTypes: true })) {
        if (!category.isDirectory()) continue;
        for (const ev of readdirSync(join(root, 'events', category.name), { withFileTypes: true })) {
          if (ev.isDirectory()) out.push({ category: category.name, name: ev.name });
        }
      }
      this.tracefsList = out;
    }
    return this.tracefsList;
  }

  tracepoints(glob: string): TracepointId[] {
    const [catGlob, nameGlob] = splitGlob(glob);
    const catRe = globToRegExp(catGlob);
    const nameRe = globToRegExp(nameGlob);
    if (this.tracefsRoot) {
      // One named tracepoint is a single stat, not a walk of every category (start-up time).
      if (!hasWildcard(catGlob) && !hasWildcard(nameGlob)) {
        return readableDir(join(this.tracefsRoot, 'events', catGlob, nameGlob)) ? [{ category: catGlob, name: nameGlob }] : [];
      }
      return this.allTracefsTracepoints(this.tracefsRoot).filter((t) => catRe.test(t.category) && nameRe.test(t.name));
    }
    const btf = this.btf();
    if (!btf) return [];
    const out: TracepointId[] = [];
    if (catRe.test('syscalls')) {
      for (const sc of btfSyscalls(btf)) {
        for (const name of [`sys_enter_${sc}`, `sys_exit_${sc}`]) if (nameRe.test(name)) out.push({ category: 'syscalls', name });
      }
    }
    // BTF does not record categories: accept the category as written when it names one.
    if (!hasWildcard(catGlob) && catGlob !== 'syscalls') {
      for (const name of btfEventNames(btf)) {
        if (nameRe.test(name) && btfHasEventFormat(btf, name)) out.push({ category: catGlob, name });
      }
    }
    return out;
  }

  tracepointFormat(category: string, name: string): TracepointFormat | undefined {
    if (this.tracefsRoot) {
      try {
        return parseFormatFile(readFileSync(join(this.tracefsRoot, 'events', category, name, 'format'), 'utf8'), category, name);
      } catch {
        return undefined;
      }
    }
    const btf = this.btf();
    return btf ? btfTracepointFormat(btf, category, name) : undefined;
  }

  rawTracepoints(glob: string): string[] {
    const re = globToRegExp(glob);
    const btf = this.btf();
    if (btf) return btfEventNames(btf).filter((n) => re.test(n));
    if (this.tracefsRoot) return [...new Set(this.allTracefsTracepoints(this.tracefsRoot).map((t) => t.name))].filter((n) => re.test(n));
    return [];
  }

  kernelFunctions(glob: string): string[] {
    const re = globToRegExp(glob);
    return this.btf()?.namesOfKind(BtfKind.Func).filter((n) => re.test(n)) ?? [];
  }

  /** The separate debug file a binary's build id names, when root owns it (see rootFile); Debian's -dbg and -dbgsym packages install them. */
  private separateDebugFile(binary: string, elf: Buffer): Buffer | undefined {
    if (!this.debugFiles.has(binary)) {
      const id = buildId(elf);
      this.debugFiles.set(binary, id && id.length > 2 ? rootFile(join(this.options.debugDir ?? '/usr/lib/debug', '.build-id', id.slice(0, 2), `${id.slice(2)}.debug`)) : undefined);
    }
    return this.debugFiles.get(binary);
  }

  private elf(binary: string): SystemResult<ElfInfo> {
    let r = this.elfCache.get(binary);
    if (!r) {
      try {
        const bytes = readFileSync(binary);
        r = { ok: true, value: readElf(binary, this.separateDebugFile(binary, bytes), bytes) };
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        r = { ok: false, error: err.code === 'ENOENT' ? `${binary}: no such file` : err.code ? `cannot read ${binary}: ${err.code}` : err.message };
      }
      this.elfCache.set(binary, r);
    }
    return r;
  }

  symbols(binary: string): SystemResult<ElfFunction[]> {
    const r = this.elf(binary);
    return r.ok ? { ok: true, value: r.value.functions } : r;
  }

  usdtProbes(binary: string): SystemResult<UsdtProbe[]> {
    const r = this.elf(binary);
    return r.ok ? { ok: true, value: r.value.usdt } : r;
  }

  dataSymbols(binary: string): SystemResult<ElfObject[]> {
    const r = this.elf(binary);
    return r.ok ? { ok: true, value: r.value.objects } : r;
  }

  /** A binary's DWARF: its own, else its separate debug file's. */
  private debugInfo(binary: string): SystemResult<DebugInfo> {
    let r = this.debugCache.get(binary);
    if (!r) {
      try {
        const elf = readFileSync(binary);
        const separate = this.separateDebugFile(binary, elf);
        r = { ok: true, value: readDebugInfo(elf) ?? (separate && readDebugInfo(separate)) };
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        r = { ok: false, error: err.code === 'ENOENT' ? `${binary}: no such file` : err.code ? `cannot read ${binary}: ${err.code}` : `${binary}: ${err.message}` };
      }
      this.debugCache.set(binary, r);
    }
    if (!r.ok) return r;
    return r.value ? { ok: true, value: r.value } : { ok: false, error: `${binary} has no DWARF debug info` };
  }

  functionParameters(binary: string, func: string): SystemResult<DebugParameter[]> {
    const info = this.debugInfo(binary);
    if (!info.ok) return info;
    const params = info.value.parameters(func);
    return params ? { ok: true, value: params } : { ok: false, error: `the debug info of ${binary} has no function ${func}` };
  }

  debugRecord(binary: string, name: string): SystemResult<DebugRecord> {
    const info = this.debugInfo(binary);
    if (!info.ok) return info;
    const record = info.value.record(name);
    return record ? { ok: true, value: record } : { ok: false, error: `the debug info of ${binary} has no ${name}` };
  }

  kernelSymbols(): SystemResult<Map<string, bigint>> {
    if (!this.kallsyms) {
      try {
        this.kallsyms = { ok: true, value: kallsymsByName(readFileSync('/proc/kallsyms', 'utf8')) };
      } catch (e) {
        this.kallsyms = { ok: false, error: `cannot read /proc/kallsyms: ${(e as NodeJS.ErrnoException).code ?? String(e)}` };
      }
    }
    return this.kallsyms;
  }

  // A single stat, not cached: a cgroup created while a REPL runs is found.
  cgroupId(path: string): SystemResult<bigint> {
    try {
      return { ok: true, value: statSync(path, { bigint: true }).ino };
    } catch (e) {
      return { ok: false, error: `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}` };
    }
  }

  private record(name: string): SystemResult<{ btf: Btf; id: number }> {
    const [keyword, tag] = name.split(' ');
    const btf = this.btf();
    if (!btf) return { ok: false, error: `${name} is unknown: the kernel's BTF (${this.options.btfPath ?? '/sys/kernel/btf/vmlinux'}) cannot be read` };
    const id = tag === undefined ? undefined : btf.find(tag, keyword === 'union' ? BtfKind.Union : BtfKind.Struct);
    return id === undefined ? { ok: false, error: `the kernel's BTF has no ${name}` } : { ok: true, value: { btf, id } };
  }

  recordSize(name: string): SystemResult<number> {
    const r = this.record(name);
    return r.ok ? { ok: true, value: r.value.btf.sizeOf(r.value.id) } : r;
  }

  recordMembers(name: string): SystemResult<RecordMember[]> {
    const r = this.record(name);
    return r.ok ? { ok: true, value: recordMembers(r.value.btf, r.value.id) } : r;
  }

  enumerator(name: string): bigint | undefined {
    return this.btf()?.enumerator(name);
  }

  compileTypes(source: string): SystemResult<Uint8Array> {
    return compileTypes(source);
  }

  private libraryIndex(): Map<string, string> {
    if (!this.libraries) {
      const index = new Map<string, string>();
      try {
        const out = execFileSync('ldconfig', ['-p'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
        for (const m of out.matchAll(/^\s*(\S+) \(([^)]*)\) => (\S+)$/gm)) {
          // 64-bit entries win over 32-bit ones of the same name.
          if (m[2]!.includes('x86-64') || !index.has(m[1]!)) index.set(m[1]!, m[3]!);
        }
      } catch {
        // No ldconfig: the standard directories below still apply.
      }
      this.libraries = index;
    }
    return this.libraries;
  }

  matchFiles(glob: string): string[] {
    const parts = glob.split('/');
    let found = [parts[0] === '' ? '/' : parts[0]!];
    if (hasWildcard(parts[0]!)) found = matchIn('.', parts[0]!);
    for (const part of parts.slice(1)) {
      if (part === '') continue;
      found = found.flatMap((dir) => (hasWildcard(part) ? matchIn(dir, part).map((n) => join(dir, n)) : [join(dir, part)]));
    }
    // join() drops a leading './': keep the pattern's spelling.
    const dot = glob.startsWith('./') ? './' : '';
    return found.filter(isFile).map((f) => (dot && !f.startsWith('/') && !f.startsWith('.') ? dot + f : f)).sort();
  }

  processObjects(pid: number): SystemResult<string[]> {
    let maps: string;
    try {
      maps = readFileSync(`/proc/${pid}/maps`, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      return { ok: false, error: code === 'ENOENT' ? `no process with pid ${pid}` : `cannot read /proc/${pid}/maps: ${code ?? (e as Error).message}` };
    }
    const files = new Set<string>();
    for (const line of maps.split('\n')) {
      // address perms offset dev inode path: executable mappings of files.
      const m = /^\S+ (\S+) \S+ \S+ (\d+)\s+(\/.*)$/.exec(line);
      if (m && m[1]!.includes('x') && m[2] !== '0' && !m[3]!.endsWith(' (deleted)')) files.add(`/proc/${pid}/root${m[3]}`);
    }
    return { ok: true, value: [...files] };
  }

  resolveBinary(name: string, pid?: number): string | undefined {
    const root = pid === undefined ? undefined : mountRootOf(pid);
    if (root) return pathInMountRoot(root, pid!, name);
    if (name.includes('/')) return isFile(name) ? resolve(name) : undefined;
    const onPath = findOnPath(name);
    if (onPath !== undefined) return onPath;
    const stems = name.startsWith('lib') ? [name] : [name, `lib${name}`];
    const index = this.libraryIndex();
    for (const stem of stems) {
      const exact = index.get(stem);
      if (exact) return exact;
      for (const [soname, path] of index) if (soname === `${stem}.so` || soname.startsWith(`${stem}.so.`)) return path;
    }
    for (const dir of LIBRARY_DIRS) {
      let entries: string[];
      try {
        entries = readdirSync(dir);
      } catch {
        continue;
      }
      for (const stem of stems) {
        const hit = entries.find((e) => e === stem || e === `${stem}.so` || e.startsWith(`${stem}.so.`));
        if (hit && isFile(join(dir, hit))) return join(dir, hit);
      }
    }
    return undefined;
  }
}

let defaultSystem: RealSystem | undefined;

/** The machine this process runs on (one instance per process: it caches what it reads). */
export function realSystem(): RealSystem {
  defaultSystem ??= new RealSystem();
  return defaultSystem;
}
