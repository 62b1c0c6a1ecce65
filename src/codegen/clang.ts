// clang -target bpf over generated C, with a content-addressed object cache: the same source, clang
// binary and templates give the same object, so a cache hit skips clang entirely (and runs nothing).
// clang writes in a private temporary directory; the cache (when it can be trusted, cache-dir.ts) gets
// a copy, so that a full, read-only or untrusted cache only costs the next run a compile.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { cacheBase, privateDir, readTrusted, trustedCacheDir } from '../cache-dir.js';
import { KtError } from '../errors.js';
import { findOnPath } from '../executables.js';
import { buildPch, pchArgs, refusePch } from './pch.js';
import { templatesDir } from './toolchain.js';

const INSTALL_HINT = 'apt-get install clang libbpf-dev';

export interface CompileOptions {
  /** Cache directory; default $XDG_CACHE_HOME/kafkatrace or ~/.cache/kafkatrace. */
  cacheDir?: string;
  /** The clang binary (default `clang`). */
  clang?: string;
}

let clangRuns = 0;

/** How many times this process has run clang to compile (cache misses); for tests. */
export function clangInvocations(): number {
  return clangRuns;
}

export function defaultCacheDir(): string {
  return cacheBase();
}

interface Running {
  child: ChildProcess;
  /** The process's end: its status and what it printed. */
  done: Promise<{ code: number; stdout: string; stderr: string }>;
}

/** Starts `cmd`, its stdin left open for the caller to write and end. */
function start(cmd: string, args: string[]): Running {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin.on('error', () => {});
  const done = new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') reject(new KtError('toolchain-missing', `${cmd} is not installed (kafkatrace compiles BPF programs with it): ${INSTALL_HINT}`));
      else reject(e);
    });
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
  return { child, done };
}

/** Whether a child process (and its pipes) keeps node's event loop alive. */
function setReferenced(child: ChildProcess, ref: boolean): void {
  for (const handle of [child, child.stdin, child.stdout, child.stderr] as unknown as ({ ref(): void; unref(): void } | null)[]) {
    if (ref) handle?.ref();
    else handle?.unref();
  }
}

interface Prestarted {
  running: Running;
  /** Where clang writes the object: in `dir`, a private directory. */
  out: string;
  dir: { path: string; done: () => void };
}

let prestarted: Prestarted | undefined;

/**
 * Starts the default clang now, its C to come on stdin: clang's own start-up (loading LLVM, some
 * 40 ms) then overlaps the front end's work instead of following it. compileC with the default
 * clang and cache directory takes it; a process that exits without using it kills it. Best effort.
 */
export function prestartClang(): void {
  if (prestarted) return;
  try {
    const dir = privateDir();
    const out = join(dir.path, 'object.o');
    const running = start('clang', clangArgs(templatesDir(), out));
    // Unused, its failure (clang missing) is compileC's to report, or nobody's.
    running.done.catch(() => {});
    setReferenced(running.child, false);
    prestarted = { running, out, dir };
    process.once('exit', () => {
      if (prestarted?.running !== running) return;
      running.child.kill('SIGKILL');
      dir.done();
    });
  } catch {
    // compileC starts clang itself.
  }
}

/**
 * The clang binary behind `clang`, for the cache key: its real path (/usr/bin/clang links to one
 * llvm version's), size, mtime and inode. Another clang, or the same one reinstalled, gives another
 * identity; stat-ing it costs microseconds where `clang --version` costs a process spawn.
 */
export function clangIdentity(clang: string): string {
  // Where spawn finds it: itself when it names a path, else on $PATH.
  const file = clang.includes('/') ? resolve(clang) : findOnPath(clang);
  if (file === undefined) return `${clang}:not found`;
  try {
    const real = realpathSync(file);
    const s = statSync(real);
    return `${real}:${s.size}:${s.mtimeMs}:${s.ino}`;
  } catch {
    return `${file}:unreadable`;
  }
}

/** The templates' contents, part of the cache key so that editing the prelude invalidates objects. */
function templatesDigest(dir: string): string {
  const h = createHash('sha256');
  for (const f of readdirSync(dir).filter((n) => n.startsWith('kt_') && n.endsWith('.h')).sort()) {
    h.update(f).update('\0').update(readFileSync(join(dir, f))).update('\0');
  }
  return h.digest('hex');
}

/** clang's options for generated C, headers from the templates in `dir`, input and output aside. */
export function clangFlags(dir: string): string[] {
  const args = ['-target', 'bpf', '-O2', '-g', '-D__TARGET_ARCH_x86', '-I', dir];
  // <linux/bpf.h> needs <asm/types.h>, which Debian keeps in the multiarch directory that clang does
  // not search for the bpf target.
  if (existsSync('/usr/include/x86_64-linux-gnu/asm/types.h')) args.push('-idirafter', '/usr/include/x86_64-linux-gnu');
  args.push('-Wno-unused-variable', '-Wno-unused-function');
  return args;
}

/**
 * clang's arguments: C on stdin, the object to `out`, headers from the templates in `dir`, the system
 * headers precompiled when they were built for this `clang` (pch.ts).
 */
export function clangArgs(dir: string, out: string, clang = 'clang'): string[] {
  const flags = clangFlags(dir);
  return [...flags, ...pchArgs(dir, clangIdentity(clang), flags), '-x', 'c', '-', '-c', '-o', out];
}

/** Builds the precompiled system headers for the default clang; clang's error, or undefined. */
export function precompileSystemHeaders(): string | undefined {
  const dir = templatesDir();
  return buildPch(dir, clangIdentity('clang'), 'clang', clangFlags(dir));
}

/** clang's errors, each followed by the generated line it points at. */
function explainClangErrors(stderr: string, source: string): string {
  const lines = source.split('\n');
  const out: string[] = [];
  for (const l of stderr.split('\n')) {
    const m = /^<stdin>:(\d+):(\d+): (error|fatal error): (.*)$/.exec(l);
    if (!m) continue;
    const n = Number(m[1]);
    out.push(`generated line ${n}:${m[2]}: ${m[4]}`, `    ${(lines[n - 1] ?? '').trim()}`);
  }
  return out.length > 0 ? out.join('\n') : stderr.trim();
}

/** The cache file of the object for `source`: named by the hash of everything that shapes it. */
export async function cachePath(source: string, opts: CompileOptions = {}): Promise<string> {
  const clang = opts.clang ?? 'clang';
  const dir = templatesDir();
  const key = createHash('sha256')
    .update(source)
    .update('\0')
    .update(clangIdentity(clang))
    .update('\0')
    .update(templatesDigest(dir))
    .update('\0')
    .update(clangArgs(dir, '', clang).join(' '))
    .digest('hex');
  return join(opts.cacheDir ?? defaultCacheDir(), `${key}.bpf.o`);
}

/** Puts an object into the cache directory `dir` under `name`; a full or read-only cache keeps nothing. */
function storeObject(dir: string, name: string, object: Buffer): void {
  const tmp = join(dir, `${name}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    writeFileSync(tmp, object, { flag: 'wx', mode: 0o644 });
    renameSync(tmp, join(dir, name));
  } catch {
    rmSync(tmp, { force: true });
  }
}

/** Compiles generated C to a BPF object, from the cache when the same inputs were compiled before. */
export async function compileC(source: string, opts: CompileOptions = {}): Promise<Buffer> {
  const clang = opts.clang ?? 'clang';
  const name = basename(await cachePath(source, opts));
  const cacheDir = trustedCacheDir('', opts.cacheDir ?? cacheBase());
  const cached = cacheDir !== undefined ? readTrusted(join(cacheDir, name)) : undefined;
  if (cached) return cached;
  const pre = opts.clang === undefined && opts.cacheDir === undefined ? prestarted : undefined;
  if (pre) prestarted = undefined;
  const work = pre?.dir ?? privateDir();
  try {
    const out = pre?.out ?? join(work.path, 'object.o');
    const running = pre?.running ?? start(clang, clangArgs(templatesDir(), out, clang));
    if (pre) setReferenced(running.child, true);
    clangRuns++;
    running.child.stdin!.end(source);
    let r = await running.done;
    if (r.code !== 0 && /precompiled header|PCH file/i.test(r.stderr)) {
      // A system header changed since the precompiled header was built: compile without it.
      refusePch();
      const again = start(clang, clangArgs(templatesDir(), out, clang));
      again.child.stdin!.end(source);
      r = await again.done;
    }
    if (r.code !== 0) {
      if (/bpf\/bpf_helpers\.h['"]? file not found/.test(r.stderr)) {
        throw new KtError('toolchain-missing', `libbpf's BPF headers (bpf/bpf_helpers.h) are not installed: ${INSTALL_HINT}`);
      }
      if (/linux\/bpf\.h['"]? file not found|asm\/types\.h['"]? file not found/.test(r.stderr)) {
        throw new KtError('toolchain-missing', `the Linux UAPI headers are not installed: apt-get install linux-libc-dev`);
      }
      // clang rejecting generated C is a kafkatrace bug: the message shows the offending lines.
      throw new KtError('c-compile', `the generated C did not compile (a kafkatrace bug):\n${explainClangErrors(r.stderr, source)}`);
    }
    const object = await readFile(out);
    if (cacheDir !== undefined) storeObject(cacheDir, name, object);
    return object;
  } finally {
    work.done();
  }
}
